"""track_jobs.py: jobdb's demo, from Python. Runs three real shell commands,
records the life of each in a jobdb database (command, pid, start and end
times, exit code), then lists the jobs by status, queries the failed ones
newest first with the tail of their stderr, shows what the change feed saw
during the run, and prints their logs.

    PYTHONPATH=<jobdb>/python python3 track_jobs.py [FOLDER]

FOLDER defaults to "jobdb-demo-python". The database lives in FOLDER/db and
the logs in FOLDER/logs. The job ids are fixed names, so running the demo
again updates the same jobs, whose created_at stays that of the first run.
It does what examples/track_jobs.c does, plus the queries.
"""

import datetime
import os
import platform
import signal
import subprocess
import sys

import jobdb

PROGRAM = "track_jobs.py"
DEFAULT_FOLDER = "jobdb-demo-python"

# Each job: a stable id, which also names its log files, and the command
# /bin/sh runs for it.
DEMO_JOBS = [
    ("greet", "echo 'Hello from a jobdb demo job.'; "
              "echo \"I ran as process $$.\"; "
              "echo 'Goodbye.'"),
    ("fail", "echo 'Reading the input...'; "
             "echo 'error: no such file: missing-input.csv' >&2; "
             "exit 3"),
    # \377\376 reach printf as octal escapes: two bytes that are not UTF-8,
    # which jobdb replaces with U+FFFD and flags.
    ("binary", r"printf 'Not UTF-8: \377\376 (end)\n'"),
]


def start_job(job_id, command, cwd, logdir):
    """Starts the command with stdout and stderr in the job's log files, the
    names jobdb reads: <logdir>/<id>_out.txt and <logdir>/<id>_errors.txt."""
    with open(os.path.join(logdir, f"{job_id}_out.txt"), "wb") as out, \
            open(os.path.join(logdir, f"{job_id}_errors.txt"), "wb") as err:
        return subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)


def how_it_ended(returncode):
    if returncode >= 0:
        return f"(exit status {returncode})"
    return f"(killed by signal {signal.Signals(-returncode).name})"


def describe(record):
    """A record on one line, its timestamp in ISO 8601."""
    return ", ".join(
        f"{key}={value.isoformat() if hasattr(value, 'isoformat') else value!r}"
        for key, value in record.items())


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def run_job(db, job_id, command, cwd, logdir):
    """Runs one job to its end, recording each step of its life."""
    started_at = now()
    process = start_job(job_id, command, cwd, logdir)
    try:
        # A new run: the end and exit code of the last run are cleared
        # (None), and metadata, a dict of our own, replaces the old one.
        db.update_status({"self_id": job_id, "status": "starting",
                          "last_pid": process.pid, "cwd": cwd,
                          "logdir": logdir, "logfile": job_id,
                          "command": command, "started_at": started_at,
                          "ended_at": None, "exit_code": None,
                          "metadata": {"runner": PROGRAM,
                                       "python": platform.python_version()}})
        # Only the status changes; jobdb keeps the other fields. only_if
        # makes it conditional: a process that already recorded more (say,
        # that the job was stopped) is not overwritten.
        try:
            db.update_status({"self_id": job_id, "status": "running"},
                             only_if={"status": "starting"})
        except jobdb.ConflictError as conflict:
            print(f"{job_id}: not marked running, it is already "
                  f"{conflict.current['status']}")
    finally:
        # Wait even when recording failed, so no child is left behind.
        returncode = process.wait()

    status = "finished" if returncode == 0 else "failed"
    # exit_code is Python's returncode: -N when killed by signal N.
    record = db.update_status({"self_id": job_id, "status": status,
                               "exit_code": returncode, "ended_at": now()})
    print(f"{job_id:<7} pid {process.pid:<7} {status:<9}{how_it_ended(returncode)}")
    print(f"        stored: {describe(record)}")


def show_jobs_with_status(db, status):
    jobs = db.list_status({"status": status})
    print(f'\n== Jobs with status "{status}" ==')
    if not jobs:
        print("(none)")
    for job_id, record in jobs.items():
        print(f"{job_id:<7} pid {record['last_pid']}, last update "
              f"{record['last_update'].isoformat()}")


def show_failed_jobs(db):
    """A query: the failed jobs, the most recently ended first, a page of
    at most ten, with how they ended and what they ran."""
    failed = {"status": "failed"}
    page = db.query(failed, order_by="ended_at", descending=True, limit=10)
    print(f"\n== Failed jobs, newest first ({db.count(failed)} of "
          f"{db.count()} jobs) ==")
    if not page.jobs:
        print("(none)")
    for record in page.jobs:
        took = (record["ended_at"] - record["started_at"]).total_seconds()
        print(f"{record['self_id']:<7} exit code {record['exit_code']}, ended "
              f"{record['ended_at'].isoformat()} after {took:.3f} s")
        print(f"        command: {record['command']}")
        # The last line of its stderr, read from the end of the file.
        try:
            last = db.tail(record["self_id"], 1, stream="stderr").rstrip("\n")
        except jobdb.JobDBError as error:  # say, the log file is gone
            last = f"(cannot read: {error.message})"
        print(f"        stderr, last line: {last or '(empty)'}")
    if page.next_cursor is not None:
        print("(more: pass page.next_cursor as cursor for the next page)")


def show_recent_jobs(db, since):
    """Every job that ended since `since`, newest first, read two at a
    time by iter_jobs: a time window on ended_at."""
    print(f"\n== Jobs ended since {since.isoformat()}, newest first ==")
    for record in db.iter_jobs({"ended_at": {"$gte": since}},
                               order_by="ended_at", descending=True,
                               page_size=2):
        print(f"{record['self_id']:<7} {record['status']:<9} exit code "
              f"{record['exit_code']}, created {record['created_at'].isoformat()}")


def cursor_now(db):
    """A change-feed cursor for "now": the feed starts with every job, so
    read it through to its end."""
    feed = db.changes()
    while feed.more:
        feed = db.changes(feed.next_cursor)
    return feed.next_cursor


def show_changes(db, cursor):
    """What changed since `cursor`: each job once, as it is now. A monitor
    would poll this, passing next_cursor back each time."""
    feed = db.changes(cursor)
    print(f"\n== Changed during this run ({len(feed)} jobs) ==")
    for self_id, record in feed:
        if record is None:
            print(f"{self_id:<7} deleted")
        else:
            print(f"{self_id:<7} now {record['status']}, last update "
                  f"{record['last_update'].isoformat()}")
    return feed.next_cursor


def show_job_logs(db, job_id):
    # job_logs_detail shows each stream even when the other cannot be read;
    # db.job_logs(job_id) would give (stdout, stderr) or raise LogReadError.
    logs = db.job_logs_detail(job_id)
    print(f'\n== Logs of job "{job_id}" ==')
    for stream in (logs.stdout, logs.stderr):
        if stream.error is not None:
            print(f"-- {stream.stream} ({stream.path}): cannot read: "
                  f"{stream.error.name}: {stream.error.message}")
            continue
        note = ", bytes that are not UTF-8 shown as \ufffd" if stream.invalid_utf8 else ""
        print(f"-- {stream.stream} ({stream.size} bytes{note}):")
        text = stream.text
        if not text:
            print("   (empty)")
            continue
        for line in text.splitlines():
            print(f"   | {line}")


def main(argv):
    if len(argv) > 2:
        print(f"usage: {PROGRAM} [FOLDER]", file=sys.stderr)
        return 2
    folder = argv[1] if len(argv) > 1 else DEFAULT_FOLDER
    # Absolute paths, so the records mean the same to any process.
    cwd = os.getcwd()
    logdir = os.path.join(os.path.abspath(folder), "logs")
    os.makedirs(logdir, exist_ok=True)
    db_dir = os.path.join(folder, "db")

    try:
        with jobdb.JobDB(db_dir) as db:
            print(f"jobdb {jobdb.library_version()} ({jobdb.library_path()}): "
                  f"database in {db.db_path}")
            print(f"logs in {logdir}")

            print(f"\n== Running {len(DEMO_JOBS)} jobs ==")
            run_started = now()
            before_run = cursor_now(db)
            for job_id, command in DEMO_JOBS:
                run_job(db, job_id, command, cwd, logdir)

            show_jobs_with_status(db, "finished")
            show_jobs_with_status(db, "failed")
            show_failed_jobs(db)
            show_recent_jobs(db, run_started)
            show_changes(db, before_run)
            for job_id, _ in DEMO_JOBS:
                show_job_logs(db, job_id)
    except jobdb.JobDBError as error:
        print(f"{PROGRAM}: {error.name}: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:  # LibraryNotFoundError too; or the logs folder
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
