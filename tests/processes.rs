//! Several processes writing one database at once, with no daemon between
//! them. Workers are forked children; this file holds a single test so no
//! other test thread is running when it forks.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const UPDATES_PER_WORKER: i64 = 400;

/// Runs `work` in a child process and returns its pid. The child never
/// returns into the test harness: it exits 0 on success, 1 on a panic.
fn fork_worker(work: impl FnOnce()) -> libc::pid_t {
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        unsafe { libc::_exit(if outcome.is_ok() { 0 } else { 1 }) };
    }
    pid
}

fn wait_success(pid: libc::pid_t) {
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "worker {pid} failed with status {status}; its panic message is above"
    );
}

/// Writes `field` of job "shared" with rising values, and checks in every
/// record returned that the other worker's field never went backwards: a
/// lost update would put an older value back.
fn field_writer(dir: &Path, field: &str, other: &str) {
    let db = open(dir);
    let mut last_seen_other = Value::Null;
    for i in 0..UPDATES_PER_WORKER {
        let value = if field == "last_pid" {
            json!(i)
        } else {
            json!(format!("{i:06}"))
        };
        let record = update(&db, &json!({"self_id": "shared", field: value}).to_string());
        assert_eq!(record[field], value);

        let seen = record[other].clone();
        let went_back = match (&last_seen_other, &seen) {
            (Value::Number(a), Value::Number(b)) => b.as_i64() < a.as_i64(),
            (Value::String(a), Value::String(b)) => b < a,
            (Value::Null, _) => false,
            _ => true,
        };
        assert!(!went_back, "{other} went from {last_seen_other} to {seen}");
        last_seen_other = seen;
    }
}

#[test]
fn concurrent_processes_lose_no_update() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    update(&open(&dir), r#"{"self_id":"shared","status":"running"}"#);

    let mut workers = vec![
        fork_worker(|| field_writer(&dir, "last_pid", "cwd")),
        fork_worker(|| field_writer(&dir, "cwd", "last_pid")),
    ];
    // Two more processes on jobs of their own, and one that keeps listing.
    for w in 0..2 {
        let dir = dir.clone();
        workers.push(fork_worker(move || {
            let db = open(&dir);
            for i in 0..UPDATES_PER_WORKER {
                let job =
                    json!({"self_id": format!("own-{w}"), "status": "running", "last_pid": i});
                update(&db, &job.to_string());
            }
        }));
    }
    let lister_dir = dir.clone();
    workers.push(fork_worker(move || {
        let db = open(&lister_dir);
        for _ in 0..100 {
            assert!(list(&db, None).get("shared").is_some());
        }
    }));

    for pid in workers {
        wait_success(pid);
    }

    let db = open(&dir);
    let jobs = list(&db, None);
    let last = UPDATES_PER_WORKER - 1;
    assert_eq!(jobs["shared"]["last_pid"], last);
    assert_eq!(jobs["shared"]["cwd"], format!("{last:06}"));
    assert_eq!(jobs["own-0"]["last_pid"], last);
    assert_eq!(jobs["own-1"]["last_pid"], last);
    assert_eq!(jobs.as_object().unwrap().len(), 3);
}
