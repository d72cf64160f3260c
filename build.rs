//! Regenerates include/jobdb.h from the exported functions and constants.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    // The shared library carries a versioned soname, libjobdb.so.MAJOR, so
    // programs linked against one major version never load another.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libjobdb.so.{major}");

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
