//! The change feed: polling with a cursor sees every write, from jobdb or
//! from another writer, deletions included.

mod common;

use common::*;
use jobdb::ffi::*;
use serde_json::{Value, json};

fn changes(db: &Db, request: Value) -> Value {
    let (code, reply) = call(jobdb_changes, db, &request.to_string());
    assert_eq!(code, JOBDB_OK, "{request}: {reply}");
    reply
}

fn changed_ids(reply: &Value) -> Vec<String> {
    reply["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["self_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn polling_returns_only_what_changed_since_the_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    for id in ["a", "b", "c"] {
        update(
            &db,
            &json!({"self_id": id, "status": "running"}).to_string(),
        );
    }

    let first = changes(&db, json!({}));
    assert_eq!(changed_ids(&first), ["a", "b", "c"]);
    assert_eq!(first["changes"][1]["record"]["status"], "running");
    assert_eq!(first["more"], false);
    let (code, everything) = call_raw(jobdb_changes, &db, None);
    assert_eq!(
        (code, changed_ids(&everything)),
        (JOBDB_OK, vec!["a".into(), "b".into(), "c".into()])
    );

    let quiet = changes(&db, json!({"cursor": first["next_cursor"]}));
    assert_eq!(changed_ids(&quiet), Vec::<String>::new());
    assert_eq!(quiet["next_cursor"], first["next_cursor"]);

    update(&db, r#"{"self_id":"b","status":"finished"}"#);
    update(&db, r#"{"self_id":"d","status":"starting"}"#);
    update(&db, r#"{"self_id":"b","exit_code":0}"#);
    let second = changes(&db, json!({"cursor": quiet["next_cursor"]}));
    // Each job once, in the order of its latest change.
    assert_eq!(changed_ids(&second), ["d", "b"]);
    assert_eq!(second["changes"][1]["record"]["exit_code"], 0);
}

#[test]
fn deletions_and_other_writers_show_in_the_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"gone","status":"finished"}"#);
    let start = changes(&db, json!({}))["next_cursor"].clone();

    let (code, _) = call(jobdb_delete, &db, r#"{"filter":{"self_id":"gone"}}"#);
    assert_eq!(code, JOBDB_OK);
    // Another program writes the table directly, as nodejobs does: it
    // replaces a row by deleting and inserting it.
    let conn = rusqlite::Connection::open(tmp.path().join("jobs.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO process_status (_id, value) VALUES ('k1', \
         '{\"_id\":\"k1\",\"self_id\":\"foreign\",\"status\":\"running\",\"last_update\":\"2024-01-01T00:00:00\"}'); \
         DELETE FROM process_status WHERE _id = 'k1'; \
         INSERT INTO process_status (_id, value) VALUES ('k1', \
         '{\"_id\":\"k1\",\"self_id\":\"foreign\",\"status\":\"finished\",\"last_update\":\"2024-01-01T00:00:01\"}');",
    )
    .unwrap();

    let seen = changes(&db, json!({"cursor": start}));
    assert_eq!(changed_ids(&seen), ["gone", "foreign"]);
    assert_eq!(seen["changes"][0]["record"], Value::Null);
    assert_eq!(seen["changes"][1]["record"]["status"], "finished");
}

#[test]
fn a_limit_splits_the_feed_and_says_more() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    for n in 0..5 {
        update(
            &db,
            &json!({"self_id": format!("j{n}"), "status": "running"}).to_string(),
        );
    }
    let mut cursor = Value::Null;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let reply = changes(&db, json!({"cursor": cursor, "limit": 2}));
        seen.extend(changed_ids(&reply));
        cursor = reply["next_cursor"].clone();
        calls += 1;
        if reply["more"] == false {
            break;
        }
    }
    assert_eq!(seen, ["j0", "j1", "j2", "j3", "j4"]);
    assert_eq!(calls, 3);
}

#[test]
fn a_database_made_before_the_feed_is_fed_whole_and_cursors_stay_home() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let conn = rusqlite::Connection::open(old.join("jobs.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE process_status (_id TEXT PRIMARY KEY UNIQUE, value TEXT NOT NULL); \
         INSERT INTO process_status VALUES ('r1', '{\"_id\":\"r1\",\"self_id\":\"x\",\"status\":\"running\"}'); \
         INSERT INTO process_status VALUES ('r2', '{\"_id\":\"r2\",\"self_id\":\"y\",\"status\":\"stopped\"}');",
    )
    .unwrap();
    drop(conn);

    let db = open(&old);
    let feed = changes(&db, json!({}));
    assert_eq!(changed_ids(&feed), ["x", "y"]);

    let other = open(&tmp.path().join("other"));
    let err = assert_error(
        call(
            jobdb_changes,
            &other,
            &json!({"cursor": feed["next_cursor"]}).to_string(),
        ),
        JOBDB_ERR_SCHEMA,
        "another database",
    );
    assert_eq!(err["field"], "cursor");
    for bad in [
        json!({"cursor": "nope"}),
        json!({"cursor": 5}),
        json!({"limit": 0}),
        json!({"since": 1}),
    ] {
        assert_error(
            call(jobdb_changes, &db, &bad.to_string()),
            JOBDB_ERR_SCHEMA,
            "",
        );
    }
    // A query's cursor is not a feed cursor.
    let (_, page) = call(jobdb_query, &db, r#"{"limit":1}"#);
    assert_error(
        call(
            jobdb_changes,
            &db,
            &json!({"cursor": page["next_cursor"]}).to_string(),
        ),
        JOBDB_ERR_SCHEMA,
        "this is a query cursor; jobdb_changes takes",
    );
}

#[test]
fn from_now_skips_the_past() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"old","status":"finished"}"#);
    let now = changes(&db, json!({"from_now": true}));
    assert_eq!(changed_ids(&now), Vec::<String>::new());
    update(&db, r#"{"self_id":"new","status":"running"}"#);
    assert_eq!(
        changed_ids(&changes(&db, json!({"cursor": now["next_cursor"]}))),
        ["new"]
    );
    assert_error(
        call(
            jobdb_changes,
            &db,
            &json!({"from_now": true, "cursor": now["next_cursor"]}).to_string(),
        ),
        JOBDB_ERR_SCHEMA,
        "not both",
    );
}
