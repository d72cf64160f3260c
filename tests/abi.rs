//! Every export of the C ABI, called as a C host calls it, with its error
//! paths.

mod common;

use std::ffi::CStr;
use std::ptr;
use std::sync::Arc;

use common::load;
use common::*;
use jobdb::ffi::*;
use serde_json::{Value, json};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn open_creates_the_folder_and_jobs_db() {
    let tmp = dir();
    let folder = tmp.path().join("a/b/c");
    let _db = open(&folder);
    assert!(folder.join("jobs.db").is_file());
}

#[test]
fn handles_are_never_small_or_reused() {
    let tmp = dir();
    let first = open(tmp.path());
    let first_value = first.0 as usize;
    drop(first);
    let second = open(tmp.path());
    // Go's runtime aborts when it finds a "pointer" below 4096.
    assert!(first_value >= 4096 && second.0 as usize >= 4096);
    assert_ne!(second.0 as usize, first_value);
}

#[test]
fn new_job_returns_every_field_in_a_fixed_order() {
    let tmp = dir();
    let db = open(tmp.path());
    let record = update(
        &db,
        r#"{"self_id":"build","status":"running","last_pid":4242,"cwd":"/srv",
            "last_update":"2024-05-01T14:00:00.25+02:00"}"#,
    );

    let mut record = record;
    let created_at = record["created_at"].take();
    assert!(chrono::DateTime::parse_from_rfc3339(created_at.as_str().unwrap()).is_ok());
    assert_eq!(
        record,
        json!({
            "self_id": "build", "status": "running",
            "last_update": "2024-05-01T12:00:00.250000Z", "last_pid": 4242,
            "dirname": null, "cwd": "/srv", "logdir": null, "logfile": null,
            "exit_code": null, "command": null, "created_at": null,
            "started_at": null, "ended_at": null, "metadata": null
        })
    );
    let self_id = c("build");
    let mut out = ptr::null_mut();
    let code = unsafe { jobdb_get_status(db.0, self_id.as_ptr(), &mut out) };
    assert_eq!(code, JOBDB_OK);
    let text = take_text(out);
    assert!(
        text.starts_with(r#"{"self_id":"build","status":"running","last_update""#),
        "{text}"
    );
}

#[test]
fn update_overwrites_given_fields_keeps_absent_ones_and_null_clears() {
    let tmp = dir();
    let db = open(tmp.path());
    update(
        &db,
        r#"{"self_id":"j","status":"starting","last_pid":7,"cwd":"/a","logdir":"/l"}"#,
    );
    let record = update(&db, r#"{"self_id":"j","status":"running","logdir":null}"#);

    assert_eq!(record["status"], "running");
    assert_eq!(record["last_pid"], 7);
    assert_eq!(record["cwd"], "/a");
    assert_eq!(record["logdir"], Value::Null);
    assert_eq!(get(&db, "j"), record);
}

#[test]
fn update_without_time_records_the_current_time() {
    let tmp = dir();
    let db = open(tmp.path());
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let record = update(&db, r#"{"self_id":"j","status":"running"}"#);
    let stamp = record["last_update"].as_str().unwrap();
    let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    assert!(stamp >= before && stamp <= chrono::Utc::now(), "{stamp}");
}

#[test]
fn a_new_job_needs_a_status() {
    let tmp = dir();
    let db = open(tmp.path());
    let err = assert_error(
        call(jobdb_update_status, &db, r#"{"self_id":"j","last_pid":1}"#),
        JOBDB_ERR_SCHEMA,
        "needs a status",
    );
    assert_eq!(err["field"], "status");
    assert_eq!(list(&db, None), json!({}));

    // An existing job may be updated without one.
    update(&db, r#"{"self_id":"j","status":"running"}"#);
    assert_eq!(
        update(&db, r#"{"self_id":"j","last_pid":2}"#)["status"],
        "running"
    );
}

#[test]
fn bad_records_name_the_field_and_change_nothing() {
    let tmp = dir();
    let db = open(tmp.path());
    let original = update(&db, r#"{"self_id":"j","status":"running","last_pid":1}"#);

    let cases = [
        (r#"{"self_id":"j","status":"x","colour":"red"}"#, "colour"),
        (r#"{"self_id":"j","last_pid":1.5}"#, "last_pid"),
        (
            r#"{"self_id":"j","last_pid":1180591620717411303424}"#,
            "last_pid",
        ),
        (r#"{"self_id":"j","last_pid":"12"}"#, "last_pid"),
        (r#"{"self_id":"j","status":7}"#, "status"),
        (r#"{"self_id":"j","status":""}"#, "status"),
        (r#"{"self_id":"j","cwd":{"a":1}}"#, "cwd"),
        (r#"{"self_id":"j","last_update":"tomorrow"}"#, "last_update"),
        (r#"{"self_id":"","status":"x"}"#, "self_id"),
        (r#"{"self_id":"j","status":"a","status":"b"}"#, "status"),
        (r#"{"self_id":"j","cwd":"a\u0000b"}"#, "cwd"),
    ];
    for (job, field) in cases {
        let err = assert_error(call(jobdb_update_status, &db, job), JOBDB_ERR_SCHEMA, "");
        assert_eq!(err["field"], field, "{job}: {err}");
    }
    assert_eq!(get(&db, "j"), original);
}

#[test]
fn malformed_json_is_its_own_error() {
    let tmp = dir();
    let db = open(tmp.path());
    for bad in ["", "{", r#"{"self_id":"j""#, r#"{"self_id" "j"}"#, "{]"] {
        assert_error(
            call(jobdb_update_status, &db, bad),
            JOBDB_ERR_MALFORMED_JSON,
            "not valid JSON",
        );
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_error(
        call(jobdb_list_status, &db, &format!(r#"{{"cwd":{deep}}}"#)),
        JOBDB_ERR_MALFORMED_JSON,
        "recursion limit",
    );
    assert_error(
        call(jobdb_update_status, &db, "[1,2]"),
        JOBDB_ERR_SCHEMA,
        "must be a JSON object",
    );
}

#[test]
fn invalid_utf8_arguments_are_refused() {
    let tmp = dir();
    let db = open(tmp.path());
    let bad: &[u8] = b"{\"self_id\":\"\xff\xfe\",\"status\":\"x\"}";
    for f in [jobdb_update_status, jobdb_list_status] {
        assert_error(
            call_raw(f, &db, Some(bad)),
            JOBDB_ERR_INVALID_ARGUMENT,
            "not valid UTF-8",
        );
    }
    for f in [jobdb_get_status, jobdb_job_logs] {
        assert_error(
            call_raw(f, &db, Some(b"\xc3")),
            JOBDB_ERR_INVALID_ARGUMENT,
            "self_id is not valid UTF-8",
        );
    }
}

#[test]
fn oversized_input_is_too_large() {
    let tmp = dir();
    let db = open(tmp.path());
    let padding = "x".repeat(JOBDB_MAX_INPUT_BYTES);
    let job = format!(r#"{{"self_id":"j","status":"x","cwd":"{padding}"}}"#);
    assert_error(
        call(jobdb_update_status, &db, &job),
        JOBDB_ERR_TOO_LARGE,
        "limit",
    );
    assert_eq!(list(&db, None), json!({}));
}

#[test]
fn get_reports_missing_and_empty_ids() {
    let tmp = dir();
    let db = open(tmp.path());
    assert_error(
        call(jobdb_get_status, &db, "nope"),
        JOBDB_ERR_NOT_FOUND,
        "\"nope\"",
    );
    assert_error(
        call(jobdb_get_status, &db, ""),
        JOBDB_ERR_INVALID_ARGUMENT,
        "empty",
    );
}

#[test]
fn list_filters_by_exact_field_values() {
    let tmp = dir();
    let db = open(tmp.path());
    update(
        &db,
        r#"{"self_id":"a","status":"running","last_pid":1,"last_update":"2024-05-01T12:00:00Z"}"#,
    );
    update(&db, r#"{"self_id":"b","status":"finished","last_pid":2}"#);
    update(&db, r#"{"self_id":"c","status":"running"}"#);

    let ids = |filter: Option<&str>| -> Vec<String> {
        list(&db, filter)
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(ids(None), ["a", "b", "c"]);
    assert_eq!(ids(Some("{}")), ["a", "b", "c"]);
    assert_eq!(ids(Some(r#"{"status":"running"}"#)), ["a", "c"]);
    assert_eq!(ids(Some(r#"{"status":"running","last_pid":1}"#)), ["a"]);
    assert_eq!(ids(Some(r#"{"last_pid":null}"#)), ["c"]);
    assert_eq!(
        ids(Some(r#"{"last_update":"2024-05-01T14:00:00+02:00"}"#)),
        ["a"]
    );
    assert_eq!(ids(Some(r#"{"status":"stopped"}"#)), Vec::<String>::new());

    let listed = list(&db, Some(r#"{"self_id":"b"}"#));
    assert_eq!(listed["b"], get(&db, "b"));
}

#[test]
fn list_refuses_what_would_widen_or_confuse_a_filter() {
    let tmp = dir();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"a","status":"running"}"#);

    let err = assert_error(
        call(jobdb_list_status, &db, r#"{"stauts":"running"}"#),
        JOBDB_ERR_SCHEMA,
        "\"stauts\" is not a filter field",
    );
    assert_eq!(err["field"], "stauts");
    assert_error(
        call(jobdb_list_status, &db, r#"{"status') OR 1=1 --":"x"}"#),
        JOBDB_ERR_SCHEMA,
        "is not a filter field",
    );
    assert_error(
        call(jobdb_list_status, &db, r#"{"status":null}"#),
        JOBDB_ERR_SCHEMA,
        "never null",
    );
    assert_error(
        call(jobdb_list_status, &db, r#"{"last_pid":"1"}"#),
        JOBDB_ERR_SCHEMA,
        "integer",
    );
}

#[test]
fn sql_looking_text_is_stored_as_text() {
    let tmp = dir();
    let db = open(tmp.path());
    let id = "x'); DROP TABLE process_status; --";
    let job = json!({"self_id": id, "status": "running' OR '1'='1"}).to_string();
    update(&db, &job);
    assert_eq!(get(&db, id)["status"], "running' OR '1'='1");
    let filter = json!({"status": "running' OR '1'='1"}).to_string();
    assert_eq!(list(&db, Some(&filter)).as_object().unwrap().len(), 1);
    assert_eq!(list(&db, Some(r#"{"status":"running"}"#)), json!({}));
}

#[test]
fn null_pointers_are_errors_never_crashes() {
    let tmp = dir();
    let db = open(tmp.path());
    let job = c(r#"{"self_id":"j","status":"x"}"#);
    let fns = [
        jobdb_update_status,
        jobdb_get_status,
        jobdb_list_status,
        jobdb_job_logs,
    ];

    for f in fns {
        // NULL out_json: nothing can be written, only the code returned.
        let code = unsafe { f(db.0, job.as_ptr(), ptr::null_mut()) };
        assert_eq!(code, JOBDB_ERR_INVALID_ARGUMENT);

        // NULL handle.
        let mut out = ptr::null_mut();
        let code = unsafe { f(ptr::null_mut(), job.as_ptr(), &mut out) };
        assert_error(
            (code, take_json(out)),
            JOBDB_ERR_INVALID_ARGUMENT,
            "db is NULL",
        );
    }
    // NULL argument: required everywhere except the list filter.
    for f in [jobdb_update_status, jobdb_get_status, jobdb_job_logs] {
        assert_error(
            call_raw(f, &db, None),
            JOBDB_ERR_INVALID_ARGUMENT,
            "is NULL",
        );
    }
    assert_eq!(list(&db, None), json!({}));

    // Opening: NULL dir reports through out_error; NULL out_db too; a
    // NULL out_error is allowed.
    let mut handle = ptr::null_mut();
    let mut error = ptr::null_mut();
    let code = unsafe { jobdb_open(ptr::null(), &mut handle, &mut error) };
    assert_error(
        (code, take_json(error)),
        JOBDB_ERR_INVALID_ARGUMENT,
        "dir is NULL",
    );
    let folder = c(tmp.path().to_str().unwrap());
    let code = unsafe { jobdb_open(folder.as_ptr(), ptr::null_mut(), &mut error) };
    assert_error(
        (code, take_json(error)),
        JOBDB_ERR_INVALID_ARGUMENT,
        "out_db is NULL",
    );
    let code = unsafe { jobdb_open(ptr::null(), &mut handle, ptr::null_mut()) };
    assert_eq!(code, JOBDB_ERR_INVALID_ARGUMENT);
    assert!(handle.is_null());

    unsafe {
        jobdb_close(ptr::null_mut());
        jobdb_string_free(ptr::null_mut());
    }
}

#[test]
fn a_closed_or_invented_handle_is_refused() {
    let tmp = dir();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"j","status":"x"}"#);
    unsafe { jobdb_close(db.0) };
    assert_error(
        call(jobdb_get_status, &db, "j"),
        JOBDB_ERR_INVALID_ARGUMENT,
        "not an open jobdb handle",
    );
    // Closing twice is harmless; `db` closes a third time when dropped.
    unsafe { jobdb_close(db.0) };

    let invented = Db(std::ptr::without_provenance_mut(0x1234_5670));
    assert_error(
        call(jobdb_list_status, &invented, "{}"),
        JOBDB_ERR_INVALID_ARGUMENT,
        "not an open jobdb handle",
    );
}

#[test]
fn open_reports_options_and_file_problems() {
    let tmp = dir();
    assert!(
        try_open(
            tmp.path(),
            Some(r#"{"busy_timeout_ms":50,"synchronous":"full"}"#)
        )
        .is_ok()
    );

    let (code, err) = try_open(tmp.path(), Some(r#"{"busy_timeout":5}"#))
        .err()
        .unwrap();
    assert_error(
        (code, err.clone()),
        JOBDB_ERR_SCHEMA,
        "is not a member of the options",
    );
    assert_eq!(err["field"], "busy_timeout");
    let (code, err) = try_open(tmp.path(), Some(r#"{"synchronous":"off"}"#))
        .err()
        .unwrap();
    assert_error((code, err), JOBDB_ERR_SCHEMA, "\"normal\" or \"full\"");
    let (code, err) = try_open(tmp.path(), Some("{")).err().unwrap();
    assert_error((code, err), JOBDB_ERR_MALFORMED_JSON, "not valid JSON");

    let file = tmp.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let (code, err) = try_open(&file.join("db"), None).err().unwrap();
    assert_error(
        (code, err),
        JOBDB_ERR_IO,
        "cannot create the database folder",
    );
    let (code, err) = try_open(&file, None).err().unwrap();
    assert_error(
        (code, err),
        JOBDB_ERR_INVALID_ARGUMENT,
        "plain-file is a file; give the folder that holds jobs.db",
    );

    let not_sqlite = tmp.path().join("not-sqlite");
    std::fs::create_dir(&not_sqlite).unwrap();
    std::fs::write(not_sqlite.join("jobs.db"), vec![b'z'; 4096]).unwrap();
    let (code, err) = try_open(&not_sqlite, None).err().unwrap();
    assert_error((code, err), JOBDB_ERR_CORRUPT, "not a database");
    assert_eq!(
        std::fs::read(not_sqlite.join("jobs.db")).unwrap(),
        vec![b'z'; 4096]
    );
}

#[test]
fn version_and_code_names_are_static_strings() {
    let version = unsafe { CStr::from_ptr(jobdb_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    let name = |code| {
        unsafe { CStr::from_ptr(jobdb_code_name(code)) }
            .to_str()
            .unwrap()
    };
    assert_eq!(name(JOBDB_OK), "JOBDB_OK");
    assert_eq!(name(JOBDB_ERR_BUSY), "JOBDB_ERR_BUSY");
    assert_eq!(name(-1), "JOBDB_ERR_UNKNOWN");
    assert_eq!(name(1000), "JOBDB_ERR_UNKNOWN");
}

#[test]
fn job_logs_tell_missing_record_location_and_file_apart_from_empty_logs() {
    let tmp = dir();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let db = open(&tmp.path().join("db"));

    assert_error(
        call(jobdb_job_logs, &db, "ghost"),
        JOBDB_ERR_NOT_FOUND,
        "\"ghost\"",
    );

    update(&db, r#"{"self_id":"nolog","status":"running"}"#);
    let err = assert_error(
        call(jobdb_job_logs, &db, "nolog"),
        JOBDB_ERR_NO_LOGS,
        "no logdir",
    );
    assert_eq!(err["field"], "logdir");

    let logdir = logs.to_str().unwrap();
    update(
        &db,
        &json!({"self_id": "j", "status": "finished", "logdir": logdir, "logfile": "j"})
            .to_string(),
    );
    std::fs::write(logs.join("j_out.txt"), b"").unwrap();
    let (code, reply) = call(jobdb_job_logs, &db, "j");
    assert_eq!(code, JOBDB_OK, "{reply}");
    assert_eq!(reply["self_id"], "j");
    assert_eq!(
        reply["stdout"],
        json!({"path": format!("{logdir}/j_out.txt"), "text": "", "size": 0,
               "invalid_utf8": false, "error": null})
    );
    assert_eq!(reply["stderr"]["text"], Value::Null);
    assert_eq!(reply["stderr"]["error"]["code"], JOBDB_ERR_NOT_FOUND);
    assert_eq!(reply["stderr"]["error"]["name"], "JOBDB_ERR_NOT_FOUND");

    std::fs::write(logs.join("j_errors.txt"), b"warn \xff\n").unwrap();
    let (_, reply) = call(jobdb_job_logs, &db, "j");
    assert_eq!(reply["stderr"]["text"], "warn \u{fffd}\n");
    assert_eq!(reply["stderr"]["invalid_utf8"], true);
    assert_eq!(reply["stderr"]["size"], 7);
}

#[test]
fn one_handle_serves_eight_writer_threads_and_two_readers() {
    let tmp = dir();
    let db = Arc::new(open(tmp.path()));
    let writers_done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let db = Arc::clone(&db);
            let done = Arc::clone(&writers_done);
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let count = list(&db, None).as_object().unwrap().len();
                    assert!(count >= seen, "a listing lost jobs: {seen} then {count}");
                    seen = count;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..load::WRITERS)
        .map(|writer| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for step in 0..load::UPDATES_PER_WRITER {
                    update(&db, &load::job(writer, step).to_string());
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    writers_done.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }

    load::check(&list(&db, None));
}

#[test]
fn close_while_other_threads_call_is_safe() {
    let tmp = dir();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"j","status":"running"}"#);
    let handle = db.0 as usize;

    let readers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let db = std::mem::ManuallyDrop::new(Db(handle as *mut JobDb));
                let mut codes = Vec::new();
                for _ in 0..200 {
                    codes.push(call(jobdb_get_status, &db, "j").0);
                }
                codes
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(5));
    drop(db);

    for reader in readers {
        for code in reader.join().unwrap() {
            assert!(
                code == JOBDB_OK || code == JOBDB_ERR_INVALID_ARGUMENT,
                "{code}"
            );
        }
    }
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_busy_and_writes_nothing() {
    let tmp = dir();
    let db = try_open(tmp.path(), Some(r#"{"busy_timeout_ms":100}"#)).unwrap();
    update(&db, r#"{"self_id":"j","status":"running"}"#);

    let other = rusqlite::Connection::open(tmp.path().join("jobs.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let reply = call(
        jobdb_update_status,
        &db,
        r#"{"self_id":"j","status":"stopped"}"#,
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    assert_error(reply, JOBDB_ERR_BUSY, "may be retried");

    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(get(&db, "j")["status"], "running");
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        update(&db, r#"{"self_id":"j","status":"stopped"}"#)["status"],
        "stopped"
    );
}

#[test]
fn a_log_over_the_limit_is_too_large_and_not_loaded() {
    let tmp = dir();
    let db = open(tmp.path());
    let logdir = tmp.path().to_str().unwrap();
    update(
        &db,
        &json!({"self_id": "big", "status": "running", "logdir": logdir, "logfile": "big"})
            .to_string(),
    );

    // A sparse file: the limit is checked before anything is read.
    let file = std::fs::File::create(tmp.path().join("big_out.txt")).unwrap();
    file.set_len(JOBDB_MAX_LOG_BYTES + 1).unwrap();
    std::fs::write(tmp.path().join("big_errors.txt"), b"small").unwrap();

    let (code, reply) = call(jobdb_job_logs, &db, "big");
    assert_eq!(code, JOBDB_OK, "{reply}");
    assert_eq!(reply["stdout"]["text"], Value::Null);
    assert_eq!(reply["stdout"]["error"]["code"], JOBDB_ERR_TOO_LARGE);
    assert_eq!(reply["stderr"]["text"], "small");
}

#[test]
fn out_of_range_options_are_refused_before_anything_is_created() {
    let tmp = dir();
    let folder = tmp.path().join("db");
    for options in [
        r#"{"busy_timeout_ms":2147483648}"#,
        r#"{"busy_timeout_ms":-1}"#,
        r#"{"busy_timeout_ms":1.5}"#,
    ] {
        let (code, err) = try_open(&folder, Some(options)).err().unwrap();
        let err = assert_error((code, err), JOBDB_ERR_SCHEMA, "from 0 to 2147483647");
        assert_eq!(err["field"], "busy_timeout_ms");
    }
    assert!(!folder.exists());
    assert!(try_open(&folder, Some(r#"{"busy_timeout_ms":2147483647}"#)).is_ok());
}

#[test]
fn size_is_checked_before_encoding_and_messages_stay_short() {
    let tmp = dir();
    let db = open(tmp.path());
    let mut huge = vec![b'x'; JOBDB_MAX_INPUT_BYTES + 1];
    huge[10] = 0xff;
    assert_error(
        call_raw(jobdb_update_status, &db, Some(&huge)),
        JOBDB_ERR_TOO_LARGE,
        "job_json is",
    );

    let long_id = "y".repeat(1_000_000);
    let (code, err) = call(jobdb_get_status, &db, &long_id);
    assert_eq!(code, JOBDB_ERR_NOT_FOUND);
    let message = err["message"].as_str().unwrap();
    assert!(message.len() < 200, "{} bytes", message.len());
    assert!(message.ends_with("(1000000 bytes)"), "{message}");
}
