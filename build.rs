//! Regenerates include/jobdb.h from the exported functions and constants.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    // The shared library carries a versioned soname, libjobdb.so.MAJOR, so
    // programs linked against one major version never load another.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libjobdb.so.{major}");
    link_soname_in_target_dir(&major);

    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let crate_dir = Path::new(&crate_dir);
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");

    let bindings = cbindgen::generate_with_config(crate_dir, config)
        .expect("cbindgen can read the crate's exports");
    // write_to_file leaves the file alone when its content is unchanged,
    // so a build does not touch the header needlessly.
    bindings.write_to_file(crate_dir.join("include/jobdb.h"));
}

/// A program linked with `-ljobdb` asks the loader for libjobdb.so.MAJOR,
/// the soname, so the build folders that hold libjobdb.so get that name
/// too, as a link: programs built against `target/release` then run from
/// there, as `make install` arranges for installed copies.
fn link_soname_in_target_dir(major: &str) {
    // OUT_DIR is <target>/<profile>/build/jobdb-<hash>/out.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let Some(profile_dir) = out_dir.ancestors().nth(3) else {
        return;
    };
    for dir in [profile_dir.to_path_buf(), profile_dir.join("deps")] {
        let link = dir.join(format!("libjobdb.so.{major}"));
        if std::fs::read_link(&link).is_ok() {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        if let Err(err) = std::os::unix::fs::symlink("libjobdb.so", &link) {
            println!("cargo:warning=cannot link {}: {err}", link.display());
        }
    }
}
