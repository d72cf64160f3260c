//! Calling the C ABI from Rust tests the way a C host would: C strings in,
//! JSON out, every returned string freed with `jobdb_string_free`.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::path::Path;
use std::ptr;

use jobdb::ffi::*;
use serde_json::Value;

/// An open handle, closed when dropped.
pub struct Db(pub *mut JobDb);

// The handle is documented as safe to share between threads.
unsafe impl Send for Db {}
unsafe impl Sync for Db {}

impl Drop for Db {
    fn drop(&mut self) {
        unsafe { jobdb_close(self.0) };
    }
}

pub fn c(text: &str) -> CString {
    CString::new(text).expect("test strings have no NUL")
}

/// Takes ownership of a string jobdb returned: copies and frees it.
pub fn take_text(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null(), "jobdb returned NULL where JSON was due");
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .expect("jobdb returns UTF-8")
        .to_owned();
    unsafe { jobdb_string_free(ptr) };
    text
}

/// Takes ownership of a string jobdb returned, parses and frees it.
pub fn take_json(ptr: *mut c_char) -> Value {
    let text = take_text(ptr);
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

pub fn try_open(dir: &Path, options: Option<&str>) -> Result<Db, (c_int, Value)> {
    let dir = c(dir.to_str().unwrap());
    let options = options.map(c);
    let options_ptr = options.as_ref().map_or(ptr::null(), |o| o.as_ptr());
    let mut db = ptr::null_mut();
    let mut error = ptr::null_mut();
    let code = unsafe { jobdb_open_with_options(dir.as_ptr(), options_ptr, &mut db, &mut error) };
    if code == JOBDB_OK {
        assert!(!db.is_null());
        assert!(error.is_null());
        Ok(Db(db))
    } else {
        assert!(db.is_null());
        Err((code, take_json(error)))
    }
}

pub fn open(dir: &Path) -> Db {
    try_open(dir, None).unwrap_or_else(|(code, err)| panic!("open failed: {code} {err}"))
}

type JsonFn = unsafe extern "C" fn(*mut JobDb, *const c_char, *mut *mut c_char) -> c_int;

/// Calls one of the JSON exports with raw argument bytes (None = NULL).
pub fn call_raw(f: JsonFn, db: &Db, arg: Option<&[u8]>) -> (c_int, Value) {
    let arg = arg.map(|bytes| CString::new(bytes).expect("no NUL in test input"));
    let arg_ptr = arg.as_ref().map_or(ptr::null(), |a| a.as_ptr());
    let mut out = ptr::null_mut();
    let code = unsafe { f(db.0, arg_ptr, &mut out) };
    (code, take_json(out))
}

pub fn call(f: JsonFn, db: &Db, arg: &str) -> (c_int, Value) {
    call_raw(f, db, Some(arg.as_bytes()))
}

pub fn update(db: &Db, job: &str) -> Value {
    let (code, out) = call(jobdb_update_status, db, job);
    assert_eq!(code, JOBDB_OK, "update {job}: {out}");
    out
}

pub fn get(db: &Db, self_id: &str) -> Value {
    let (code, out) = call(jobdb_get_status, db, self_id);
    assert_eq!(code, JOBDB_OK, "get {self_id}: {out}");
    out
}

pub fn list(db: &Db, filter: Option<&str>) -> Value {
    let (code, out) = call_raw(jobdb_list_status, db, filter.map(str::as_bytes));
    assert_eq!(code, JOBDB_OK, "list {filter:?}: {out}");
    out
}

/// Asserts an error reply: its code, the matching name, and a message
/// that contains `needle`.
pub fn assert_error(reply: (c_int, Value), code: c_int, needle: &str) -> Value {
    let (got, json) = reply;
    assert_eq!(got, code, "unexpected reply {json}");
    assert_eq!(json["code"], code, "{json}");
    let name = unsafe { CStr::from_ptr(jobdb_code_name(code)) }
        .to_str()
        .unwrap();
    assert_eq!(json["name"], name, "{json}");
    let message = json["message"].as_str().expect("message is a string");
    assert!(
        message.contains(needle),
        "message {message:?} lacks {needle:?}"
    );
    json
}

/// The load that the process and thread tests run: `WRITERS` writers of
/// `UPDATES_PER_WRITER` updates each. Even steps update the writer's own
/// job with `last_pid = step`; odd steps update shared job
/// `(step / 2) % SHARED_JOBS` with `last_pid = writer * PID_BASE + step`,
/// so every stored value names the writer and step that wrote it.
pub mod load {
    use serde_json::{Value, json};

    pub const WRITERS: i64 = 8;
    pub const UPDATES_PER_WRITER: i64 = 2_000;
    pub const SHARED_JOBS: i64 = 4;
    pub const PID_BASE: i64 = 1_000_000;

    /// The update a writer sends at a step.
    pub fn job(writer: i64, step: i64) -> Value {
        if step % 2 == 0 {
            json!({"self_id": format!("own-{writer}"), "status": "running", "last_pid": step})
        } else {
            let shared = (step / 2) % SHARED_JOBS;
            let pid = writer * PID_BASE + step;
            json!({"self_id": format!("shared-{shared}"), "status": "running", "last_pid": pid})
        }
    }

    /// Checks a listing taken after every writer finished: each own job
    /// holds its writer's last value, and each shared job the last value
    /// of whichever writer committed last, never an older one.
    pub fn check(jobs: &Value) {
        for writer in 0..WRITERS {
            let own = &jobs[format!("own-{writer}")];
            assert_eq!(own["last_pid"], UPDATES_PER_WRITER - 2, "{own}");
        }
        for shared in 0..SHARED_JOBS {
            let last_step = (0..UPDATES_PER_WRITER)
                .filter(|step| step % 2 == 1 && (step / 2) % SHARED_JOBS == shared)
                .max()
                .unwrap();
            let pid = jobs[format!("shared-{shared}")]["last_pid"]
                .as_i64()
                .unwrap();
            assert_eq!(
                pid % PID_BASE,
                last_step,
                "shared-{shared} kept a stale write"
            );
            assert!((0..WRITERS).contains(&(pid / PID_BASE)), "{pid}");
        }
        let count = jobs.as_object().unwrap().len();
        assert_eq!(count, (WRITERS + SHARED_JOBS) as usize);
    }
}
