//! Feeds arbitrary bytes to every export that takes JSON or a string, and
//! checks the contract every reply must keep: a known code, and a reply
//! that is JSON; an error object whose code matches the one returned.
#![no_main]

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;
use std::sync::OnceLock;

use jobdb::ffi::*;
use libfuzzer_sys::fuzz_target;

/// One database for the whole run; the handle is a token, so sharing it
/// as an integer is fine.
fn db() -> *mut JobDb {
    static DB: OnceLock<(tempfile::TempDir, usize)> = OnceLock::new();
    let (_, handle) = DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        let mut db = ptr::null_mut();
        let code = unsafe { jobdb_open(path.as_ptr(), &mut db, ptr::null_mut()) };
        assert_eq!(code, JOBDB_OK);
        (dir, db as usize)
    });
    *handle as *mut JobDb
}

type JsonFn = unsafe extern "C" fn(*mut JobDb, *const c_char, *mut *mut c_char) -> c_int;

fn check_reply(code: c_int, out: *mut c_char) {
    assert!(!out.is_null(), "no reply for code {code}");
    let text = unsafe { CStr::from_ptr(out) }
        .to_str()
        .expect("replies are UTF-8")
        .to_owned();
    unsafe { jobdb_string_free(out) };

    let reply: serde_json::Value = serde_json::from_str(&text).expect("replies are JSON");
    if code == JOBDB_OK {
        return;
    }
    assert!(
        (JOBDB_ERR_INVALID_ARGUMENT..=JOBDB_ERR_CONFLICT).contains(&code),
        "{code}"
    );
    assert_ne!(code, JOBDB_ERR_INTERNAL, "a panic: {text}");
    assert_eq!(reply["code"], code, "{text}");
    assert!(
        reply["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{text}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    // C strings end at the first NUL, as they would for a C caller.
    let end = input.iter().position(|&b| b == 0).unwrap_or(input.len());
    let arg = CString::new(&input[..end]).unwrap();

    if selector % 11 == 10 {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        let (mut handle, mut error) = (ptr::null_mut(), ptr::null_mut());
        let code = unsafe {
            jobdb_open_with_options(path.as_ptr(), arg.as_ptr(), &mut handle, &mut error)
        };
        if code == JOBDB_OK {
            assert!(error.is_null());
            unsafe { jobdb_close(handle) };
        } else {
            assert!(handle.is_null());
            check_reply(code, error);
        }
        return;
    }

    let calls: [JsonFn; 10] = [
        jobdb_update_status,
        jobdb_list_status,
        jobdb_get_status,
        jobdb_job_logs,
        jobdb_query,
        jobdb_count,
        jobdb_update_many,
        jobdb_delete,
        jobdb_read_log,
        jobdb_changes,
    ];
    let call = calls[usize::from(selector % 11)];
    let mut out = ptr::null_mut();
    let code = unsafe { call(db(), arg.as_ptr(), &mut out) };
    check_reply(code, out);
});
