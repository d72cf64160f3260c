//! The C API as C and C++ programs use it.
//!
//! Builds `tests/c/test_jobdb.c` against `include/jobdb.h` and the
//! `libjobdb.so` that cargo built for this test run, with the project's
//! strict C flags, and runs it in a fresh temporary folder: once as it is
//! and once under valgrind, when valgrind is installed. A small C++
//! program that includes the header is also built and run: it links only
//! if the header's `extern "C"` guards keep the names unmangled.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The flags the project holds its C to; the Makefile uses the same.
const C_FLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"];
const CXX_FLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"];

/// Exit status valgrind gives when it found errors, distinct from the
/// test program's own failure status (1).
const VALGRIND_ERROR_STATUS: i32 = 99;

/// Calls the header declares, used from C++. `jobdb_open("")` fails
/// without touching the file system, so the program needs no folder.
const CXX_PROGRAM: &str = r#"// Built by tests/c_api.rs.
#include "jobdb.h"

#include <cstring>

int main()
{
    JobDb *db = nullptr;
    char *error = nullptr;
    int code = jobdb_open("", &db, &error);
    bool ok = code == JOBDB_ERR_INVALID_ARGUMENT && db == nullptr
        && error != nullptr && jobdb_version()[0] != '\0'
        && std::strcmp(jobdb_code_name(code),
                       "JOBDB_ERR_INVALID_ARGUMENT") == 0;
    jobdb_string_free(error);
    return ok ? 0 : 1;
}
"#;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the libjobdb.so that cargo built for this test run:
/// `target/<profile>/deps/`, beside this test binary (`c_api-HASH`).
///
/// Not `target/<profile>/`: `cargo test` builds the library's cdylib and
/// staticlib into `deps/` but copies them up to `target/<profile>/` only on
/// `cargo build`, so the copy there may be older than the sources.
fn library_dir() -> PathBuf {
    let exe = env::current_exe().expect("the test binary knows its own path");
    let dir = exe
        .parent()
        .expect("the test binary is in target/<profile>/deps")
        .to_path_buf();
    assert!(
        dir.join("libjobdb.so").is_file(),
        "no libjobdb.so in {}: cargo should have built it for this test",
        dir.display()
    );
    dir
}

/// A compiler named by an environment variable such as CC, which may carry
/// arguments ("ccache cc"), or else `default`.
fn compiler(variable: &str, default: &str) -> Command {
    let value = env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    let mut words = value.split_whitespace();
    let mut command = Command::new(words.next().expect("the value is not blank"));
    command.args(words);
    command
}

/// The arguments that link a program with libjobdb.so from `dir`, and let
/// it find the library there when it runs.
fn jobdb_link_args(dir: &Path) -> Vec<OsString> {
    let mut rpath = OsString::from("-Wl,-rpath,");
    rpath.push(dir);
    let mut search = OsString::from("-L");
    search.push(dir);
    vec![search, "-ljobdb".into(), rpath]
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

/// Both output streams, for a failure message or a --nocapture log.
fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_succeeded(what: &str, command: &Command, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed: {command:?}\nexited with {}",
        describe(output)
    );
}

/// Compiles tests/c/test_jobdb.c once for all the tests in this file, into
/// target/<profile>/c_api/, where it can also be run by hand.
fn c_test_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let lib_dir = library_dir();
        // target/<profile>/c_api/, beside deps/.
        let out_dir = lib_dir.with_file_name("c_api");
        fs::create_dir_all(&out_dir).expect("can create the output folder");
        let program = out_dir.join("test_jobdb");

        let mut cc = compiler("CC", "cc");
        cc.args(C_FLAGS)
            .arg("-pthread")
            .arg("-I")
            .arg(manifest_dir().join("include"))
            .arg(manifest_dir().join("tests/c/test_jobdb.c"))
            .arg("-o")
            .arg(&program)
            .args(jobdb_link_args(&lib_dir));
        let output = run(&mut cc);
        assert_succeeded("compiling the C test program", &cc, &output);
        program
    })
}

/// Runs a command in a fresh temporary folder. LD_LIBRARY_PATH, which
/// cargo sets, is removed: the program must find libjobdb.so through its
/// rpath, as it would outside cargo.
fn run_in_fresh_folder(command: &mut Command) -> Output {
    let folder = tempfile::tempdir().expect("can create a temporary folder");
    command
        .current_dir(folder.path())
        .env_remove("LD_LIBRARY_PATH");
    run(command)
}

fn is_on_path(program: &str) -> bool {
    env::var_os("PATH")
        .map(|path| env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[test]
fn c_test_program_passes() {
    let mut command = Command::new(c_test_program());
    let output = run_in_fresh_folder(&mut command);
    assert_succeeded("the C test program", &command, &output);
    println!("{}", describe(&output));
}

#[test]
fn c_test_program_is_clean_under_valgrind() {
    if !is_on_path("valgrind") {
        // CI installs valgrind and sets this, so there a missing valgrind
        // fails instead of passing unchecked.
        assert!(
            env::var_os("JOBDB_REQUIRE_VALGRIND").is_none(),
            "JOBDB_REQUIRE_VALGRIND is set but valgrind is not on PATH"
        );
        println!("valgrind is not on PATH: skipped the valgrind run of the C tests");
        return;
    }
    let mut command = Command::new("valgrind");
    command
        .arg(format!("--error-exitcode={VALGRIND_ERROR_STATUS}"))
        .args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
        ])
        .arg(c_test_program());
    let output = run_in_fresh_folder(&mut command);
    assert_ne!(
        output.status.code(),
        Some(VALGRIND_ERROR_STATUS),
        "valgrind found memory errors or leaks: {command:?}\n{}",
        describe(&output)
    );
    assert_succeeded("the C test program under valgrind", &command, &output);
    println!("{}", describe(&output));
}

#[test]
fn header_builds_and_links_as_cpp() {
    let lib_dir = library_dir();
    let folder = tempfile::tempdir().expect("can create a temporary folder");
    let source = folder.path().join("uses_jobdb.cpp");
    let program = folder.path().join("uses_jobdb");
    fs::write(&source, CXX_PROGRAM).expect("can write the C++ source");

    let mut cxx = compiler("CXX", "c++");
    cxx.arg("-x")
        .arg("c++")
        .args(CXX_FLAGS)
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .args(jobdb_link_args(&lib_dir));
    let output = run(&mut cxx);
    assert_succeeded("compiling and linking jobdb.h as C++", &cxx, &output);

    let mut command = Command::new(&program);
    let output = run_in_fresh_folder(&mut command);
    assert_succeeded("the C++ program", &command, &output);
}
