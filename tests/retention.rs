//! Deleting jobs by filter, keeping the newest, dry runs, and log files.

mod common;

use std::path::Path;

use common::*;
use jobdb::ffi::*;
use serde_json::{Value, json};

/// Six finished jobs, a day apart from May 1, and one running; each with
/// its two log files in `logs`, and a stray file the deletion must leave.
fn seeded(dir: &Path) -> Db {
    let db = open(&dir.join("db"));
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("unrelated.txt"), "keep me").unwrap();
    for n in 1..=7 {
        let id = format!("job-{n}");
        let status = if n == 7 { "running" } else { "finished" };
        let job = json!({"self_id": id, "status": status, "logdir": logs.to_str().unwrap(),
                         "logfile": id, "last_update": format!("2024-05-0{n}T00:00:00Z")});
        update(&db, &job.to_string());
        std::fs::write(logs.join(format!("{id}_out.txt")), "out").unwrap();
        std::fs::write(logs.join(format!("{id}_errors.txt")), "err").unwrap();
    }
    db
}

fn delete(db: &Db, request: Value) -> Value {
    let (code, reply) = call(jobdb_delete, db, &request.to_string());
    assert_eq!(code, JOBDB_OK, "{request}: {reply}");
    reply
}

fn remaining(db: &Db) -> Vec<String> {
    list(db, None)
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn finished_jobs_older_than_a_date_go_and_the_newest_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let request = json!({"filter": {"status": "finished", "last_update": {"$lt": "2024-05-06T00:00:00Z"}},
                         "keep_newest": 2});

    let dry = delete(
        &db,
        json!({"dry_run": true, "remove_logs": true, "filter": request["filter"], "keep_newest": 2}),
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["deleted"], json!(["job-3", "job-2", "job-1"]));
    assert_eq!(dry["logs_removed"].as_array().unwrap().len(), 6);
    assert_eq!(remaining(&db).len(), 7, "a dry run deleted jobs");
    assert_eq!(files(tmp.path()).len(), 15, "a dry run removed files");

    let done = delete(&db, request);
    assert_eq!(done["deleted"], json!(["job-3", "job-2", "job-1"]));
    assert_eq!(done["logs_removed"], json!([]), "logs go only when asked");
    assert_eq!(remaining(&db), ["job-4", "job-5", "job-6", "job-7"]);
    assert_eq!(files(tmp.path()).len(), 15);

    let nothing = delete(&db, json!({"filter": {"status": "stopped"}}));
    assert_eq!(nothing["deleted"], json!([]));
}

#[test]
fn remove_logs_removes_exactly_the_two_files_of_each_deleted_job() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    // job-7 stays and shares job-6's log names: those files must stay.
    let logs = tmp.path().join("logs");
    update(&db, r#"{"self_id":"job-7","logfile":"job-6"}"#);

    let done = delete(
        &db,
        json!({"filter": {"status": "finished", "last_update": {"$gte": "2024-05-05T00:00:00Z"}},
                                  "remove_logs": true}),
    );
    assert_eq!(done["deleted"], json!(["job-6", "job-5"]));
    let removed: Vec<String> = done["logs_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Path::new(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(removed, ["job-5_errors.txt", "job-5_out.txt"]);
    assert_eq!(done["logs_kept"].as_array().unwrap().len(), 2);
    assert_eq!(done["log_errors"], json!([]));
    assert!(logs.join("job-6_out.txt").exists());
    assert!(logs.join("unrelated.txt").exists());
    assert!(!logs.join("job-5_out.txt").exists());
}

#[test]
fn a_log_that_cannot_be_removed_is_reported_and_the_jobs_stay_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let logs = tmp.path().join("logs");
    std::fs::remove_file(logs.join("job-1_out.txt")).unwrap();
    std::fs::create_dir(logs.join("job-1_out.txt")).unwrap();

    let done = delete(
        &db,
        json!({"filter": {"self_id": "job-1"}, "remove_logs": true}),
    );
    assert_eq!(done["deleted"], json!(["job-1"]));
    assert_eq!(done["log_errors"][0]["error"]["code"], JOBDB_ERR_IO);
    assert!(
        done["log_errors"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("job-1_out.txt")
    );
    assert_eq!(remaining(&db).len(), 6);
}

#[test]
fn duplicate_rows_of_a_deleted_job_all_go() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let conn = rusqlite::Connection::open(tmp.path().join("db/jobs.db")).unwrap();
    conn.execute(
        "INSERT INTO process_status (_id, value) VALUES ('dup', \
         '{\"_id\":\"dup\",\"self_id\":\"job-2\",\"status\":\"finished\",\"last_update\":\"2024-01-01T00:00:00\"}')",
        [],
    )
    .unwrap();
    delete(&db, json!({"filter": {"self_id": "job-2"}}));
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM process_status WHERE json_extract(value, '$.self_id') = 'job-2'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn bad_requests_delete_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let cases = [
        (json!({}), "filter", "needs a filter; give \"filter\": {}"),
        (json!({"filter": null}), "filter", "a filter object"),
        (
            json!({"filter": {"stauts": "x"}}),
            "stauts",
            "not a filter field",
        ),
        (
            json!({"filter": {}, "keep_newest": -1}),
            "keep_newest",
            "whole number",
        ),
        (
            json!({"filter": {}, "dry_run": "yes"}),
            "dry_run",
            "true or false",
        ),
        (
            json!({"filter": {}, "everything": true}),
            "everything",
            "not a member",
        ),
    ];
    for (request, field, needle) in cases {
        let err = assert_error(
            call(jobdb_delete, &db, &request.to_string()),
            JOBDB_ERR_SCHEMA,
            needle,
        );
        assert_eq!(err["field"], field, "{request}");
    }
    assert_eq!(remaining(&db).len(), 7);

    let everything = delete(&db, json!({"filter": {}}));
    assert_eq!(everything["deleted"].as_array().unwrap().len(), 7);
    assert_eq!(list(&db, None), json!({}));
}

#[test]
fn kept_logs_are_listed_once_and_only_when_they_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(&tmp.path().join("db"));
    let logs = tmp.path().to_str().unwrap();
    for (id, status) in [("a", "finished"), ("b", "finished"), ("live", "running")] {
        let job = json!({"self_id": id, "status": status, "logdir": logs, "logfile": "shared"});
        update(&db, &job.to_string());
    }
    std::fs::write(tmp.path().join("shared_out.txt"), "x").unwrap();

    let done = delete(
        &db,
        json!({"filter": {"status": "finished"}, "remove_logs": true}),
    );
    assert_eq!(done["deleted"], json!(["b", "a"]));
    assert_eq!(done["logs_kept"], json!([format!("{logs}/shared_out.txt")]));
    assert_eq!(done["logs_removed"], json!([]));
    assert!(tmp.path().join("shared_out.txt").exists());
}
