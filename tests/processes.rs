//! Several processes writing one database at once, with no daemon between
//! them. Workers are forked children. Forking is only safe while no other
//! thread of this process holds a lock, so this file holds one test that
//! runs its scenarios one after the other.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

use common::load;

#[test]
fn many_processes_share_one_database() {
    two_processes_updating_different_fields_lose_nothing();
    eight_writers_and_two_readers_lose_nothing();
    killed_writers_lose_no_acknowledged_update();
}

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

fn row_count(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("jobs.db")).unwrap();
    conn.query_row("SELECT count(*) FROM process_status", [], |row| row.get(0))
        .unwrap()
}

// ---------------------------------------------------------------------
// Two processes, one job, different fields.

const FIELD_UPDATES: i64 = 400;

/// Writes `field` of job "shared" with rising values, and checks in every
/// record returned that the other worker's field never went backwards: a
/// lost update would put an older value back.
fn field_writer(dir: &Path, field: &str, other: &str) {
    let db = open(dir);
    let mut last_seen_other = Value::Null;
    for i in 0..FIELD_UPDATES {
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

fn two_processes_updating_different_fields_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    update(&open(dir), r#"{"self_id":"shared","status":"running"}"#);

    let workers = [
        fork_worker(|| field_writer(dir, "last_pid", "cwd")),
        fork_worker(|| field_writer(dir, "cwd", "last_pid")),
    ];
    for pid in workers {
        wait_success(pid);
    }

    let job = get(&open(dir), "shared");
    let last = FIELD_UPDATES - 1;
    assert_eq!(job["last_pid"], last);
    assert_eq!(job["cwd"], format!("{last:06}"));
    assert_eq!(row_count(dir), 1);
}

// ---------------------------------------------------------------------
// Eight writers on their own and on shared jobs, two readers listing.

fn load_writer(dir: &Path, writer: i64) {
    let db = open(dir);
    for step in 0..load::UPDATES_PER_WRITER {
        update(&db, &load::job(writer, step).to_string());
    }
}

/// Lists while the writers write: every listing must succeed, and jobs
/// once seen never disappear.
fn load_reader(dir: &Path, deadline: Instant) {
    let db = open(dir);
    let mut seen = 0;
    while Instant::now() < deadline {
        let count = list(&db, None).as_object().unwrap().len();
        assert!(count >= seen, "a listing lost jobs: {seen} then {count}");
        seen = count;
        if count == (load::WRITERS + load::SHARED_JOBS) as usize {
            break;
        }
    }
}

fn eight_writers_and_two_readers_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    drop(open(dir));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let mut workers: Vec<_> = (0..load::WRITERS)
        .map(|writer| fork_worker(move || load_writer(dir, writer)))
        .collect();
    workers.extend((0..2).map(|_| fork_worker(move || load_reader(dir, deadline))));
    for pid in workers {
        wait_success(pid);
    }
    let elapsed = started.elapsed();

    load::check(&list(&open(dir), None));
    assert_eq!(row_count(dir), load::WRITERS + load::SHARED_JOBS);

    let updates = load::WRITERS * load::UPDATES_PER_WRITER;
    println!(
        "load: {} processes x {} updates = {updates} updates with 2 readers \
         listing, 0 errors, 0 lost, in {elapsed:.2?}",
        load::WRITERS,
        load::UPDATES_PER_WRITER
    );
}

// ---------------------------------------------------------------------
// Writers killed with SIGKILL at random moments.

const KILLS: usize = 20;

/// Updates job "killed" with a rising `last_pid`, and after each update
/// that returned JOBDB_OK, writes its number to `ack_fd`.
fn acknowledging_writer(dir: &Path, first: i64, ack_fd: i32) -> ! {
    let db = open(dir);
    for number in first.. {
        update(
            &db,
            &json!({"self_id": "killed", "last_pid": number}).to_string(),
        );
        let bytes = number.to_le_bytes();
        let written = unsafe { libc::write(ack_fd, bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(written, bytes.len() as isize);
    }
    unreachable!("the writer runs until it is killed")
}

fn killed_writers_lose_no_acknowledged_update() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    update(
        &open(dir),
        r#"{"self_id":"killed","status":"running","last_pid":0}"#,
    );
    let mut total_acknowledged = 0;

    for _ in 0..KILLS {
        let first = get(&open(dir), "killed")["last_pid"].as_i64().unwrap() + 1;
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read_fd, write_fd] = fds;

        let pid = fork_worker(move || {
            unsafe { libc::close(read_fd) };
            acknowledging_writer(dir, first, write_fd)
        });
        unsafe { libc::close(write_fd) };

        std::thread::sleep(Duration::from_micros(fastrand::u64(2_000..40_000)));
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFSIGNALED(status),
            "the writer ended on its own: {status}"
        );

        let mut acks = Vec::new();
        let mut reader = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(read_fd) });
        reader.read_to_end(&mut acks).unwrap();
        let last_acknowledged = acks
            .chunks_exact(8)
            .map(|chunk| i64::from_le_bytes(chunk.try_into().unwrap()))
            .next_back();
        total_acknowledged += acks.len() / 8;

        let conn = rusqlite::Connection::open(dir.join("jobs.db")).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);

        let stored = get(&open(dir), "killed")["last_pid"].as_i64().unwrap();
        if let Some(acknowledged) = last_acknowledged {
            // The kill may land after a commit and before its
            // acknowledgement, so one more than acknowledged is fine.
            assert!(
                stored == acknowledged || stored == acknowledged + 1,
                "acknowledged {acknowledged}, stored {stored}"
            );
        }
    }
    println!(
        "kill: {KILLS} writers killed with SIGKILL after 2-40 ms, \
         {total_acknowledged} acknowledged updates, 0 lost, integrity ok"
    );
}
