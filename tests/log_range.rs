//! Reading parts of logs: following a growing log, tails, rotation, and
//! exact bytes.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use jobdb::ffi::*;
use serde_json::{Value, json};

fn with_log(dir: &Path, content: &[u8]) -> Db {
    let db = open(&dir.join("db"));
    let job = json!({"self_id": "j", "status": "running", "logdir": dir.to_str().unwrap(), "logfile": "j"});
    update(&db, &job.to_string());
    std::fs::write(dir.join("j_out.txt"), content).unwrap();
    db
}

fn read(db: &Db, request: Value) -> Value {
    let (code, reply) = call(jobdb_read_log, db, &request.to_string());
    assert_eq!(code, JOBDB_OK, "{request}: {reply}");
    reply
}

fn tail_lines(db: &Db, lines: u64) -> Value {
    read(
        db,
        json!({"self_id": "j", "stream": "stdout", "tail_lines": lines}),
    )
    .get("text")
    .cloned()
    .unwrap()
}

#[test]
fn a_growing_log_is_followed_from_offset_to_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"first\n");
    let first = read(&db, json!({"self_id": "j", "stream": "stdout"}));
    assert_eq!(first["text"], "first\n");
    assert_eq!(
        (first["offset"].as_u64(), first["next_offset"].as_u64()),
        (Some(0), Some(6))
    );
    assert_eq!(first["eof"], true);
    assert_eq!(first["path"], format!("{}/j_out.txt", tmp.path().display()));

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(tmp.path().join("j_out.txt"))
        .unwrap();
    file.write_all(b"second line\n").unwrap();
    let next = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "offset": first["next_offset"]}),
    );
    assert_eq!(next["text"], "second line\n");
    assert_eq!(next["next_offset"], 18);

    let nothing_new = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "offset": 18}),
    );
    assert_eq!(
        (nothing_new["text"].as_str(), nothing_new["eof"].as_bool()),
        (Some(""), Some(true))
    );
}

#[test]
fn max_bytes_cuts_a_read_into_pieces() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"0123456789");
    let mut offset = 0;
    let mut pieces = Vec::new();
    loop {
        let part = read(
            &db,
            json!({"self_id": "j", "stream": "stdout", "offset": offset, "max_bytes": 4}),
        );
        pieces.push(part["text"].as_str().unwrap().to_owned());
        offset = part["next_offset"].as_u64().unwrap();
        if part["eof"] == true {
            break;
        }
    }
    assert_eq!(pieces, ["0123", "4567", "89"]);
}

#[test]
fn a_log_that_shrank_is_read_again_from_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"a long first generation\n");
    std::fs::write(tmp.path().join("j_out.txt"), b"new\n").unwrap();
    let again = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "offset": 24}),
    );
    assert_eq!(again["restarted"], true);
    assert_eq!(again["offset"], 0);
    assert_eq!(again["text"], "new\n");
}

#[test]
fn tails_by_bytes_and_by_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"one\ntwo\nthree\n");
    assert_eq!(tail_lines(&db, 1), "three\n");
    assert_eq!(tail_lines(&db, 2), "two\nthree\n");
    assert_eq!(tail_lines(&db, 10), "one\ntwo\nthree\n");
    assert_eq!(tail_lines(&db, 0), "");
    let bytes = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "tail_bytes": 6}),
    );
    assert_eq!(
        (bytes["text"].as_str(), bytes["offset"].as_u64()),
        (Some("three\n"), Some(8))
    );

    std::fs::write(
        tmp.path().join("j_out.txt"),
        b"one\ntwo\nno newline at the end",
    )
    .unwrap();
    assert_eq!(tail_lines(&db, 1), "no newline at the end");
    assert_eq!(tail_lines(&db, 2), "two\nno newline at the end");
}

#[test]
fn the_tail_of_a_huge_log_reads_only_the_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(tmp.path().join("j_out.txt"))
        .unwrap();
    file.set_len(1 << 30).unwrap();
    let mut file = file;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::End(0)).unwrap();
    file.write_all(b"\nlast line\n").unwrap();

    let started = std::time::Instant::now();
    let tail = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "tail_lines": 1}),
    );
    assert_eq!(tail["text"], "last line\n");
    // Ten lines of a log with no newlines for a gigabyte stop at max_bytes.
    let bounded = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "tail_lines": 10, "max_bytes": 65536}),
    );
    assert_eq!(
        bounded["next_offset"].as_u64().unwrap() - bounded["offset"].as_u64().unwrap(),
        65536
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bytes_come_back_exactly_in_base64_or_replaced_and_flagged_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"ok\xff\x00end");
    let exact = read(
        &db,
        json!({"self_id": "j", "stream": "stdout", "encoding": "base64"}),
    );
    assert_eq!(exact["base64"], "b2v/AGVuZA==");
    assert_eq!(exact["text"], Value::Null);
    let text = read(&db, json!({"self_id": "j", "stream": "stdout"}));
    assert_eq!(text["text"], "ok\u{fffd}\u{0}end");
    assert_eq!(text["invalid_utf8"], true);
}

#[test]
fn missing_logs_and_bad_requests_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let db = with_log(tmp.path(), b"x");
    update(&db, r#"{"self_id":"nolog","status":"running"}"#);
    let request = |r: Value| call(jobdb_read_log, &db, &r.to_string());

    assert_error(
        request(json!({"self_id": "j", "stream": "stderr"})),
        JOBDB_ERR_NOT_FOUND,
        "does not exist",
    );
    assert_error(
        request(json!({"self_id": "ghost", "stream": "stdout"})),
        JOBDB_ERR_NOT_FOUND,
        "\"ghost\"",
    );
    assert_error(
        request(json!({"self_id": "nolog", "stream": "stdout"})),
        JOBDB_ERR_NO_LOGS,
        "no logdir",
    );
    let cases = [
        (json!({"self_id": "j"}), "stream"),
        (json!({"stream": "stdout"}), "self_id"),
        (json!({"self_id": "j", "stream": "both"}), "stream"),
        (
            json!({"self_id": "j", "stream": "stdout", "offset": 1, "tail_lines": 2}),
            "tail_lines",
        ),
        (
            json!({"self_id": "j", "stream": "stdout", "max_bytes": 0}),
            "max_bytes",
        ),
        (
            json!({"self_id": "j", "stream": "stdout", "max_bytes": 16777217}),
            "max_bytes",
        ),
        (
            json!({"self_id": "j", "stream": "stdout", "offset": -1}),
            "offset",
        ),
        (
            json!({"self_id": "j", "stream": "stdout", "encoding": "hex"}),
            "encoding",
        ),
        (
            json!({"self_id": "j", "stream": "stdout", "follow": true}),
            "follow",
        ),
    ];
    for (bad, field) in cases {
        let err = assert_error(request(bad.clone()), JOBDB_ERR_SCHEMA, "");
        assert_eq!(err["field"], field, "{bad}");
    }
}
