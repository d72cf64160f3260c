//! Queries through the C ABI: operators, order, pages and cursors, counts,
//! and the indexes behind them.

mod common;

use common::*;
use jobdb::ffi::*;
use jobdb::{JobFilter, Options, Store};
use serde_json::{Value, json};

/// 25 jobs: job-00 .. job-24, one minute apart from 12:00, every fifth
/// one failed, the others running, last_pid = n.
fn seeded(dir: &std::path::Path) -> Db {
    let db = open(dir);
    for n in 0..25 {
        let status = if n % 5 == 0 { "failed" } else { "running" };
        let job = json!({"self_id": format!("job-{n:02}"), "status": status, "last_pid": n,
                         "last_update": format!("2024-05-01T12:{n:02}:00Z")});
        update(&db, &job.to_string());
    }
    db
}

fn query(db: &Db, query: &Value) -> Value {
    let (code, reply) = call(jobdb_query, db, &query.to_string());
    assert_eq!(code, JOBDB_OK, "{query}: {reply}");
    reply
}

fn ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["self_id"].as_str().unwrap().to_owned())
        .collect()
}

fn count(db: &Db, filter: &str) -> u64 {
    let (code, reply) = call(jobdb_count, db, filter);
    assert_eq!(code, JOBDB_OK, "{reply}");
    reply["count"].as_u64().unwrap()
}

#[test]
fn operators_filter_lists_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let listed = |filter: &str| -> Vec<String> {
        list(&db, Some(filter))
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };

    assert_eq!(
        listed(r#"{"last_pid":{"$in":[1,2,30]}}"#),
        ["job-01", "job-02"]
    );
    assert_eq!(
        listed(r#"{"status":{"$ne":"running"},"last_pid":{"$gt":10}}"#),
        ["job-15", "job-20"]
    );
    assert_eq!(listed(r#"{"last_pid":{"$gte":23}}"#), ["job-23", "job-24"]);
    assert_eq!(listed(r#"{"last_pid":{"$lt":1}}"#), ["job-00"]);
    assert_eq!(listed(r#"{"last_pid":{"$lte":1,"$gt":0}}"#), ["job-01"]);
    // A time window with offsets compares instants: 14:03+02:00 is 12:03Z.
    assert_eq!(
        listed(
            r#"{"last_update":{"$gte":"2024-05-01T14:03:00+02:00","$lt":"2024-05-01T12:05:00Z"}}"#
        ),
        ["job-03", "job-04"]
    );

    assert_eq!(count(&db, "{}"), 25);
    assert_eq!(count(&db, r#"{"status":"failed"}"#), 5);
    assert_eq!(count(&db, r#"{"status":{"$in":["failed","running"]}}"#), 25);
    assert_eq!(count(&db, r#"{"status":"stopped"}"#), 0);
    let (code, reply) = call_raw(jobdb_count, &db, None);
    assert_eq!((code, reply["count"].as_u64()), (JOBDB_OK, Some(25)));
    assert_error(
        call(jobdb_count, &db, r#"{"state":"x"}"#),
        JOBDB_ERR_SCHEMA,
        "not a filter field",
    );
}

#[test]
fn stale_running_jobs_are_one_query() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let now = chrono::Utc::now();
    let ago = |minutes: i64| (now - chrono::Duration::minutes(minutes)).to_rfc3339();
    update(
        &db,
        &json!({"self_id": "fresh", "status": "running", "last_update": ago(2)}).to_string(),
    );
    update(
        &db,
        &json!({"self_id": "stale", "status": "running", "last_update": ago(30)}).to_string(),
    );
    update(
        &db,
        &json!({"self_id": "done", "status": "finished", "last_update": ago(30)}).to_string(),
    );

    let stale = query(
        &db,
        &json!({"filter": {"status": "running", "last_update": {"$lt": ago(10)}}}),
    );
    assert_eq!(ids(&stale), ["stale"]);
}

#[test]
fn pages_follow_each_other_in_either_order() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    for descending in [false, true] {
        for order_by in ["self_id", "last_update"] {
            let mut seen = Vec::new();
            let mut cursor = Value::Null;
            let mut pages = 0;
            loop {
                let mut request = json!({"order_by": order_by, "descending": descending, "limit": 10,
                                         "filter": {"status": "running"}});
                if !cursor.is_null() {
                    request["cursor"] = cursor.clone();
                }
                let page = query(&db, &request);
                seen.extend(ids(&page));
                pages += 1;
                cursor = page["next_cursor"].clone();
                if cursor.is_null() {
                    break;
                }
            }
            let mut expected: Vec<String> = (0..25)
                .filter(|n| n % 5 != 0)
                .map(|n| format!("job-{n:02}"))
                .collect();
            if descending {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{order_by} descending={descending}");
            assert_eq!(pages, 2, "20 jobs in pages of 10 end on the second page");
        }
    }
}

#[test]
fn a_cursor_survives_inserts_and_deletes_between_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let first = query(&db, &json!({"order_by": "last_update", "limit": 5}));
    assert_eq!(
        ids(&first),
        ["job-00", "job-01", "job-02", "job-03", "job-04"]
    );

    // Delete the next job and one already seen; insert one before the
    // cursor and one after it.
    let conn = rusqlite::Connection::open(tmp.path().join("jobs.db")).unwrap();
    conn.execute(
        "DELETE FROM process_status WHERE json_extract(value, '$.self_id') IN ('job-05', 'job-01')",
        [],
    )
    .unwrap();
    update(
        &db,
        r#"{"self_id":"early","status":"running","last_update":"2024-05-01T11:00:00Z"}"#,
    );
    update(
        &db,
        r#"{"self_id":"late","status":"running","last_update":"2024-05-01T12:06:30Z"}"#,
    );

    let second = query(
        &db,
        &json!({"order_by": "last_update", "limit": 5, "cursor": first["next_cursor"]}),
    );
    assert_eq!(
        ids(&second),
        ["job-06", "late", "job-07", "job-08", "job-09"]
    );
}

#[test]
fn the_last_page_has_no_cursor_and_an_empty_result_is_a_page() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let all = query(&db, &json!({"limit": 25}));
    assert_eq!(ids(&all).len(), 25);
    assert_eq!(all["next_cursor"], Value::Null);

    let none = query(&db, &json!({"filter": {"status": "stopped"}, "limit": 3}));
    assert_eq!(none, json!({"jobs": [], "next_cursor": null}));

    let (code, everything) = call_raw(jobdb_query, &db, None);
    assert_eq!(code, JOBDB_OK);
    assert_eq!(ids(&everything).len(), 25);
}

#[test]
fn bad_queries_and_foreign_cursors_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    let page = query(&db, &json!({"filter": {"status": "running"}, "limit": 2}));
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, feed) = call_raw(jobdb_changes, &db, None);
    let feed_cursor = feed["next_cursor"].as_str().unwrap();

    let cases = [
        (json!({"limit": 0}), "limit", "from 1 to 100000"),
        (json!({"limit": -5}), "limit", "from 1 to 100000"),
        (
            json!({"limit": 1_000_000_000u64}),
            "limit",
            "from 1 to 100000",
        ),
        (
            json!({"order_by": "status"}),
            "order_by",
            "one of self_id, last_update",
        ),
        (json!({"cursor": "garbage"}), "cursor", "not one jobdb made"),
        (
            json!({"cursor": feed_cursor}),
            "cursor",
            "this is a change-feed cursor; jobdb_query takes",
        ),
        (
            json!({"filter": {"status": "failed"}, "cursor": cursor}),
            "cursor",
            "another filter or order",
        ),
        (
            json!({"offset": 10}),
            "offset",
            "is not a member of a query",
        ),
    ];
    for (request, field, needle) in cases {
        let err = assert_error(
            call(jobdb_query, &db, &request.to_string()),
            JOBDB_ERR_SCHEMA,
            needle,
        );
        assert_eq!(err["field"], field, "{request}");
    }
}

#[test]
fn status_and_time_window_queries_use_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path(), &Options::default()).unwrap();
    for (filter, index) in [
        (
            r#"{"status":{"$in":["running","failed"]}}"#,
            "jobdb_by_status",
        ),
        (
            r#"{"last_update":{"$gte":"2024-05-01T00:00:00Z","$lt":"2024-05-02T00:00:00Z"}}"#,
            "jobdb_by_last_update",
        ),
    ] {
        let plan = store
            .explain_list(&JobFilter::parse(Some(filter)).unwrap())
            .unwrap()
            .join("\n");
        assert!(
            plan.contains(&format!("USING INDEX {index}")),
            "{filter}:\n{plan}"
        );
    }
}

#[test]
fn richer_fields_are_stored_filtered_and_ordered() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    for n in 0..4 {
        let job = json!({
            "self_id": format!("run-{n}"), "status": "finished", "exit_code": n % 2,
            "command": format!("make test-{n}"),
            "started_at": format!("2024-05-01T10:0{n}:00Z"),
            "ended_at": format!("2024-05-01T11:0{}:00+01:00", 3 - n),
            "metadata": {"owner": "ci", "attempt": n, "tags": ["nightly"]},
        });
        update(&db, &job.to_string());
    }

    let record = get(&db, "run-1");
    assert_eq!(record["exit_code"], 1);
    assert_eq!(record["command"], "make test-1");
    assert_eq!(record["started_at"], "2024-05-01T10:01:00.000000Z");
    assert_eq!(record["ended_at"], "2024-05-01T10:02:00.000000Z");
    assert_eq!(
        record["metadata"],
        json!({"owner": "ci", "attempt": 1, "tags": ["nightly"]})
    );

    // created_at is set once, on the first write, and never moves.
    let created = record["created_at"].clone();
    assert!(created.is_string());
    let again = update(
        &db,
        r#"{"self_id":"run-1","status":"archived","metadata":null}"#,
    );
    assert_eq!(again["created_at"], created);
    assert_eq!(again["metadata"], Value::Null);
    assert_error(
        call(
            jobdb_update_status,
            &db,
            r#"{"self_id":"run-1","created_at":"2024-01-01T00:00:00Z"}"#,
        ),
        JOBDB_ERR_SCHEMA,
        "created_at is set once",
    );

    // A record read back can be written back as it is, created_at and all.
    let mut round_trip = get(&db, "run-2");
    round_trip["status"] = json!("archived");
    let written = update(&db, &round_trip.to_string());
    assert_eq!(written["created_at"], round_trip["created_at"]);
    assert_eq!(written["status"], "archived");

    let failed = list(&db, Some(r#"{"exit_code":{"$ne":0}}"#));
    assert_eq!(
        failed.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["run-1", "run-3"]
    );
    let by_end = query(&db, &json!({"order_by": "ended_at"}));
    assert_eq!(ids(&by_end), ["run-3", "run-2", "run-1", "run-0"]);
    let started_late = query(
        &db,
        &json!({"filter": {"started_at": {"$gte": "2024-05-01T12:02:00+02:00"}}, "order_by": "started_at", "descending": true}),
    );
    assert_eq!(ids(&started_late), ["run-3", "run-2"]);

    for (bad, field) in [
        (
            r#"{"self_id":"x","status":"s","exit_code":"1"}"#,
            "exit_code",
        ),
        (r#"{"self_id":"x","status":"s","metadata":[1]}"#, "metadata"),
        (
            r#"{"self_id":"x","status":"s","started_at":"soon"}"#,
            "started_at",
        ),
        (r#"{"self_id":"x","status":"s","command":7}"#, "command"),
    ] {
        let err = assert_error(call(jobdb_update_status, &db, bad), JOBDB_ERR_SCHEMA, "");
        assert_eq!(err["field"], field);
    }
    assert_error(
        call(jobdb_list_status, &db, r#"{"metadata":null}"#),
        JOBDB_ERR_SCHEMA,
        "cannot be filtered",
    );

    // The first write may give created_at, say when copying a job over.
    let copied = update(
        &db,
        r#"{"self_id":"copied","status":"finished","exit_code":0,"created_at":"2023-01-01T00:00:00+01:00"}"#,
    );
    assert_eq!(copied["created_at"], "2022-12-31T23:00:00.000000Z");
}

#[test]
fn a_precondition_that_fails_writes_nothing_and_returns_the_current_record() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    update(&db, r#"{"self_id":"j","status":"starting","last_pid":1}"#);
    let if_status = |job: &str, condition: &str| {
        let job = c(job);
        let condition = c(condition);
        let mut out = std::ptr::null_mut();
        let code =
            unsafe { jobdb_update_status_if(db.0, job.as_ptr(), condition.as_ptr(), &mut out) };
        (code, take_json(out))
    };

    let (code, record) = if_status(
        r#"{"self_id":"j","status":"running"}"#,
        r#"{"status":"starting"}"#,
    );
    assert_eq!(code, JOBDB_OK, "{record}");
    assert_eq!(record["status"], "running");

    // Another process stopped the job; a late "running" must not undo it.
    update(&db, r#"{"self_id":"j","status":"stopped"}"#);
    let before = get(&db, "j");
    let err = assert_error(
        if_status(
            r#"{"self_id":"j","status":"running","last_pid":2}"#,
            r#"{"status":{"$in":["starting","running"]}}"#,
        ),
        JOBDB_ERR_CONFLICT,
        "precondition does not hold",
    );
    assert_eq!(err["current"], before);
    assert_eq!(get(&db, "j"), before);

    assert_error(
        if_status(
            r#"{"self_id":"ghost","status":"running"}"#,
            r#"{"status":"starting"}"#,
        ),
        JOBDB_ERR_NOT_FOUND,
        "\"ghost\"",
    );
    assert_error(
        if_status(r#"{"self_id":"j"}"#, r#"{"stat":"x"}"#),
        JOBDB_ERR_SCHEMA,
        "not a filter field",
    );
    let job = c(r#"{"self_id":"j"}"#);
    let mut out = std::ptr::null_mut();
    let code = unsafe { jobdb_update_status_if(db.0, job.as_ptr(), std::ptr::null(), &mut out) };
    assert_error(
        (code, take_json(out)),
        JOBDB_ERR_INVALID_ARGUMENT,
        "condition_json is NULL",
    );
}

#[test]
fn a_batch_is_all_or_nothing_and_names_the_bad_record() {
    let tmp = tempfile::tempdir().unwrap();
    let db = open(tmp.path());
    let (code, reply) = call(
        jobdb_update_many,
        &db,
        r#"[{"self_id":"a","status":"running"},{"self_id":"b","status":"running"},
            {"self_id":"a","last_pid":7}]"#,
    );
    assert_eq!(code, JOBDB_OK, "{reply}");
    let jobs = reply["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[2]["last_pid"], 7);
    assert_eq!(jobs[2]["status"], "running");
    let before = list(&db, None);

    let cases = [
        (
            r#"[{"self_id":"c","status":"x"},{"self_id":"d","last_pid":"1"}]"#,
            1,
            "last_pid",
        ),
        (
            r#"[{"self_id":"c","status":"x"},{"self_id":"new-without-status"}]"#,
            1,
            "status",
        ),
        (
            r#"[{"self_id":"c","status":"x"},[],{"self_id":"e","status":"x"}]"#,
            1,
            "",
        ),
    ];
    for (batch, index, field) in cases {
        let err = assert_error(
            call(jobdb_update_many, &db, batch),
            JOBDB_ERR_SCHEMA,
            "record",
        );
        assert_eq!(err["index"], index, "{batch}: {err}");
        if !field.is_empty() {
            assert_eq!(err["field"], field, "{batch}: {err}");
        }
        assert_eq!(list(&db, None), before, "a refused batch wrote something");
    }
    assert_error(
        call(jobdb_update_many, &db, r#"{"self_id":"a"}"#),
        JOBDB_ERR_SCHEMA,
        "JSON array",
    );
    assert_error(
        call(jobdb_update_many, &db, "[{"),
        JOBDB_ERR_MALFORMED_JSON,
        "not valid JSON",
    );
    let (code, reply) = call(jobdb_update_many, &db, "[]");
    assert_eq!((code, reply), (JOBDB_OK, json!({"jobs": []})));
}

#[test]
fn a_key_twice_in_a_nested_object_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = seeded(tmp.path());
    for (call_fn, text) in [
        (jobdb_count as JsonCall, r#"{"last_pid":{"$gt":1,"$gt":5}}"#),
        (
            jobdb_query,
            r#"{"filter":{"status":"x","status":"running"}}"#,
        ),
        (
            jobdb_update_status,
            r#"{"self_id":"job-01","metadata":{"a":1,"a":2}}"#,
        ),
    ] {
        assert_error(
            call(call_fn, &db, text),
            JOBDB_ERR_SCHEMA,
            "appears twice in one object",
        );
    }
}

type JsonCall = unsafe extern "C" fn(
    *mut JobDb,
    *const std::ffi::c_char,
    *mut *mut std::ffi::c_char,
) -> std::ffi::c_int;
