//! The storage core against states only another writer can leave: several
//! rows for one job, rows jobdb cannot read, and the query plans behind
//! filters.

use jobdb::{Code, JobFilter, JobPatch, Options, Store};
use rusqlite::Connection;
use serde_json::json;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &Options::default()).unwrap()
}

fn patch(json: &str) -> JobPatch {
    JobPatch::parse(json).unwrap()
}

fn filter(json: &str) -> JobFilter {
    JobFilter::parse(Some(json)).unwrap()
}

/// Inserts a row the way nodejobs lays them out, `_id` inside the JSON too.
fn insert_raw(conn: &Connection, key: &str, value: serde_json::Value) {
    let mut value = value;
    value["_id"] = json!(key);
    conn.execute(
        "INSERT INTO process_status (_id, value) VALUES (?1, ?2)",
        (key, value.to_string()),
    )
    .unwrap();
}

fn row_count(conn: &Connection, self_id: &str) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM process_status WHERE json_extract(value, '$.self_id') = ?1",
        [self_id],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn duplicate_rows_read_as_the_newest_and_collapse_into_it_on_update() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let conn = Connection::open(store.path()).unwrap();

    // Inserted newest first, so neither insertion order nor key order
    // could explain which row wins.
    insert_raw(
        &conn,
        "k-b",
        json!({"self_id": "dup", "status": "finished",
        "last_update": "2024-05-01T12:00:05", "cwd": "/new"}),
    );
    insert_raw(
        &conn,
        "k-a",
        json!({"self_id": "dup", "status": "running",
        "last_update": "2024-05-01T12:00:00.500000", "last_pid": 41, "cwd": "/old"}),
    );
    assert_eq!(row_count(&conn, "dup"), 2);

    let job = store.get_status("dup").unwrap();
    assert_eq!(job.status, "finished");
    assert_eq!(job.cwd.as_deref(), Some("/new"));

    let all = store.list_status(&JobFilter::default()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all["dup"].status, "finished");
    // The stale row's status must not make the job match.
    assert!(
        store
            .list_status(&filter(r#"{"status":"running"}"#))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_status(&filter(r#"{"cwd":"/new"}"#))
            .unwrap()
            .len(),
        1
    );

    let updated = store
        .update_status(&patch(r#"{"self_id":"dup","dirname":"d"}"#))
        .unwrap();
    assert_eq!(row_count(&conn, "dup"), 1);
    assert_eq!(updated.status, "finished");
    assert_eq!(updated.cwd.as_deref(), Some("/new"));
    // The update goes over the record reads showed; the stale row's
    // last_pid, never shown, does not come back.
    assert_eq!(updated.last_pid, None);
    assert_eq!(updated.dirname.as_deref(), Some("d"));

    let remaining_key: String = conn
        .query_row("SELECT _id FROM process_status", [], |row| row.get(0))
        .unwrap();
    let inner_key: String = conn
        .query_row(
            "SELECT json_extract(value, '$._id') FROM process_status",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(remaining_key, "k-b");
    assert_eq!(inner_key, "k-b");
}

#[test]
fn equal_times_fall_back_to_the_row_inserted_last() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let conn = Connection::open(store.path()).unwrap();
    let time = "2024-05-01T12:00:00";
    insert_raw(
        &conn,
        "z-first",
        json!({"self_id": "t", "status": "one", "last_update": time}),
    );
    insert_raw(
        &conn,
        "a-second",
        json!({"self_id": "t", "status": "two", "last_update": time}),
    );

    assert_eq!(store.get_status("t").unwrap().status, "two");
    assert_eq!(
        store.list_status(&JobFilter::default()).unwrap()["t"].status,
        "two"
    );
}

#[test]
fn fields_other_writers_stored_are_kept_and_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let conn = Connection::open(store.path()).unwrap();
    insert_raw(
        &conn,
        "k",
        json!({"self_id": "x", "status": "running",
        "last_update": "2024-05-01T12:00:00", "owner": {"team": "ops"}}),
    );

    let updated = store
        .update_status(&patch(r#"{"self_id":"x","status":"finished"}"#))
        .unwrap();
    assert_eq!(updated.extra["owner"], json!({"team": "ops"}));
    let text: String = conn
        .query_row("SELECT value FROM process_status", [], |row| row.get(0))
        .unwrap();
    assert!(text.contains(r#""owner":{"team":"ops"}"#), "{text}");
}

#[test]
fn unreadable_rows_are_reported_by_key_and_never_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let conn = Connection::open(store.path()).unwrap();
    insert_raw(
        &conn,
        "bad-pid",
        json!({"self_id": "p", "status": "x",
        "last_update": "2024-05-01T12:00:00", "last_pid": "forty"}),
    );

    let err = store.get_status("p").unwrap_err();
    assert_eq!(err.code, Code::Corrupt);
    assert!(
        err.message.contains("\"bad-pid\"")
            && err.message.contains("last_pid")
            && err
                .message
                .contains("update the job giving this field a new value"),
        "{err}"
    );

    let err = store
        .update_status(&patch(r#"{"self_id":"p","cwd":"/x"}"#))
        .unwrap_err();
    assert_eq!(err.code, Code::Corrupt);
    let text: String = conn
        .query_row("SELECT value FROM process_status", [], |row| row.get(0))
        .unwrap();
    assert!(!text.contains("/x"), "a failed update wrote: {text}");

    // Overwriting the bad field repairs the row.
    let fixed = store
        .update_status(&patch(r#"{"self_id":"p","last_pid":40}"#))
        .unwrap();
    assert_eq!(fixed.last_pid, Some(40));
}

#[test]
fn filters_and_id_lookups_use_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let cases = [
        (r#"{"status":"running"}"#, "jobdb_by_status"),
        (r#"{"self_id":"a"}"#, "jobdb_by_self_id"),
        (
            r#"{"last_update":"2024-05-01T12:00:00Z"}"#,
            "jobdb_by_last_update",
        ),
    ];
    let plans = |store: &Store| {
        cases.map(|(json, index)| {
            let plan = store.explain_list(&filter(json)).unwrap().join("\n");
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{json}:\n{plan}"
            );
            assert!(
                !plan.contains("SCAN p\n") && !plan.ends_with("SCAN p"),
                "{json}:\n{plan}"
            );
            plan
        })
    };

    // Only jobdb has written: no job has two rows, and no read looks
    // for them.
    for plan in plans(&store) {
        assert!(!plan.contains("SUBQUERY"), "{plan}");
    }

    // Another writer leaves two rows for one job: from then on every
    // read hides the older, probing the self_id index, not the table.
    let conn = Connection::open(store.path()).unwrap();
    for key in ["k-1", "k-2"] {
        insert_raw(&conn, key, json!({"self_id": "twice", "status": "running"}));
    }
    for plan in plans(&store) {
        assert!(
            plan.contains("SEARCH q USING INDEX jobdb_by_self_id"),
            "{plan}"
        );
    }
}

#[test]
fn rows_that_share_an_id_are_noticed_whoever_made_them() {
    let marked = |path: &std::path::Path| -> bool {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM jobdb_meta WHERE key = 'duplicate_self_ids')",
            [],
            |row| row.get(0),
        )
        .unwrap()
    };

    // Left by nodejobs before jobdb first opened the database.
    let tmp = tempfile::tempdir().unwrap();
    let conn = Connection::open(tmp.path().join("jobs.db")).unwrap();
    conn.execute(
        "CREATE TABLE process_status (_id TEXT PRIMARY KEY UNIQUE, value TEXT NOT NULL)",
        [],
    )
    .unwrap();
    let rows = [
        ("k-1", "running", "2024-05-01T12:00:00"),
        ("k-2", "finished", "2024-05-01T12:00:05"),
    ];
    for (key, status, time) in rows {
        insert_raw(
            &conn,
            key,
            json!({"self_id": "old", "status": status, "last_update": time}),
        );
    }
    insert_raw(
        &conn,
        "k-3",
        json!({"self_id": "single", "status": "running"}),
    );
    drop(conn);
    let store = open(tmp.path());
    assert!(marked(store.path()));
    let running = store
        .list_status(&filter(r#"{"status":"running"}"#))
        .unwrap();
    assert_eq!(running.keys().collect::<Vec<_>>(), ["single"]);

    // Made by an update that moves a row to an id another row has.
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    for id in ["a", "b"] {
        store
            .update_status(&patch(&format!(
                r#"{{"self_id":"{id}","status":"running"}}"#
            )))
            .unwrap();
    }
    assert!(!marked(store.path()));
    let conn = Connection::open(store.path()).unwrap();
    conn.execute(
        "UPDATE process_status SET value = json_set(value, '$.self_id', 'a') \
         WHERE json_extract(value, '$.self_id') = 'b'",
        [],
    )
    .unwrap();
    assert!(marked(store.path()));
    assert_eq!(store.count(&JobFilter::default()).unwrap(), 1);
}

#[test]
fn reopening_keeps_data_and_does_not_rebuild_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = open(tmp.path());
        store
            .update_status(&patch(r#"{"self_id":"a","status":"running"}"#))
            .unwrap();
    }
    let store = open(tmp.path());
    assert_eq!(store.get_status("a").unwrap().status, "running");

    let conn = Connection::open(store.path()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let indexes: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'jobdb_%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 6);
}

#[test]
fn a_table_of_another_shape_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let conn = Connection::open(tmp.path().join("jobs.db")).unwrap();
    conn.execute("CREATE TABLE process_status (id INTEGER, data BLOB)", [])
        .unwrap();
    drop(conn);

    let err = Store::open(tmp.path(), &Options::default()).err().unwrap();
    assert_eq!(err.code, Code::Corrupt);
    assert!(err.message.contains("not (_id, value)"), "{err}");
}
