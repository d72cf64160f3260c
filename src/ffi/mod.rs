//! The C ABI. Every export converts its arguments, runs the core inside a
//! panic guard and converts the result; nothing here knows SQL or records.
//!
//! The doc comments on these items are the C documentation: cbindgen
//! copies them into `include/jobdb.h`. The rules shared by all functions
//! (ownership, NULL, errors, threads) are stated once at the top of the
//! header, from `cbindgen.toml`.

mod guard;
mod handles;
mod strings;

use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use serde::Serialize;

use crate::changes::ChangesRequest;
use crate::error::{Code, Error, Result};
use crate::filter::JobFilter;
use crate::log_range::LogRequest;
use crate::query::Query;
use crate::record::JobPatch;
use crate::retention::DeleteRequest;
use crate::store::{Options, Store};

/// An open database. Opaque: obtain one from `jobdb_open`, release it with
/// `jobdb_close`. One handle may be used by any number of threads at once.
pub struct JobDb {
    _opaque: [u8; 0],
}

// The values below are written out, not taken from `Code`, because
// cbindgen copies only literal values into the header; a test checks
// that they agree.

/// Success.
pub const JOBDB_OK: c_int = 0;
/// A pointer argument is NULL, a handle is closed, a string argument is not
/// UTF-8, a `self_id` argument is empty, or a folder argument is empty.
pub const JOBDB_ERR_INVALID_ARGUMENT: c_int = 1;
/// A JSON argument does not parse: bad syntax, truncated, empty, or nested
/// more than 128 levels deep.
pub const JOBDB_ERR_MALFORMED_JSON: c_int = 2;
/// A JSON argument parses but is not a valid record, filter or options
/// object: an unknown or repeated field, a wrong type, a missing `self_id`,
/// an empty string where one is required. The error's `field` names it.
pub const JOBDB_ERR_SCHEMA: c_int = 3;
/// No job has the `self_id` asked for.
pub const JOBDB_ERR_NOT_FOUND: c_int = 4;
/// Another connection kept the database locked for the whole busy timeout.
/// Nothing was written; the call may be retried.
pub const JOBDB_ERR_BUSY: c_int = 5;
/// The file system refused: the folder cannot be created, the file cannot
/// be opened or written, the disk is full.
pub const JOBDB_ERR_IO: c_int = 6;
/// SQLite failed in a way no other code describes.
pub const JOBDB_ERR_DATABASE: c_int = 7;
/// `jobs.db` is not a SQLite database, is damaged, or holds a row that is
/// not a job record. The message names the row.
pub const JOBDB_ERR_CORRUPT: c_int = 8;
/// The job exists but its record has no `logdir` or no `logfile`.
pub const JOBDB_ERR_NO_LOGS: c_int = 9;
/// A JSON argument is longer than `JOBDB_MAX_INPUT_BYTES`, or a log file
/// longer than `JOBDB_MAX_LOG_BYTES`.
pub const JOBDB_ERR_TOO_LARGE: c_int = 10;
/// A bug in jobdb, such as a caught panic. The message says what happened.
pub const JOBDB_ERR_INTERNAL: c_int = 11;
/// The precondition of `jobdb_update_status_if` did not hold. Nothing was
/// written; the error's `current` member is the job's record as it stands.
pub const JOBDB_ERR_CONFLICT: c_int = 12;

/// The longest JSON argument accepted, in bytes.
pub const JOBDB_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// The largest log file `jobdb_job_logs` reads, in bytes. Its reply can
/// be up to about six times as large for a log of control characters,
/// which JSON escapes.
pub const JOBDB_MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

static VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

/// The library's version, such as "0.1.0".
///
/// The string is static: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn jobdb_version() -> *const c_char {
    VERSION.as_ptr()
}

/// The name of a result code, such as "JOBDB_ERR_BUSY" for
/// `JOBDB_ERR_BUSY`, "JOBDB_OK" for 0, and "JOBDB_ERR_UNKNOWN" for a
/// number that is no code.
///
/// The string is static: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn jobdb_code_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match Code::from_i32(code) {
        _ if code == JOBDB_OK => c"JOBDB_OK",
        Some(Code::InvalidArgument) => c"JOBDB_ERR_INVALID_ARGUMENT",
        Some(Code::MalformedJson) => c"JOBDB_ERR_MALFORMED_JSON",
        Some(Code::Schema) => c"JOBDB_ERR_SCHEMA",
        Some(Code::NotFound) => c"JOBDB_ERR_NOT_FOUND",
        Some(Code::Busy) => c"JOBDB_ERR_BUSY",
        Some(Code::Io) => c"JOBDB_ERR_IO",
        Some(Code::Database) => c"JOBDB_ERR_DATABASE",
        Some(Code::Corrupt) => c"JOBDB_ERR_CORRUPT",
        Some(Code::NoLogs) => c"JOBDB_ERR_NO_LOGS",
        Some(Code::TooLarge) => c"JOBDB_ERR_TOO_LARGE",
        Some(Code::Internal) => c"JOBDB_ERR_INTERNAL",
        Some(Code::Conflict) => c"JOBDB_ERR_CONFLICT",
        None => c"JOBDB_ERR_UNKNOWN",
    };
    name.as_ptr()
}

/// Opens the database in folder `dir`, the file `<dir>/jobs.db`, with the
/// default options. Same as `jobdb_open_with_options(dir, NULL, out_db,
/// out_error)`.
///
/// # Safety
/// See `jobdb_open_with_options`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_open(
    dir: *const c_char,
    out_db: *mut *mut JobDb,
    out_error: *mut *mut c_char,
) -> c_int {
    unsafe { jobdb_open_with_options(dir, ptr::null(), out_db, out_error) }
}

/// Opens the database in folder `dir`, the file `<dir>/jobs.db`. The
/// folder, the file, the table and jobdb's indexes are created when
/// missing. Any number of processes and handles may have one database
/// open at once.
///
/// `dir` is a path, in any bytes the file system accepts; it must not be
/// empty, nor name a file (`JOBDB_ERR_INVALID_ARGUMENT`: give the folder
/// that holds `jobs.db`, not the file). `options_json` is NULL for the defaults, or an object with any
/// of:
/// - `"busy_timeout_ms"`: how long a call waits for another connection's
///   lock before failing with `JOBDB_ERR_BUSY` (default 10000);
/// - `"synchronous"`: `"normal"` (default) keeps every commit when the
///   process is killed, `"full"` also when the machine loses power, at a
///   higher cost per write.
///
/// On success, returns `JOBDB_OK`, stores the handle in `*out_db` and
/// NULL in `*out_error`. Release the handle with `jobdb_close`.
///
/// On failure, returns the error code, stores NULL in `*out_db`, and, when
/// `out_error` is not NULL, an error object in `*out_error` that the
/// caller frees with `jobdb_string_free`. `out_error` may be NULL when the
/// message is not wanted. `out_db` must not be NULL
/// (`JOBDB_ERR_INVALID_ARGUMENT`).
///
/// # Safety
/// String arguments are NULL or NUL-terminated; out-pointers are NULL or
/// point to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_open_with_options(
    dir: *const c_char,
    options_json: *const c_char,
    out_db: *mut *mut JobDb,
    out_error: *mut *mut c_char,
) -> c_int {
    if !out_error.is_null() {
        unsafe { *out_error = ptr::null_mut() };
    }
    let opened = guard::catch(|| {
        if out_db.is_null() {
            return Err(Error::new(Code::InvalidArgument, "out_db is NULL"));
        }
        unsafe { *out_db = ptr::null_mut() };
        let dir = unsafe { strings::required_path(dir, "dir")? };
        let options =
            Options::parse(unsafe { strings::optional_json_str(options_json, "options_json")? })?;
        let store = Store::open(dir, &options)?;
        Ok(handles::register(store))
    });

    match opened {
        Ok(handle) => {
            unsafe { *out_db = handle };
            JOBDB_OK
        }
        Err(err) => {
            if !out_error.is_null() {
                unsafe { *out_error = strings::into_raw(err.to_json()) };
            }
            err.code.as_i32()
        }
    }
}

/// Closes a handle. Calls already running on it from other threads finish
/// normally; calls made after it fail with `JOBDB_ERR_INVALID_ARGUMENT`.
/// NULL, and a handle closed before, are ignored.
///
/// # Safety
/// Always safe: the handle is looked up, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_close(db: *mut JobDb) {
    if !db.is_null() {
        let _ = guard::catch(|| {
            handles::release(db);
            Ok(())
        });
    }
}

/// Creates or updates one job, atomically, and returns the record as
/// stored.
///
/// `job_json` is an object with `self_id` (a non-empty string, required)
/// and any of the other record fields. Fields given overwrite the stored
/// ones, fields left out keep their stored value, and a field set to null
/// is cleared. `status` is required when the job is new. `last_update`
/// is set to the current time when left out. The read, merge and write
/// are one transaction, so two processes that update different fields of
/// one job at once both keep their change.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json` the record.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_update_status(
    db: *mut JobDb,
    job_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let patch = JobPatch::parse(strings::json_str(job_json, "job_json")?)?;
            to_json(&store.update_status(&patch)?)
        })
    }
}

/// Updates one job only if its current record matches a condition: the
/// way to say "mark it running only if it is still starting", so that a
/// late writer cannot undo what another process recorded.
///
/// `job_json` is as for `jobdb_update_status`. `condition_json` is a
/// filter, as for `jobdb_list_status`, that the job's current record must
/// match, such as `{"status": "starting"}` or `{"status": {"$in":
/// ["starting", "running"]}}`. The check and the write are one
/// transaction.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json` the record.
/// When the condition does not hold, returns `JOBDB_ERR_CONFLICT`, writes
/// nothing, and the error object's `current` member is the record as it
/// stands. When no job has the `self_id`, returns `JOBDB_ERR_NOT_FOUND`:
/// a conditional update never creates a job.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_update_status_if(
    db: *mut JobDb,
    job_json: *const c_char,
    condition_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let patch = JobPatch::parse(strings::json_str(job_json, "job_json")?)?;
            let condition =
                JobFilter::parse(Some(strings::json_str(condition_json, "condition_json")?))?;
            to_json(&store.update_status_if(&patch, &condition)?)
        })
    }
}

/// Creates or updates many jobs in one transaction: all of them, or none.
///
/// `jobs_json` is a JSON array of records, each as for
/// `jobdb_update_status`, applied in order (a later record for the same
/// `self_id` sees the earlier one). On success, returns `JOBDB_OK` and
/// stores in `*out_json` `{"jobs": [record, ...]}`, the stored records in
/// the same order. When a record is refused, nothing is written, and the
/// error object's `index` member is its position, from 0.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_update_many(
    db: *mut JobDb,
    jobs_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let patches = JobPatch::parse_batch(strings::json_str(jobs_json, "jobs_json")?)?;
            to_json(&serde_json::json!({ "jobs": store.update_many(&patches)? }))
        })
    }
}

/// Deletes the jobs that match a filter, for retention: say, finished
/// jobs older than a week, keeping the newest 100.
///
/// `request_json` is `{"filter": {...}, "keep_newest": 100, "dry_run":
/// false, "remove_logs": false}`. `filter` is required, as for
/// `jobdb_list_status` (`{}` deletes every job); `keep_newest` spares that
/// many of the matching jobs with the latest `last_update`. The deletion
/// is one transaction. With `"remove_logs": true`, the two log files of
/// each deleted job, and no other file, are removed afterwards, except
/// those that a job still stored also names. With `"dry_run": true`
/// nothing is deleted or removed and the reply says what would be.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json`
/// `{"dry_run": false, "deleted": [self_id, ...], "logs_removed": [path,
/// ...], "logs_kept": [path, ...], "log_errors": [{"path": ...,
/// "error": {...}}, ...]}`, the ids newest first. A log file that cannot
/// be removed is reported in `log_errors`; the jobs stay deleted. A dry run
/// takes the write lock like a deletion, and may wait for other writers.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_delete(
    db: *mut JobDb,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let request = DeleteRequest::parse(strings::json_str(request_json, "request_json")?)?;
            to_json(&store.delete(&request)?)
        })
    }
}

/// Reads one job.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json` the record.
/// Returns `JOBDB_ERR_NOT_FOUND` when no job has this `self_id`, and
/// `JOBDB_ERR_INVALID_ARGUMENT` when `self_id` is empty.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_get_status(
    db: *mut JobDb,
    self_id: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            to_json(&store.get_status(self_id_arg(self_id)?)?)
        })
    }
}

/// Lists the jobs that match a filter.
///
/// `filter_json` is NULL or `{}` to list every job, or an object of record
/// fields, each with a value or an object of operators; a job matches when
/// every condition holds:
/// - a value: the field equals it; null matches a field null or unset;
/// - `{"$ne": v}`: the field differs from v (null counts as a value);
/// - `{"$in": [v, ...]}`: the field equals one of the values;
/// - `{"$gt": v}`, `{"$gte": v}`, `{"$lt": v}`, `{"$lte": v}`: ranges.
///
/// Several operators on one field all apply:
/// `{"last_update": {"$gte": "2024-05-01T00:00:00Z", "$lt":
/// "2024-05-02T00:00:00Z"}}`. Timestamps compare as instants, so bounds
/// may carry any offset. A key that is not a record field, or an unknown
/// operator, is `JOBDB_ERR_SCHEMA`, so a typo never lists every job.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json` an object
/// that maps each matching `self_id` to its record, sorted by `self_id`;
/// `{}` when nothing matches.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_list_status(
    db: *mut JobDb,
    filter_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let filter = JobFilter::parse(strings::optional_json_str(filter_json, "filter_json")?)?;
            to_json(&store.list_status(&filter)?)
        })
    }
}

/// Runs a query: a filter, an order, and a page at a time.
///
/// `query_json` is NULL for every job in `self_id` order, or an object
/// with any of:
/// - `"filter"`: as for `jobdb_list_status`, operators included;
/// - `"order_by"`: `"self_id"` (default), `"last_update"`,
///   `"created_at"`, `"started_at"` or `"ended_at"`; ties are broken by
///   `self_id`;
/// - `"descending"`: true for newest or highest first (default false);
/// - `"limit"`: the page size, from 1 to 100000 (default: no limit);
/// - `"cursor"`: the `next_cursor` of the previous page.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json`
/// `{"jobs": [record, ...], "next_cursor": "..."}`, the records in order;
/// `next_cursor` is null on the last page. A page follows on from the one
/// before even when jobs were added or deleted in between: it starts after
/// the last job returned, never skipping or repeating one that stayed. A
/// cursor from another query, or text that is no cursor, is
/// `JOBDB_ERR_SCHEMA` with `field` "cursor".
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_query(
    db: *mut JobDb,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let query = Query::parse(strings::optional_json_str(query_json, "query_json")?)?;
            to_json(&store.query(&query)?)
        })
    }
}

/// Counts the jobs that match a filter, without reading them.
///
/// `filter_json` is as for `jobdb_list_status`. On success, returns
/// `JOBDB_OK` and stores in `*out_json` `{"count": 42}`.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_count(
    db: *mut JobDb,
    filter_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let filter = JobFilter::parse(strings::optional_json_str(filter_json, "filter_json")?)?;
            to_json(&serde_json::json!({ "count": store.count(&filter)? }))
        })
    }
}

/// Reads a job's stdout and stderr logs from `{logdir}/{logfile}_out.txt`
/// and `{logdir}/{logfile}_errors.txt`. The paths are joined as text, as
/// nodejobs joins them: an empty `logdir` means the root folder, and a
/// `logfile` with slashes reaches into other folders. jobdb reads, with
/// the caller's permissions, whatever files the record names.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json`
/// `{"self_id": ..., "stdout": LOG, "stderr": LOG}`, where each LOG is
/// `{"path": ..., "text": ..., "size": ..., "invalid_utf8": ...,
/// "error": ...}`. When the file was read, `text` is its content (`""` for
/// an empty file), `size` its length in bytes, `invalid_utf8` true when
/// bytes that are not UTF-8 were replaced with U+FFFD, and `error` null.
/// When it was not, `text` and `size` are null and `error` is an error
/// object: `JOBDB_ERR_NOT_FOUND` for a missing file, `JOBDB_ERR_TOO_LARGE`
/// for a file over `JOBDB_MAX_LOG_BYTES`, `JOBDB_ERR_IO` for anything else
/// (unreadable, a directory, a FIFO). Log text never carries an error
/// message, and a missing file is never reported as an empty log.
///
/// Returns `JOBDB_ERR_NOT_FOUND` when no job has this `self_id`, and
/// `JOBDB_ERR_NO_LOGS` when its record has no `logdir` or no `logfile`.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_job_logs(
    db: *mut JobDb,
    self_id: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            to_json(&store.job_logs(self_id_arg(self_id)?)?)
        })
    }
}

/// Reads part of one log: from an offset, to follow a growing log, or its
/// last bytes or lines, in time and memory that do not grow with the
/// file.
///
/// `request_json` is `{"self_id": "j", "stream": "stdout"}` (or
/// `"stderr"`) with at most one of `"offset"` (default 0),
/// `"tail_bytes"` and `"tail_lines"`, and optionally `"max_bytes"` (the
/// most returned, default 1048576, at most `JOBDB_MAX_LOG_BYTES`) and
/// `"encoding"`: `"text"` (default; bytes that are not UTF-8 are replaced
/// with U+FFFD, and at a cut a character may be split) or `"base64"`
/// (the exact bytes).
///
/// On success, returns `JOBDB_OK` and stores in `*out_json` `{"self_id",
/// "stream", "path", "size", "offset", "next_offset", "eof", "restarted",
/// "text", "base64", "invalid_utf8"}`: the bytes from `offset` up to
/// `next_offset`, where the next read continues. `eof` tells whether the
/// read reached the end of the file as it was when opened. When the file is
/// shorter than the offset asked for, as after a rotation, the read starts
/// again from 0 and `restarted` is true; a file rotated and already grown
/// past the offset is not noticed. A tail of lines longer than
/// `max_bytes` is cut to its last `max_bytes`.
///
/// Returns `JOBDB_ERR_NOT_FOUND` for an unknown job or a missing file,
/// `JOBDB_ERR_NO_LOGS` for a job without `logdir` or `logfile`, and
/// `JOBDB_ERR_IO` for a file that is not a regular file or cannot be read.
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_read_log(
    db: *mut JobDb,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let request = LogRequest::parse(strings::json_str(request_json, "request_json")?)?;
            to_json(&store.read_log(&request)?)
        })
    }
}

/// The jobs that changed since a cursor, so that a monitor can poll
/// cheaply instead of listing everything. It sees every write to the
/// database, by jobdb or by nodejobs, from any process.
///
/// `request_json` is NULL, or `{"cursor": "...", "limit": 1000}` with
/// both members optional: without a cursor the feed starts from the
/// beginning and returns every job; `limit` (1 to 100000, default 1000)
/// caps one reply. `{"from_now": true}` returns no changes and the cursor
/// of the present, to watch from now on.
///
/// On success, returns `JOBDB_OK` and stores in `*out_json`
/// `{"changes": [{"self_id": ..., "record": {...}}, ...], "next_cursor":
/// "...", "more": false}`. Each job appears once, with its record as it is
/// now, or a null record when it was deleted; changes come in the order of
/// each job's latest change. Pass `next_cursor` to the next call, even
/// when nothing changed; `more` is true when the limit cut the reply. A
/// cursor from another database, or text that is no cursor, is
/// `JOBDB_ERR_SCHEMA` with `field` "cursor".
///
/// # Safety
/// See the conventions at the top of this header.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_changes(
    db: *mut JobDb,
    request_json: *const c_char,
    out_json: *mut *mut c_char,
) -> c_int {
    unsafe {
        json_call(out_json, || {
            let store = handles::lookup(db)?;
            let request =
                ChangesRequest::parse(strings::optional_json_str(request_json, "request_json")?)?;
            to_json(&store.changes(&request)?)
        })
    }
}

/// Frees a string that a jobdb function returned. NULL is ignored. Each
/// string must be freed once, and only with this function.
///
/// # Safety
/// `s` is NULL or a string from jobdb that was not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn jobdb_string_free(s: *mut c_char) {
    let _ = guard::catch(|| {
        unsafe { strings::free(s) };
        Ok(())
    });
}

/// Runs an export whose result, or error, is a JSON text for the caller.
unsafe fn json_call(out_json: *mut *mut c_char, body: impl FnOnce() -> Result<String>) -> c_int {
    if out_json.is_null() {
        return JOBDB_ERR_INVALID_ARGUMENT;
    }
    unsafe { *out_json = ptr::null_mut() };

    let (code, text) = match guard::catch(body) {
        Ok(json) => (JOBDB_OK, json),
        Err(err) => (err.code.as_i32(), err.to_json()),
    };
    unsafe { *out_json = strings::into_raw(text) };
    code
}

unsafe fn self_id_arg<'a>(self_id: *const c_char) -> Result<&'a str> {
    let self_id = unsafe { strings::required_str(self_id, "self_id")? };
    if self_id.is_empty() {
        return Err(Error::new(Code::InvalidArgument, "self_id is empty"));
    }
    Ok(self_id)
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|err| {
        Error::new(
            Code::Internal,
            format!("cannot serialize the result: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constants_agree_with_the_core() {
        let constants = [
            (JOBDB_ERR_INVALID_ARGUMENT, Code::InvalidArgument),
            (JOBDB_ERR_MALFORMED_JSON, Code::MalformedJson),
            (JOBDB_ERR_SCHEMA, Code::Schema),
            (JOBDB_ERR_NOT_FOUND, Code::NotFound),
            (JOBDB_ERR_BUSY, Code::Busy),
            (JOBDB_ERR_IO, Code::Io),
            (JOBDB_ERR_DATABASE, Code::Database),
            (JOBDB_ERR_CORRUPT, Code::Corrupt),
            (JOBDB_ERR_NO_LOGS, Code::NoLogs),
            (JOBDB_ERR_TOO_LARGE, Code::TooLarge),
            (JOBDB_ERR_INTERNAL, Code::Internal),
            (JOBDB_ERR_CONFLICT, Code::Conflict),
        ];
        assert_eq!(constants.len(), Code::ALL.len());
        for (value, code) in constants {
            assert_eq!(value, code.as_i32(), "{}", code.name());
            let name = unsafe { CStr::from_ptr(jobdb_code_name(value)) };
            assert_eq!(name.to_str().unwrap(), code.name());
        }
        assert_eq!(JOBDB_MAX_INPUT_BYTES, crate::record::MAX_INPUT_BYTES);
        assert_eq!(JOBDB_MAX_LOG_BYTES, crate::logs::MAX_LOG_BYTES);
    }
}
