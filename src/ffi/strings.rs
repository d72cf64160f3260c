//! Strings across the C boundary.
//!
//! Arguments are NUL-terminated UTF-8 (paths may be any bytes). Results are
//! allocated here and must come back to [`free`]: C's `free` would hand the
//! memory to the wrong allocator.

use std::ffi::{CStr, CString, OsStr, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Code, Error, Result};
use crate::record::MAX_INPUT_BYTES;

/// Borrows a required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives 'a.
pub(crate) unsafe fn required_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    let bytes = unsafe { required_bytes(ptr, name)? };
    utf8(bytes, name)
}

fn utf8<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|err| {
        Error::new(
            Code::InvalidArgument,
            format!("{name} is not valid UTF-8: {err}"),
        )
    })
}

/// Borrows a JSON text argument, refusing one over the size limit before
/// looking at its bytes.
///
/// # Safety
/// As for [`required_str`].
pub(crate) unsafe fn json_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    let bytes = unsafe { required_bytes(ptr, name)? };
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Error::new(
            Code::TooLarge,
            format!(
                "{name} is {} bytes; the limit is {MAX_INPUT_BYTES}",
                bytes.len()
            ),
        ));
    }
    utf8(bytes, name)
}

/// Borrows a JSON text argument for which NULL means "not given".
///
/// # Safety
/// As for [`required_str`].
pub(crate) unsafe fn optional_json_str<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    unsafe { json_str(ptr, name).map(Some) }
}

/// Borrows a path argument. Paths are bytes on Unix, so they need not be
/// UTF-8.
///
/// # Safety
/// As for [`required_str`].
pub(crate) unsafe fn required_path<'a>(ptr: *const c_char, name: &str) -> Result<&'a Path> {
    let bytes = unsafe { required_bytes(ptr, name)? };
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

unsafe fn required_bytes<'a>(ptr: *const c_char, name: &str) -> Result<&'a [u8]> {
    if ptr.is_null() {
        return Err(Error::new(Code::InvalidArgument, format!("{name} is NULL")));
    }
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// Hands a string to the caller, who frees it with `jobdb_string_free`.
pub(crate) fn into_raw(text: String) -> *mut c_char {
    let c_string = CString::new(text).unwrap_or_else(|_| {
        // JSON escapes NUL as \u0000, so serialized output never has one.
        let err = Error::new(Code::Internal, "jobdb produced text with a NUL byte");
        CString::new(err.to_json()).unwrap_or_default()
    });
    c_string.into_raw()
}

/// Takes back a string made by [`into_raw`]; NULL is ignored.
///
/// # Safety
/// `ptr` is NULL or came from [`into_raw`] and was not freed before.
pub(crate) unsafe fn free(ptr: *mut c_char) {
    if !ptr.is_null() {
        drop(unsafe { CString::from_raw(ptr) });
    }
}
