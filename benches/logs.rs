//! Reading logs through the C ABI, against reading the file by hand.
//!
//! Two jobs: one with a 1 MiB stdout (and an empty stderr), read whole by
//! `jobdb_job_logs` and by one `jobdb_read_log` call; one with a 1 GiB
//! stderr, whose last 20 lines and last 64 KiB `jobdb_read_log` returns. The baseline is what a
//! host would write without jobdb: `std::fs::read` and a lossy UTF-8
//! decode for the whole file; a seek to 64 KiB before the end for the tail.
//! Both sides read from the page cache: the files were just written.
//!
//! After criterion's figures, a child process (this program, started again)
//! opens the database and reads the tail of the 1 GiB log 100 times, then
//! reports its peak resident memory; a second child only opens the
//! database, so the difference is what the tail reads cost in memory.
//!
//! Full run: `make bench` or `cargo bench --bench logs`. The size of the
//! large log can be chosen in MiB with `JOBDB_BENCH_HUGE_LOG_MIB`. Under
//! `cargo test` the program checks each benchmark once, with a 24 MiB log,
//! still over the 16 MiB that `jobdb_job_logs` reads whole.

mod support;

use std::ffi::CString;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::ptr;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use jobdb::ffi::*;
use serde_json::json;

use support::{Db, call, call_for_reply, human, median_ns, saved_at};

const MIB: u64 = 1024 * 1024;
const SMALL_LOG_BYTES: u64 = MIB;
const FULL_HUGE_LOG_MIB: u64 = 1024;
const TEST_HUGE_LOG_MIB: u64 = 24;

/// How many tails the memory child reads.
const CHILD_TAILS: usize = 100;
/// Set in the environment of a child started to measure memory; its value
/// is the database folder.
const CHILD_VARIABLE: &str = "JOBDB_BENCH_RSS_CHILD";
/// What the child does: "tail" or "open".
const CHILD_MODE_VARIABLE: &str = "JOBDB_BENCH_RSS_MODE";

const TAIL_LINES: u64 = 20;
const TAIL_BYTES: u64 = 64 * 1024;

/// The job with the 1 MiB stdout, and the one with the large stderr.
const SMALL_JOB: &str = "small";
const HUGE_JOB: &str = "huge";

fn main() {
    if let Ok(dir) = std::env::var(CHILD_VARIABLE) {
        let mode = std::env::var(CHILD_MODE_VARIABLE).unwrap_or_default();
        memory_child(Path::new(&dir), &mode);
        return;
    }

    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let default_mib = if benchmarking {
        FULL_HUGE_LOG_MIB
    } else {
        TEST_HUGE_LOG_MIB
    };
    let huge_mib = support::sizes_from_env("JOBDB_BENCH_HUGE_LOG_MIB", &[default_mib as usize])[0];
    let huge_bytes = huge_mib as u64 * MIB;
    let started = SystemTime::now();

    let folder = tempfile::Builder::new()
        .prefix("jobdb-bench-logs-")
        .tempdir()
        .expect("a temporary folder");
    let logdir = folder.path().join("logs");
    std::fs::create_dir(&logdir).unwrap();
    let small_path = logdir.join(format!("{SMALL_JOB}_out.txt"));
    let huge_path = logdir.join(format!("{HUGE_JOB}_errors.txt"));
    write_log(&small_path, SMALL_LOG_BYTES);
    write_log(&logdir.join(format!("{SMALL_JOB}_errors.txt")), 0);
    write_log(&huge_path, huge_bytes);
    write_log(&logdir.join(format!("{HUGE_JOB}_out.txt")), 0);

    let db = Db::open(&folder.path().join("db"));
    for id in [SMALL_JOB, HUGE_JOB] {
        let record = json!({"self_id": id, "status": "finished",
                            "logdir": logdir.to_str().unwrap(), "logfile": id});
        call(jobdb_update_status, &db, &record.to_string());
    }
    check_replies(&db, huge_bytes);

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_full_read(&mut criterion, &db, &small_path);
    bench_tail(&mut criterion, &db, &huge_path);
    criterion.final_summary();

    // Cheap enough to run under `cargo test` too, so it cannot rot.
    let peak = measure_memory(&folder.path().join("db"), huge_mib as u64);
    if benchmarking {
        report(started, huge_mib as u64, peak);
    }
}

/// Writes `bytes` bytes of numbered lines, about 80 bytes each, in 1 MiB
/// blocks so that writing a large log needs little memory.
fn write_log(path: &Path, bytes: u64) {
    let started = Instant::now();
    let mut out = BufWriter::with_capacity(MIB as usize, File::create(path).unwrap());
    let mut written = 0;
    let mut line_number = 0u64;
    while written < bytes {
        line_number += 1;
        let line = format!(
            "{line_number:010} step {} of the build: compiled a unit and linked it\n",
            line_number % 997
        );
        let take = line.len().min((bytes - written) as usize);
        out.write_all(&line.as_bytes()[..take]).unwrap();
        written += take as u64;
    }
    out.flush().unwrap();
    if bytes >= 64 * MIB {
        eprintln!(
            "wrote a {} MiB log in {:.1} s",
            bytes / MIB,
            started.elapsed().as_secs_f64()
        );
    }
}

fn tail_lines_request() -> String {
    json!({"self_id": HUGE_JOB, "stream": "stderr", "tail_lines": TAIL_LINES}).to_string()
}

fn tail_bytes_request() -> String {
    json!({"self_id": HUGE_JOB, "stream": "stderr", "tail_bytes": TAIL_BYTES}).to_string()
}

fn full_range_request() -> String {
    json!({"self_id": SMALL_JOB, "stream": "stdout", "max_bytes": SMALL_LOG_BYTES}).to_string()
}

/// Every benchmark must return what it claims to, or its time means
/// nothing.
fn check_replies(db: &Db, huge_bytes: u64) {
    let logs = call_for_reply(jobdb_job_logs, db, SMALL_JOB);
    let stdout = logs["stdout"]["text"].as_str().expect("stdout was read");
    assert_eq!(stdout.len() as u64, SMALL_LOG_BYTES);
    assert_eq!(logs["stderr"]["text"], "");

    // Too large to read whole: only the range calls below can read it.
    let logs = call_for_reply(jobdb_job_logs, db, HUGE_JOB);
    assert_eq!(logs["stderr"]["error"]["name"], "JOBDB_ERR_TOO_LARGE");

    let whole = call_for_reply(jobdb_read_log, db, &full_range_request());
    assert_eq!(
        whole["text"].as_str().unwrap().len() as u64,
        SMALL_LOG_BYTES
    );
    assert_eq!(whole["eof"], true);

    let tail = call_for_reply(jobdb_read_log, db, &tail_lines_request());
    assert_eq!(tail["size"], huge_bytes);
    assert_eq!(tail["next_offset"], huge_bytes);
    let lines = tail["text"].as_str().unwrap().lines().count() as u64;
    assert_eq!(lines, TAIL_LINES);

    let tail = call_for_reply(jobdb_read_log, db, &tail_bytes_request());
    assert_eq!(tail["text"].as_str().unwrap().len() as u64, TAIL_BYTES);
}

fn bench_full_read(c: &mut Criterion, db: &Db, path: &Path) {
    let mut group = c.benchmark_group("log_full_1MiB");
    group.bench_function("jobdb_job_logs", |b| {
        b.iter(|| call(jobdb_job_logs, db, SMALL_JOB))
    });
    let request = full_range_request();
    group.bench_function("jobdb_read_log", |b| {
        b.iter(|| call(jobdb_read_log, db, &request))
    });
    group.bench_function("std_fs_read", |b| {
        b.iter(|| {
            let bytes = std::fs::read(path).unwrap();
            black_box(String::from_utf8_lossy(&bytes).into_owned())
        })
    });
    group.finish();
}

fn bench_tail(c: &mut Criterion, db: &Db, path: &Path) {
    let mut group = c.benchmark_group("log_tail_huge");
    let lines = tail_lines_request();
    group.bench_function("jobdb_tail_lines", |b| {
        b.iter(|| call(jobdb_read_log, db, &lines))
    });
    let bytes = tail_bytes_request();
    group.bench_function("jobdb_tail_bytes", |b| {
        b.iter(|| call(jobdb_read_log, db, &bytes))
    });
    group.bench_function("std_seek_tail_bytes", |b| {
        b.iter(|| {
            let mut file = File::open(path).unwrap();
            file.seek(SeekFrom::End(-(TAIL_BYTES as i64))).unwrap();
            let mut tail = Vec::with_capacity(TAIL_BYTES as usize);
            file.read_to_end(&mut tail).unwrap();
            black_box(String::from_utf8_lossy(&tail).into_owned())
        })
    });
    group.finish();
}

/// Run in a child process: opens the database and, in "tail" mode, reads
/// the tail of the large log many times; then prints its peak resident
/// memory in KiB.
fn memory_child(dir: &Path, mode: &str) {
    let db = Db::open(dir);
    if mode == "tail" {
        let lines = tail_lines_request();
        let bytes = tail_bytes_request();
        for _ in 0..CHILD_TAILS {
            call(jobdb_read_log, &db, &lines);
            call(jobdb_read_log, &db, &bytes);
        }
    } else {
        let id = CString::new(HUGE_JOB).unwrap();
        let mut reply = ptr::null_mut();
        let code = unsafe { jobdb_get_status(db.raw(), id.as_ptr(), &mut reply) };
        assert_eq!(code, JOBDB_OK);
        unsafe { jobdb_string_free(reply) };
    }
    println!("{}", peak_rss_kib());
}

fn peak_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let code = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(code, 0, "getrusage failed");
    // Linux reports ru_maxrss in KiB.
    unsafe { usage.assume_init() }.ru_maxrss
}

/// Starts this program again as a memory child and returns its peak
/// resident memory in KiB.
fn child_peak_kib(db_dir: &Path, mode: &str) -> i64 {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .env(CHILD_VARIABLE, db_dir)
        .env(CHILD_MODE_VARIABLE, mode)
        .output()
        .expect("start the memory child");
    assert!(
        output.status.success(),
        "the memory child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the child prints its peak in KiB")
}

/// The peak resident memory, in KiB, of a process that reads the tail of
/// the large log many times; printed beside that of one that only opens
/// the database.
fn measure_memory(db_dir: &Path, huge_mib: u64) -> i64 {
    let open_kib = child_peak_kib(db_dir, "open");
    let tail_kib = child_peak_kib(db_dir, "tail");
    println!();
    println!(
        "peak resident memory: {:.1} MiB after opening the database, \
         {:.1} MiB after {} tails of the {huge_mib} MiB log",
        open_kib as f64 / 1024.0,
        tail_kib as f64 / 1024.0,
        CHILD_TAILS * 2,
    );
    tail_kib
}

fn report(started: SystemTime, huge_mib: u64, tail_kib: i64) {
    let fresh = |group: &str, function: &str| {
        let median = median_ns(group, function, "")?;
        (saved_at(group, function, "")? >= started).then_some(median)
    };
    let rows = [
        ("log_full_1MiB", "jobdb_job_logs", "std_fs_read"),
        ("log_full_1MiB", "jobdb_read_log", "std_fs_read"),
        ("log_tail_huge", "jobdb_tail_lines", "std_seek_tail_bytes"),
        ("log_tail_huge", "jobdb_tail_bytes", "std_seek_tail_bytes"),
    ];

    println!();
    println!("logs through the C ABI against std::fs; medians (large log: {huge_mib} MiB)");
    println!(
        "{:<15} {:<18} {:>10} {:>10} {:>7}",
        "group", "jobdb call", "jobdb", "by hand", "ratio"
    );
    for (group, ours, theirs) in rows {
        let Some(ours_ns) = fresh(group, ours) else {
            continue;
        };
        let theirs_ns = fresh(group, theirs);
        println!(
            "{group:<15} {ours:<18} {:>10} {:>10} {:>7}",
            human(ours_ns),
            theirs_ns.map_or("-".into(), human),
            theirs_ns.map_or("-".into(), |t| format!("{:.2}", ours_ns / t)),
        );
    }

    println!();
    println!("targets");
    if let Some(ns) = fresh("log_tail_huge", "jobdb_tail_lines") {
        let met = ns < 5e6 && huge_mib >= FULL_HUGE_LOG_MIB;
        println!(
            "  {} tail of a {huge_mib} MiB log under 5 ms: {}",
            if met { "met   " } else { "MISSED" },
            human(ns)
        );
    }
    let met = tail_kib < 32 * 1024 && huge_mib >= FULL_HUGE_LOG_MIB;
    println!(
        "  {} peak resident memory under 32 MiB while tailing it: {:.1} MiB",
        if met { "met   " } else { "MISSED" },
        tail_kib as f64 / 1024.0
    );
}
