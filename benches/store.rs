//! jobdb through its C ABI against plain rusqlite doing the same work.
//!
//! Both sides work on one `jobs.db` that jobdb created, so they share the
//! table, its indexes and its change-log triggers, and both run with WAL,
//! `synchronous = NORMAL` and `temp_store = MEMORY`, jobdb's settings. jobdb's side is what a C
//! host pays: a C string of JSON in, a JSON reply out and freed. The
//! baseline is what a careful Rust programmer would write by hand: cached
//! prepared statements, the JSON changed inside SQLite with `json_set`,
//! and rows returned as the stored text, unparsed.
//!
//! Full run (sizes of 10,000, 100,000 and 1,000,000 jobs, about half an
//! hour): `make bench`. Sizes can be chosen with
//! `JOBDB_BENCH_JOBS=10000,100000 cargo bench --bench store`. Under
//! `cargo test` the program checks each benchmark once on 1,000 jobs.
//!
//! After criterion's own output, a table gives each operation's median on
//! both sides and their ratio, then the targets jobdb is held to.

mod support;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta, Utc};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use jobdb::ffi::*;
use rusqlite::Connection;
use serde_json::{Value, json};

use support::{Db, call, call_for_reply, human, median_ns, sizes_from_env};

const FULL_SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const TEST_SIZES: [usize; 1] = [1_000];

/// Jobs per `jobdb_update_many` call while the database is filled.
const FILL_BATCH: usize = 10_000;

/// The most jobs one time-window query returns.
const WINDOW_JOBS: usize = 1_000;

/// The most records in one batch update.
const MAX_BATCH: usize = 100_000;

const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The benchmarks in the order they run. `insert` comes last: it is the
/// only one that adds jobs, and the others should see exactly `jobs`.
const OPERATIONS: [&str; 7] = [
    "get",
    "list_status",
    "window",
    "count",
    "update",
    "batch",
    "insert",
];

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let default_sizes: &[usize] = if benchmarking {
        &FULL_SIZES
    } else {
        &TEST_SIZES
    };
    let sizes = sizes_from_env("JOBDB_BENCH_JOBS", default_sizes);
    let started = SystemTime::now();

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for &jobs in &sizes {
        bench_size(&mut criterion, jobs);
    }
    criterion.final_summary();

    if benchmarking {
        report(&sizes, started);
    }
}

/// The job at position `i` of a database: 1% are running, 9% failed and
/// the rest finished, one second apart from 2026-01-01 on.
fn job(i: usize) -> Value {
    json!({
        "self_id": job_id(i),
        "status": status_of(i),
        "last_update": time_of(i),
        "last_pid": 10_000 + i,
        "dirname": format!("job-{i}"),
        "cwd": "/srv/work",
        "logdir": "/var/log/jobs",
        "logfile": job_id(i),
        "command": "make -j2 all",
    })
}

fn job_id(i: usize) -> String {
    format!("job-{i:07}")
}

fn status_of(i: usize) -> &'static str {
    match i {
        i if i % 100 == 0 => "running",
        i if i % 10 == 1 => "failed",
        _ => "finished",
    }
}

fn time_of(i: usize) -> String {
    let start: NaiveDateTime = NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (start + TimeDelta::seconds(i as i64))
        .format(TIME_FORMAT)
        .to_string()
}

fn now() -> String {
    Utc::now().naive_utc().format(TIME_FORMAT).to_string()
}

/// Fills a new database with `jobs` jobs through jobdb itself.
fn fill(db: &Db, jobs: usize) {
    let started = Instant::now();
    for first in (0..jobs).step_by(FILL_BATCH) {
        let batch: Vec<Value> = (first..jobs.min(first + FILL_BATCH)).map(job).collect();
        call(jobdb_update_many, db, &Value::Array(batch).to_string());
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "filled {jobs} jobs in {seconds:.1} s ({:.0} jobs/s)",
        jobs as f64 / seconds
    );
}

/// The hand-written side: its own connection, configured as jobdb's.
fn baseline(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("jobs.db")).expect("open the baseline connection");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "temp_store", "MEMORY").unwrap();
    conn
}

const BASE_UPDATE: &str = "UPDATE process_status SET value = json_set(value, \
     '$.status', ?2, '$.last_pid', ?3, '$.last_update', ?4) \
     WHERE json_extract(value, '$.self_id') = ?1 RETURNING value";
const BASE_INSERT: &str = "INSERT INTO process_status (_id, value) VALUES (?1, ?2)";
const BASE_GET: &str = "SELECT value FROM process_status \
     WHERE json_extract(value, '$.self_id') = ?1";
const BASE_BY_STATUS: &str = "SELECT value FROM process_status \
     WHERE json_extract(value, '$.status') = ?1";
const BASE_WINDOW: &str = "SELECT value FROM process_status \
     WHERE json_extract(value, '$.last_update') >= ?1 \
     AND json_extract(value, '$.last_update') < ?2 \
     ORDER BY json_extract(value, '$.last_update')";
const BASE_COUNT: &str = "SELECT count(*) FROM process_status \
     WHERE json_extract(value, '$.status') = ?1";

/// Steps the statement to its end: a RETURNING statement left after its
/// first row, as `query_row` leaves it, is finished by the reset, which
/// measured twice as slow here.
fn base_update(conn: &Connection, i: usize, pid: usize) -> String {
    let mut statement = conn.prepare_cached(BASE_UPDATE).unwrap();
    let mut stored: Vec<String> = statement
        .query_map((job_id(i), status_of(i), pid, now()), |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(stored.len(), 1, "one row per job");
    stored.pop().unwrap()
}

fn bench_size(c: &mut Criterion, jobs: usize) {
    let folder = tempfile::Builder::new()
        .prefix("jobdb-bench-")
        .tempdir()
        .expect("a temporary folder");
    let db = Db::open(folder.path());
    fill(&db, jobs);
    let conn = baseline(folder.path());

    // Reads pick jobs spread over the whole table; writes go to the second
    // half, away from the time window, and keep each job's status, so that
    // every read sees the same result sizes throughout.
    let spread = |k: usize| (k * 7_919) % jobs;
    let second_half = |k: usize| jobs / 2 + k % (jobs / 2);
    let window_jobs = WINDOW_JOBS.min(jobs / 10);
    let window = (time_of(jobs / 4), time_of(jobs / 4 + window_jobs));
    let batch_size = (jobs / 10).min(MAX_BATCH);

    check_result_sizes(&db, &conn, jobs, &window, window_jobs);

    let mut group = c.benchmark_group("get");
    let mut k = 0;
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| {
            k += 1;
            let id = std::ffi::CString::new(job_id(spread(k))).unwrap();
            let mut reply = std::ptr::null_mut();
            let code = unsafe { jobdb_get_status(db.raw(), id.as_ptr(), &mut reply) };
            assert_eq!(code, JOBDB_OK);
            unsafe { jobdb_string_free(reply) };
        })
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| {
            k += 1;
            let text: String = conn
                .prepare_cached(BASE_GET)
                .unwrap()
                .query_row([job_id(spread(k))], |row| row.get(0))
                .unwrap();
            black_box(text)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("list_status");
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| call(jobdb_list_status, &db, r#"{"status":"running"}"#))
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| black_box(base_rows(&conn, BASE_BY_STATUS, &["running"])))
    });
    group.finish();

    let mut group = c.benchmark_group("window");
    let window_query = json!({
        "filter": {"last_update": {"$gte": window.0, "$lt": window.1}},
        "order_by": "last_update",
    })
    .to_string();
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| call(jobdb_query, &db, &window_query))
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| black_box(base_rows(&conn, BASE_WINDOW, &[&window.0, &window.1])))
    });
    group.finish();

    let mut group = c.benchmark_group("count");
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| call(jobdb_count, &db, r#"{"status":"running"}"#))
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| {
            let count: i64 = conn
                .prepare_cached(BASE_COUNT)
                .unwrap()
                .query_row(["running"], |row| row.get(0))
                .unwrap();
            black_box(count)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("update");
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| {
            k += 1;
            let i = second_half(k);
            let patch = json!({"self_id": job_id(i), "status": status_of(i), "last_pid": k});
            call(jobdb_update_status, &db, &patch.to_string());
        })
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| {
            k += 1;
            black_box(base_update(&conn, second_half(k), k))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(batch_size as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| {
            k += 1;
            let patches: Vec<Value> = (0..batch_size)
                .map(|n| {
                    let i = second_half(n);
                    json!({"self_id": job_id(i), "status": status_of(i), "last_pid": k})
                })
                .collect();
            call(jobdb_update_many, &db, &Value::Array(patches).to_string());
        })
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| {
            k += 1;
            let tx = conn.unchecked_transaction().unwrap();
            let stored: Vec<String> = (0..batch_size)
                .map(|n| base_update(&tx, second_half(n), k))
                .collect();
            tx.commit().unwrap();
            black_box(stored)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("insert");
    let mut fresh = 0;
    group.bench_function(BenchmarkId::new("jobdb", jobs), |b| {
        b.iter(|| {
            fresh += 1;
            let record = json!({"self_id": format!("new-{fresh}"), "status": "starting",
                                "last_pid": fresh, "cwd": "/srv/work"});
            call(jobdb_update_status, &db, &record.to_string());
        })
    });
    group.bench_function(BenchmarkId::new("rusqlite", jobs), |b| {
        b.iter(|| {
            fresh += 1;
            let key = uuid::Uuid::new_v4().to_string();
            let record = json!({"_id": key, "self_id": format!("new-{fresh}"),
                                "status": "starting", "last_update": now(),
                                "last_pid": fresh, "cwd": "/srv/work"});
            conn.prepare_cached(BASE_INSERT)
                .unwrap()
                .execute((&key, record.to_string()))
                .unwrap();
        })
    });
    group.finish();
}

/// The stored text of every row a query returns.
fn base_rows(conn: &Connection, sql: &str, args: &[&str]) -> Vec<String> {
    let mut statement = conn.prepare_cached(sql).unwrap();
    let rows = statement
        .query_map(rusqlite::params_from_iter(args), |row| row.get(0))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// Both sides must return the same jobs, or the comparison means nothing.
fn check_result_sizes(
    db: &Db,
    conn: &Connection,
    jobs: usize,
    window: &(String, String),
    window_jobs: usize,
) {
    let running = jobs.div_ceil(100);
    let listed = call_for_reply(jobdb_list_status, db, r#"{"status":"running"}"#);
    assert_eq!(listed.as_object().unwrap().len(), running);
    assert_eq!(base_rows(conn, BASE_BY_STATUS, &["running"]).len(), running);

    let query = json!({"filter": {"last_update": {"$gte": window.0, "$lt": window.1}}});
    let page = call_for_reply(jobdb_query, db, &query.to_string());
    assert_eq!(page["jobs"].as_array().unwrap().len(), window_jobs);
    assert_eq!(
        base_rows(conn, BASE_WINDOW, &[&window.0, &window.1]).len(),
        window_jobs
    );
}

/// The medians side by side, then the targets.
fn report(sizes: &[usize], started: SystemTime) {
    println!();
    println!("jobdb (C ABI, JSON in and out) against plain rusqlite; medians");
    println!(
        "{:<12} {:>9} {:>11} {:>11} {:>7} {:>14}",
        "operation", "jobs", "jobdb", "rusqlite", "ratio", "jobdb rate"
    );
    for operation in OPERATIONS {
        for &jobs in sizes {
            let Some(ours) = fresh_median(operation, "jobdb", jobs, started) else {
                continue;
            };
            let theirs = fresh_median(operation, "rusqlite", jobs, started);
            let ratio = theirs.map_or("-".into(), |theirs| format!("{:.2}", ours / theirs));
            let rate = match operation {
                "batch" => format!(
                    "{:.0} rec/s",
                    (jobs / 10).min(MAX_BATCH) as f64 * 1e9 / ours
                ),
                _ => format!("{:.0} /s", 1e9 / ours),
            };
            println!(
                "{operation:<12} {jobs:>9} {:>11} {:>11} {ratio:>7} {rate:>14}",
                human(ours),
                theirs.map_or("-".into(), human),
            );
        }
    }

    println!();
    println!("targets");
    for &jobs in sizes {
        let ours = fresh_median("update", "jobdb", jobs, started);
        let theirs = fresh_median("update", "rusqlite", jobs, started);
        if let (Some(ours), Some(theirs)) = (ours, theirs) {
            let ratio = ours / theirs;
            verdict(
                &format!("update at {jobs} jobs within 1.5x of rusqlite: {ratio:.2}x"),
                ratio <= 1.5,
            );
        }
    }
    let million = 1_000_000;
    if let Some(ns) = fresh_median("get", "jobdb", million, started) {
        let rate = 1e9 / ns;
        verdict(
            &format!("get at 1,000,000 jobs, 50,000 calls/s or more: {rate:.0}/s"),
            rate >= 50_000.0,
        );
    }
    if let Some(ns) = fresh_median("list_status", "jobdb", million, started) {
        verdict(
            &format!("list 1% of 1,000,000 jobs under 50 ms: {}", human(ns)),
            ns < 50e6,
        );
    }
    if let Some(ns) = fresh_median("batch", "jobdb", million, started) {
        let rate = MAX_BATCH as f64 * 1e9 / ns;
        verdict(
            &format!("batch of 100,000 updates, 200,000 records/s or more: {rate:.0}/s"),
            rate >= 200_000.0,
        );
    }
}

/// A median saved by this run; older files from earlier runs are ignored.
fn fresh_median(operation: &str, side: &str, jobs: usize, started: SystemTime) -> Option<f64> {
    let median = median_ns(operation, side, &jobs.to_string())?;
    let saved = support::saved_at(operation, side, &jobs.to_string())?;
    (saved >= started).then_some(median)
}

fn verdict(what: &str, met: bool) {
    println!("  {} {what}", if met { "met   " } else { "MISSED" });
}
