//! Hostile input through the C ABI: each gets its documented code and
//! message, nothing crashes or hangs, and the database is unchanged.

mod common;

use std::ffi::c_int;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use jobdb::ffi::*;
use serde_json::{Value, json};

type JsonFn =
    unsafe extern "C" fn(*mut JobDb, *const std::ffi::c_char, *mut *mut std::ffi::c_char) -> c_int;

/// A database with a few jobs, and its contents to compare against.
fn seeded(dir: &Path) -> (Db, Value) {
    let db = open(dir);
    update(
        &db,
        r#"{"self_id":"a","status":"running","last_pid":1,"cwd":"/a"}"#,
    );
    update(&db, r#"{"self_id":"b","status":"finished"}"#);
    let snapshot = list(&db, None);
    (db, snapshot)
}

struct Case {
    what: &'static str,
    call: JsonFn,
    input: Vec<u8>,
    code: c_int,
    message: &'static str,
}

fn case(
    what: &'static str,
    call: JsonFn,
    input: impl Into<Vec<u8>>,
    code: c_int,
    message: &'static str,
) -> Case {
    Case {
        what,
        call,
        input: input.into(),
        code,
        message,
    }
}

fn update_case(
    what: &'static str,
    input: impl Into<Vec<u8>>,
    code: c_int,
    message: &'static str,
) -> Case {
    case(what, jobdb_update_status, input, code, message)
}

#[test]
fn hostile_inputs_get_their_codes_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, before) = seeded(tmp.path());

    let deep = format!(
        r#"{{"self_id":"a","cwd":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let hundred_mb = format!(r#"{{"self_id":"a","cwd":"{}"}}"#, "x".repeat(100 << 20));
    let cases = vec![
        update_case(
            "invalid UTF-8",
            &b"{\"self_id\":\"a\xc0\"}"[..],
            JOBDB_ERR_INVALID_ARGUMENT,
            "not valid UTF-8",
        ),
        update_case("empty JSON", "", JOBDB_ERR_MALFORMED_JSON, "EOF"),
        update_case("whitespace only", " \n\t", JOBDB_ERR_MALFORMED_JSON, "EOF"),
        update_case(
            "truncated JSON",
            r#"{"self_id":"a","sta"#,
            JOBDB_ERR_MALFORMED_JSON,
            "EOF",
        ),
        update_case(
            "trailing garbage",
            r#"{"self_id":"a"} x"#,
            JOBDB_ERR_MALFORMED_JSON,
            "trailing",
        ),
        update_case(
            "100,000 levels deep",
            deep,
            JOBDB_ERR_MALFORMED_JSON,
            "recursion limit",
        ),
        update_case("a 100 MB string", hundred_mb, JOBDB_ERR_TOO_LARGE, "limit"),
        update_case(
            "last_pid 2^70",
            r#"{"self_id":"a","last_pid":1180591620717411303424}"#,
            JOBDB_ERR_SCHEMA,
            "integer",
        ),
        update_case(
            "last_pid 1.5",
            r#"{"self_id":"a","last_pid":1.5}"#,
            JOBDB_ERR_SCHEMA,
            "integer",
        ),
        update_case(
            "last_pid true",
            r#"{"self_id":"a","last_pid":true}"#,
            JOBDB_ERR_SCHEMA,
            "integer",
        ),
        update_case(
            "unknown field",
            r#"{"self_id":"a","pid":3}"#,
            JOBDB_ERR_SCHEMA,
            "\"pid\" is not a job record field",
        ),
        update_case(
            "empty self_id",
            r#"{"self_id":"","status":"x"}"#,
            JOBDB_ERR_SCHEMA,
            "self_id is empty",
        ),
        update_case(
            "NUL in a string",
            r#"{"self_id":"a","cwd":"\u0000"}"#,
            JOBDB_ERR_SCHEMA,
            "NUL",
        ),
        update_case(
            "lone surrogate",
            r#"{"self_id":"a","cwd":"\ud800"}"#,
            JOBDB_ERR_MALFORMED_JSON,
            "not valid JSON",
        ),
        update_case(
            "SQL in a field name",
            r#"{"self_id":"a","status') --":"x"}"#,
            JOBDB_ERR_SCHEMA,
            "is not a job record field",
        ),
        update_case(
            "leap second",
            r#"{"self_id":"a","last_update":"2016-12-31T23:59:60Z"}"#,
            JOBDB_ERR_SCHEMA,
            "leap second",
        ),
        update_case(
            "year 10000",
            r#"{"self_id":"a","last_update":"+10000-01-01T00:00:00Z"}"#,
            JOBDB_ERR_SCHEMA,
            "not a timestamp",
        ),
        case(
            "filter with SQL in a key",
            jobdb_list_status,
            r#"{"1=1 OR status":"x"}"#,
            JOBDB_ERR_SCHEMA,
            "is not a filter field",
        ),
        case(
            "filter of wrong type",
            jobdb_list_status,
            r#"{"status":["running"]}"#,
            JOBDB_ERR_SCHEMA,
            "non-empty string",
        ),
        case(
            "filter that is an array",
            jobdb_list_status,
            "[]",
            JOBDB_ERR_SCHEMA,
            "must be a JSON object, not an array",
        ),
        case(
            "get with empty id",
            jobdb_get_status,
            "",
            JOBDB_ERR_INVALID_ARGUMENT,
            "empty",
        ),
        case(
            "logs with invalid UTF-8 id",
            jobdb_job_logs,
            &b"\xff"[..],
            JOBDB_ERR_INVALID_ARGUMENT,
            "not valid UTF-8",
        ),
    ];

    // Every field given every wrong type.
    let wrong_types = [
        json!(1),
        json!(1.5),
        json!(true),
        json!([]),
        json!({}),
        json!("text"),
    ];
    let fields = [
        "self_id",
        "status",
        "last_update",
        "last_pid",
        "dirname",
        "cwd",
        "logdir",
        "logfile",
    ];
    let mut tried = 0;
    for field in fields {
        for wrong in &wrong_types {
            let fits = match field {
                "last_pid" => wrong.is_i64(),
                "last_update" => false,
                _ => wrong.is_string(),
            };
            if fits {
                continue;
            }
            let mut job = json!({"self_id": "a"});
            job[field] = wrong.clone();
            let (code, err) = call(jobdb_update_status, &db, &job.to_string());
            assert_eq!(code, JOBDB_ERR_SCHEMA, "{job}: {err}");
            assert_eq!(err["field"], field, "{job}: {err}");
            tried += 1;
        }
    }

    for case in &cases {
        let reply = call_raw(case.call, &db, Some(&case.input));
        let (code, json) = &reply;
        assert_eq!(*code, case.code, "{}: {json}", case.what);
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains(case.message), "{}: {message}", case.what);
        assert!(
            message.len() < 1_000,
            "{}: a {} byte message",
            case.what,
            message.len()
        );
        tried += 1;
    }

    assert_eq!(
        list(&db, None),
        before,
        "a refused input changed the database"
    );
    println!("hostile inputs: {tried} tried, each refused with its code, database unchanged");
}

#[test]
fn control_characters_are_stored_and_returned_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let text = "tab\there\u{1}\u{1b}[31mred\u{7f} \u{2028} é 🚀";
    let job = json!({"self_id": "ctl\n", "status": text, "cwd": text}).to_string();
    let record = update(&db, &job);
    assert_eq!(record["status"], text);
    assert_eq!(get(&db, "ctl\n")["cwd"], text);
}

// ---------------------------------------------------------------------
// Log files that are not plain, small, stable files.

fn with_logs(dir: &Path, db: &Db, self_id: &str) {
    let job = json!({"self_id": self_id, "status": "running",
                     "logdir": dir.to_str().unwrap(), "logfile": self_id});
    update(db, &job.to_string());
}

fn stream(db: &Db, self_id: &str, which: &str) -> Value {
    let started = Instant::now();
    let (code, reply) = call(jobdb_job_logs, db, self_id);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "reading logs took {:?}",
        started.elapsed()
    );
    assert_eq!(code, JOBDB_OK, "{reply}");
    reply[which].clone()
}

fn stream_error(db: &Db, self_id: &str, which: &str) -> (i64, String) {
    let stream = stream(db, self_id, which);
    assert_eq!(stream["text"], Value::Null, "{stream}");
    let error = &stream["error"];
    (
        error["code"].as_i64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn odd_log_files_are_reported_per_stream_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let db = open(&tmp.path().join("db"));
    let at = |name: &str| logs.join(name);

    // A directory, and a FIFO that no one writes to.
    with_logs(&logs, &db, "dir");
    std::fs::create_dir(at("dir_out.txt")).unwrap();
    let (code, message) = stream_error(&db, "dir", "stdout");
    assert_eq!(
        (code, message.contains("a directory")),
        (JOBDB_ERR_IO as i64, true),
        "{message}"
    );

    with_logs(&logs, &db, "fifo");
    let fifo = std::ffi::CString::new(at("fifo_out.txt").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (code, message) = stream_error(&db, "fifo", "stdout");
    assert_eq!(
        (code, message.contains("a FIFO")),
        (JOBDB_ERR_IO as i64, true),
        "{message}"
    );

    // Symlinks are followed; a dangling one is a missing file.
    with_logs(&logs, &db, "link");
    std::fs::write(at("target.txt"), "through a link\n").unwrap();
    std::os::unix::fs::symlink(at("target.txt"), at("link_out.txt")).unwrap();
    std::os::unix::fs::symlink(at("nowhere.txt"), at("link_errors.txt")).unwrap();
    assert_eq!(stream(&db, "link", "stdout")["text"], "through a link\n");
    assert_eq!(
        stream_error(&db, "link", "stderr").0,
        JOBDB_ERR_NOT_FOUND as i64
    );

    // A 2 GiB file (sparse, so the test stays cheap) is refused before a
    // byte is read.
    with_logs(&logs, &db, "huge");
    let huge = std::fs::File::create(at("huge_out.txt")).unwrap();
    huge.set_len(2 << 30).unwrap();
    let (code, message) = stream_error(&db, "huge", "stdout");
    assert_eq!(code, JOBDB_ERR_TOO_LARGE as i64, "{message}");

    // Unreadable: root reads anything, so this only bites for other users.
    with_logs(&logs, &db, "locked");
    std::fs::write(at("locked_out.txt"), "secret").unwrap();
    std::fs::set_permissions(
        at("locked_out.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let locked = stream(&db, "locked", "stdout");
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(locked["text"], "secret");
    } else {
        assert_eq!(locked["error"]["code"], JOBDB_ERR_IO);
        assert!(
            locked["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Permission denied")
        );
    }
}

#[test]
fn a_log_that_grows_while_it_is_read_is_read_in_bounded_time_and_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(&tmp.path().join("db"));
    with_logs(tmp.path(), &db, "grow");
    let path = tmp.path().join("grow_out.txt");
    std::fs::write(&path, "").unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let path = path.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            let line = [b'x'; 4096];
            let mut written = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && written < (8 << 20) {
                file.write_all(&line).unwrap();
                written += line.len() as u64;
            }
        })
    };

    let mut sizes = Vec::new();
    for _ in 0..20 {
        let out = stream(&db, "grow", "stdout");
        match out["size"].as_u64() {
            Some(size) => {
                assert!(size <= JOBDB_MAX_LOG_BYTES);
                assert_eq!(out["text"].as_str().unwrap().len() as u64, size);
                sizes.push(size);
            }
            None => assert_eq!(out["error"]["code"], JOBDB_ERR_TOO_LARGE, "{out}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        !sizes.is_empty(),
        "every read found the file over the limit"
    );
}
