//! What both benchmark programs share: calling the C ABI as a host does,
//! and reading back the medians that criterion saved.
#![allow(dead_code)]

use std::ffi::{CString, c_char, c_int};
use std::path::{Path, PathBuf};
use std::ptr;

use jobdb::ffi::*;
use serde_json::Value;

/// An open handle, closed when dropped.
pub struct Db(*mut JobDb);

impl Db {
    pub fn open(dir: &Path) -> Db {
        let dir = CString::new(dir.to_str().expect("a UTF-8 path")).unwrap();
        let mut db = ptr::null_mut();
        let mut error = ptr::null_mut();
        let code = unsafe { jobdb_open(dir.as_ptr(), &mut db, &mut error) };
        if code != JOBDB_OK {
            panic!("jobdb_open failed: {}", take(error));
        }
        Db(db)
    }

    pub fn raw(&self) -> *mut JobDb {
        self.0
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        unsafe { jobdb_close(self.0) };
    }
}

/// The shape of every export that takes one string and returns JSON.
pub type Export = unsafe extern "C" fn(*mut JobDb, *const c_char, *mut *mut c_char) -> c_int;

/// One call as a C host makes it: a C string in, the reply freed unread.
/// The reply is only looked at when the call fails, which ends the run.
pub fn call(export: Export, db: &Db, argument: &str) {
    let argument = CString::new(argument).expect("no NUL in benchmark input");
    let mut reply = ptr::null_mut();
    let code = unsafe { export(db.0, argument.as_ptr(), &mut reply) };
    if code != JOBDB_OK {
        panic!("a benchmark call failed ({code}): {}", take(reply));
    }
    unsafe { jobdb_string_free(reply) };
}

/// Like [`call`], but returns the reply for the caller to check.
pub fn call_for_reply(export: Export, db: &Db, argument: &str) -> Value {
    let argument = CString::new(argument).expect("no NUL in benchmark input");
    let mut reply = ptr::null_mut();
    let code = unsafe { export(db.0, argument.as_ptr(), &mut reply) };
    let text = take(reply);
    if code != JOBDB_OK {
        panic!("a benchmark call failed ({code}): {text}");
    }
    serde_json::from_str(&text).expect("jobdb replies with JSON")
}

/// Copies and frees a string jobdb returned.
fn take(text: *mut c_char) -> String {
    if text.is_null() {
        return String::from("(no message)");
    }
    let copy = unsafe { std::ffi::CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    unsafe { jobdb_string_free(text) };
    copy
}

/// Where criterion keeps its results, found the way criterion finds it.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median time in nanoseconds that criterion saved for a benchmark
/// `group/function/parameter`, or None when that benchmark did not run in
/// this invocation (a filter on the command line, or `--test` mode).
pub fn median_ns(group: &str, function: &str, parameter: &str) -> Option<f64> {
    let text = std::fs::read_to_string(estimates_path(group, function, parameter)).ok()?;
    let estimates: Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// Reads a list of sizes such as "10000,100000" from an environment
/// variable, or gives the default.
pub fn sizes_from_env(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|part| {
                part.trim()
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {part:?} is not a whole number"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

/// A duration for people: "12.3 µs", "4.56 ms".
pub fn human(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.1} µs", ns / 1e3),
        ns if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        ns => format!("{:.2} s", ns / 1e9),
    }
}

/// When criterion last saved the results of `group/function/parameter`.
pub fn saved_at(group: &str, function: &str, parameter: &str) -> Option<std::time::SystemTime> {
    let path = estimates_path(group, function, parameter);
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The file where criterion saves the latest figures of one benchmark.
fn estimates_path(group: &str, function: &str, parameter: &str) -> PathBuf {
    criterion_home()
        .join(group)
        .join(function)
        .join(parameter)
        .join("new")
        .join("estimates.json")
}
