"""jobdb from Python against nodejobs' JobDB and hand-written sqlite3 code.

What it measures
----------------
The same workload, in one run, through three implementations that all read
and write nodejobs' ``jobs.db`` format (table ``process_status(_id, value)``,
the record as JSON in ``value``):

- ``jobdb``: ``python/jobdb.py``, the ctypes wrapper over libjobdb;
- ``sqlite3``: the code a Python user would write by hand with the standard
  ``sqlite3`` module (class ``HandWrittenStore`` below): WAL and
  ``synchronous=NORMAL`` as jobdb uses them, parameterised SQL (the module
  caches prepared statements), ``json.dumps``/``json.loads``, one
  ``BEGIN IMMEDIATE`` transaction per update, lookups through the same JSON
  expressions jobdb indexes;
- ``nodejobs``: ``nodejobs.jobdb.JobDB`` from nodejobs 0.6.2 (PyPI), as is.

Each gets its own copy of one database of ``--jobs`` jobs, filled through
jobdb's ``update_many`` (fast), so nodejobs is measured on a database of
that size without spending minutes filling it through nodejobs. About 1% of
the jobs have status ``failed``. Then come ``--repeats`` rounds, after one
warm-up round that is not counted. In each, every operation runs through
the three implementations back to back (in an order that rotates from
round to round), so that a slow moment of the machine hits all three:

- insert: ``--sample`` new jobs, one call each (the upsert path, new id);
- update: ``--sample`` existing jobs get a new status and pid (upsert);
- get: ``--sample`` lookups of one job by id (nodejobs has no such call; its
  own ``Jobs.get_status`` uses ``list_status({"self_id": id})``, as here);
- list: the jobs with status ``failed``, ``max(1, sample // 10)`` times;
- batch: one batch update of ``--batch-size`` existing jobs in one
  transaction (jobdb ``update_many``; sqlite3 reads, merges and
  ``executemany``s in one transaction; nodejobs has none: n/a).

The figure for an operation is the median over the rounds of the mean time
per call in a round, with its calls per second. Ratios: jobdb's throughput
over nodejobs' (how many times faster jobdb is) and jobdb's time over
sqlite3's (1.0 is as fast as hand-written code). The targets, reported but
never enforced: jobdb at least 100 times nodejobs' throughput on update at
10,000 jobs, and within 2 times sqlite3's time on each operation. The
script fails (non-zero exit) only on an error, or when a result is wrong:
a lookup returns another job, a list the wrong number, or the three
databases disagree at the end.

How to run it
-------------
From the repository root::

    cargo build --release
    python3 -m venv .venv
    .venv/bin/pip install -r tests/compat/requirements.txt
    .venv/bin/python benches/python/bench_python.py            # ~15 seconds
    .venv/bin/python benches/python/bench_python.py --quick    # seconds, CI

Options: ``--jobs N`` (default 10000), ``--sample K`` (200), ``--repeats R``
(5), ``--batch-size B`` (1000), ``--json PATH`` to write every figure and
sample; ``--quick`` means 500 jobs, 20 calls, 2 rounds, batches of 100
(explicit options still win). libjobdb is found as ``python/jobdb.py``
finds it (``JOBDB_LIBRARY``, then ``target/release``). Databases go in
temporary folders under ``$TMPDIR``; nodejobs' writes wait for fsync (see
below), so its figures depend on that file system, which the header names.

What is not the same across the three
-------------------------------------
nodejobs' connection keeps SQLite's default ``synchronous=FULL``, so each
of its commits (two per update: it deletes the row and inserts it again)
waits for the disk; jobdb and the hand-written code use ``NORMAL``, which
WAL makes safe against a killed process. nodejobs deletes that row by
``json_extract(value, '$._id')``, which no index covers, so each of its
updates scans the whole table: its update time grows with ``--jobs``, and
so does jobdb's advantage. Those are nodejobs' own choices and are measured
as they are. jobdb returns full records (every field,
four of them parsed to ``datetime``) and validates what it writes; the
hand-written code parses ``last_update`` only and checks nothing.
"""

import argparse
import contextlib
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The repository's module, not some other jobdb on the path.
sys.path.insert(0, str(REPO / "python"))

import jobdb  # noqa: E402

try:
    from nodejobs.jobdb import JobDB as NodejobsJobDB
except ImportError as error:  # pragma: no cover - depends on the venv
    sys.exit(f"cannot import nodejobs ({error}); install it with:\n"
             f"  .venv/bin/pip install -r tests/compat/requirements.txt\n"
             f"and run this script with .venv/bin/python")

TARGET_JOBS = 10_000
TARGET_NODEJOBS_RATIO = 100.0
TARGET_SQLITE_RATIO = 2.0
FILL_BATCH = 1000
SEED = 20240501
LISTED_STATUS = "failed"

OPERATIONS = ("insert", "update", "get", "list", "batch")
IMPLEMENTATIONS = ("jobdb", "sqlite3", "nodejobs")


# ---- The database every implementation starts from ---------------------


def job_id(number):
    return f"job-{number:07d}"


def seed_status(number):
    """1% failed (the listed status), 10% running, the rest finished."""
    if number % 100 == 0:
        return LISTED_STATUS
    return "running" if number % 10 == 1 else "finished"


def fill_database(folder, jobs):
    """Writes `jobs` jobs into <folder>/jobs.db through jobdb."""
    base = datetime.datetime(2024, 5, 1)
    with jobdb.JobDB(folder) as db:
        for start in range(0, jobs, FILL_BATCH):
            batch = []
            for number in range(start, min(jobs, start + FILL_BATCH)):
                batch.append({
                    "self_id": job_id(number),
                    "status": seed_status(number),
                    # Never a whole second: nodejobs prints a traceback when
                    # it reads a timestamp without a fraction.
                    "last_update": base + datetime.timedelta(
                        microseconds=1000 * number + 1),
                    "last_pid": 10_000 + number,
                    "dirname": "app",
                    "cwd": "/srv/app",
                    "logdir": "/srv/app/logs",
                    "logfile": job_id(number),
                })
            db.update_many(batch)


def copy_database(source, target):
    # jobdb checkpoints on close, so jobs.db alone is normally complete; a
    # WAL left behind is copied too and replayed by the next open.
    for name in ("jobs.db", "jobs.db-wal"):
        if os.path.exists(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(target, name))


# ---- The three implementations, behind one interface -------------------


class JobdbUnderTest:
    name = "jobdb"

    def __init__(self, folder):
        self.db = jobdb.JobDB(folder)

    def upsert(self, job):
        return self.db.update_status(job)

    def get(self, self_id):
        return self.db.get_status(self_id)

    def list_with_status(self, status):
        return self.db.list_status({"status": status})

    def upsert_batch(self, jobs):
        return self.db.update_many(jobs)

    def close(self):
        self.db.close()


class NodejobsUnderTest:
    name = "nodejobs"
    upsert_batch = None  # nodejobs has no batch write

    def __init__(self, folder):
        self.db = NodejobsJobDB(folder)

    def upsert(self, job):
        reply = self.db.update_status(job)
        # nosqlite hands SQL errors back as return values, not raised.
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def get(self, self_id):
        # nodejobs' JobDB has no single-job read; Jobs.get_status does this.
        return self.db.list_status({"self_id": self_id})[self_id]

    def list_with_status(self, status):
        return self.db.list_status({"status": status})

    def close(self):
        # Stops nosqlite's worker thread; its connection goes with it.
        self.db.jobdb.close()


def utc_now_text():
    """Now as nodejobs stores it: naive UTC, ISO 8601."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.isoformat()


class HandWrittenStore:
    """What a careful Python user would write on nodejobs' table with the
    sqlite3 module: no library, no validation, correct transactions."""

    name = "sqlite3"

    # These expressions are exactly those of jobdb's indexes, so SQLite
    # uses jobdb_by_self_id and jobdb_by_status (checked in check_plans).
    FIND_ROW = ("SELECT _id, value FROM process_status "
                "WHERE json_extract(value, '$.self_id') = ?")
    FIND_VALUE = ("SELECT value FROM process_status "
                  "WHERE json_extract(value, '$.self_id') = ?")
    WITH_STATUS = ("SELECT value FROM process_status "
                   "WHERE json_extract(value, '$.status') = ?")
    INSERT = "INSERT INTO process_status (_id, value) VALUES (?, ?)"
    UPDATE = "UPDATE process_status SET value = ? WHERE _id = ?"

    def __init__(self, folder):
        # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE
        # below, which takes the write lock before the read of a
        # read-merge-write, so two processes cannot interleave one.
        self.conn = sqlite3.connect(os.path.join(folder, "jobs.db"),
                                    timeout=10.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    @contextlib.contextmanager
    def _write_transaction(self):
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _merge(self, job, now):
        """(row id, merged record, whether the job is new); the merge
        overwrites the given fields and stamps last_update unless given."""
        row = self.conn.execute(self.FIND_ROW, (job["self_id"],)).fetchone()
        if row is None:
            row_id = str(uuid.uuid4())
            # nodejobs keeps the row key inside the JSON too.
            record = {"_id": row_id}
            is_new = True
        else:
            row_id, text = row
            record = json.loads(text)
            is_new = False
        record.update(job)
        if "last_update" not in job:
            record["last_update"] = now
        return row_id, record, is_new

    def upsert(self, job):
        with self._write_transaction():
            row_id, record, is_new = self._merge(job, utc_now_text())
            if is_new:
                self.conn.execute(self.INSERT, (row_id, json.dumps(record)))
            else:
                self.conn.execute(self.UPDATE, (json.dumps(record), row_id))
        return record

    def upsert_batch(self, jobs):
        now = utc_now_text()
        # By self_id, so a job given twice is merged twice, in order.
        pending = {}
        with self._write_transaction():
            for job in jobs:
                earlier = pending.get(job["self_id"])
                if earlier is None:
                    pending[job["self_id"]] = self._merge(job, now)
                else:
                    earlier[1].update(job)
            self.conn.executemany(self.INSERT, [
                (row_id, json.dumps(record))
                for row_id, record, is_new in pending.values() if is_new])
            self.conn.executemany(self.UPDATE, [
                (json.dumps(record), row_id)
                for row_id, record, is_new in pending.values() if not is_new])
        return [record for _, record, _ in pending.values()]

    @staticmethod
    def _record(text):
        record = json.loads(text)
        stamp = record.get("last_update")
        if isinstance(stamp, str):
            # Stored as naive UTC; return it aware, as jobdb does.
            record["last_update"] = datetime.datetime.fromisoformat(
                stamp).replace(tzinfo=datetime.timezone.utc)
        return record

    def get(self, self_id):
        row = self.conn.execute(self.FIND_VALUE, (self_id,)).fetchone()
        if row is None:
            raise KeyError(self_id)
        return self._record(row[0])

    def list_with_status(self, status):
        jobs = {}
        for (text,) in self.conn.execute(self.WITH_STATUS, (status,)):
            record = self._record(text)
            jobs[record["self_id"]] = record
        return jobs

    def check_plans(self):
        """Fails unless SQLite answers the lookups from jobdb's indexes: a
        full scan would make this comparison unfair to sqlite3."""
        for sql, index in ((self.FIND_ROW, "jobdb_by_self_id"),
                           (self.WITH_STATUS, "jobdb_by_status")):
            plan = " ".join(row[3] for row in self.conn.execute(
                "EXPLAIN QUERY PLAN " + sql, ("x",)))
            if index not in plan:
                raise RuntimeError(f"{sql!r} does not use {index}: {plan}")

    def close(self):
        self.conn.close()


# ---- The workload ------------------------------------------------------


class RoundPlan:
    """What one round does, the same for every implementation. The job
    dicts are built afresh for each call of a method, because nodejobs
    adds last_update to the dict it is given."""

    def __init__(self, round_number, jobs, sample, batch_size):
        rng = random.Random(SEED + round_number)
        # Updates never touch the listed status, so every list returns the
        # same number of jobs whatever was updated before.
        updatable = [number for number in range(jobs) if number % 100 != 0]
        self.round_number = round_number
        self.new_ids = [f"new-{round_number:03d}-{k:05d}" for k in range(sample)]
        self.update_ids = [job_id(n) for n in rng.sample(updatable, sample)]
        self.get_ids = [job_id(rng.randrange(jobs)) for _ in range(sample)]
        self.list_calls = max(1, sample // 10)
        self.batch_ids = [job_id(n) for n in rng.sample(updatable, batch_size)]
        self.new_status = "running" if round_number % 2 == 0 else "finished"
        self.pid_base = 100_000 + round_number * (sample + batch_size)

    def jobs_to_insert(self):
        return [{"self_id": self_id, "status": "starting",
                 "last_pid": self.pid_base + k, "dirname": "app",
                 "cwd": "/srv/app", "logdir": "/srv/app/logs",
                 "logfile": self_id}
                for k, self_id in enumerate(self.new_ids)]

    def status_updates(self, ids):
        return [{"self_id": self_id, "status": self.new_status,
                 "last_pid": self.pid_base + k}
                for k, self_id in enumerate(ids)]


def time_calls(operation, arguments):
    """Mean seconds per call of `operation` over `arguments`, and the last
    result. The garbage collector is paused, as timeit does, so that no
    implementation pays for collecting another's garbage."""
    gc.collect()
    gc.disable()
    try:
        result = None
        start = time.perf_counter()
        for argument in arguments:
            result = operation(argument)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / len(arguments), result


def measure(implementation, operation, plan, expected_listed):
    """Seconds per call of one operation in one round, or None when the
    implementation has no such call. Checks what reads return."""
    if operation == "insert":
        return time_calls(implementation.upsert, plan.jobs_to_insert())[0]
    if operation == "update":
        return time_calls(implementation.upsert, plan.status_updates(plan.update_ids))[0]
    if operation == "get":
        seconds, record = time_calls(implementation.get, plan.get_ids)
        if record["self_id"] != plan.get_ids[-1]:
            raise RuntimeError(f"{implementation.name}: get({plan.get_ids[-1]!r}) "
                               f"returned {record['self_id']!r}")
        return seconds
    if operation == "list":
        seconds, listed = time_calls(implementation.list_with_status,
                                     [LISTED_STATUS] * plan.list_calls)
        if len(listed) != expected_listed:
            raise RuntimeError(f"{implementation.name}: listed {len(listed)} "
                               f"{LISTED_STATUS} jobs, expected {expected_listed}")
        return seconds
    if implementation.upsert_batch is None:
        return None
    return time_calls(implementation.upsert_batch,
                      [plan.status_updates(plan.batch_ids)])[0]


def stored_jobs(folder):
    """The row count and {self_id: (status, last_pid)} of a database, read
    at the end to check that the implementations made the same writes."""
    conn = sqlite3.connect(os.path.join(folder, "jobs.db"))
    try:
        (rows,) = conn.execute("SELECT count(*) FROM process_status").fetchone()
        jobs = {self_id: (status, pid) for self_id, status, pid in conn.execute(
            "SELECT json_extract(value, '$.self_id'), json_extract(value, '$.status'), "
            "json_extract(value, '$.last_pid') FROM process_status")}
    finally:
        conn.close()
    return rows, jobs


def check_same_writes(folders, batched_ids):
    """Fails unless every database holds one row per job and the same
    jobs, statuses and pids; nodejobs, which ran no batches, is compared
    on the jobs no batch touched. Returns the number of jobs."""
    stored = {name: stored_jobs(folder) for name, folder in folders.items()}
    for name, (rows, jobs) in stored.items():
        if rows != len(jobs):
            raise RuntimeError(f"{name}: {rows} rows for {len(jobs)} jobs")
    reference = stored["jobdb"][1]
    if stored["sqlite3"][1] != reference:
        raise RuntimeError("the sqlite3 database differs from jobdb's")
    nodejobs = stored["nodejobs"][1]
    if nodejobs.keys() != reference.keys() or any(
            nodejobs[self_id] != state for self_id, state in reference.items()
            if self_id not in batched_ids):
        raise RuntimeError("the nodejobs database differs from jobdb's")
    return len(reference)


# ---- Report ------------------------------------------------------------


def format_seconds(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds * 1e9:.4g} ns"


def format_rate(per_second):
    return f"{per_second:,.0f}/s" if per_second >= 100 else f"{per_second:.1f}/s"


def format_ratio(ratio):
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.2f}x"


def file_system_of(path):
    """The type of the file system holding `path` (Linux), for the header:
    nodejobs' figures depend on its fsync."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                mount_point = fields[1]
                inside = (path == mount_point
                          or path.startswith(mount_point.rstrip("/") + "/"))
                if inside and len(mount_point) > len(best):
                    best, kind = mount_point, fields[2]
    return kind


def summarise(samples):
    median = statistics.median(samples)
    return {"seconds_per_call": median, "calls_per_second": 1.0 / median,
            "spread": (max(samples) - min(samples)) / median,
            "samples_seconds_per_call": samples}


def print_report(config, results):
    labels = {
        "insert": "insert a new job",
        "update": "update a job's status",
        "get": "get one job by id",
        "list": f"list status={LISTED_STATUS} ({config['listed']} jobs)",
        "batch": f"batch update ({config['batch_size']:,} jobs)",
    }
    print(f"\nMedian of {config['repeats']} rounds; time per call "
          f"(spread = (max - min) / median over the rounds):\n")
    header = (f"{'operation':<34}" + "".join(f"{name:>21}" for name in IMPLEMENTATIONS))
    print(header)
    print("-" * len(header))
    for operation in OPERATIONS:
        cells = []
        for name in IMPLEMENTATIONS:
            figure = results[name].get(operation)
            cells.append("n/a" if figure is None else
                         f"{format_seconds(figure['seconds_per_call'])} "
                         f"{figure['spread']:>4.0%}")
        print(f"{labels[operation]:<34}" + "".join(f"{cell:>21}" for cell in cells))

    print(f"\nCalls per second, and ratios:\n")
    header = (f"{'operation':<34}" + "".join(f"{name:>13}" for name in IMPLEMENTATIONS)
              + f"{'jobdb/nodejobs':>16}{'jobdb/sqlite3':>15}")
    print(header)
    print(f"{'':<34}{'':>39}{'(throughput)':>16}{'(time)':>15}")
    print("-" * len(header))
    for operation in OPERATIONS:
        rates = []
        for name in IMPLEMENTATIONS:
            figure = results[name].get(operation)
            rates.append("n/a" if figure is None
                         else format_rate(figure["calls_per_second"]))
        ratios = config["ratios"][operation]
        vs_nodejobs = ratios["jobdb_throughput_over_nodejobs"]
        print(f"{labels[operation]:<34}" + "".join(f"{rate:>13}" for rate in rates)
              + f"{'n/a' if vs_nodejobs is None else format_ratio(vs_nodejobs):>16}"
              + f"{format_ratio(ratios['jobdb_time_over_sqlite3']):>15}")


def evaluate_targets(config, results):
    """The target lines: reported, never turned into a failure."""
    lines = []
    at = config["jobs"]
    note = "" if at == TARGET_JOBS else (
        f" (measured at {at:,} jobs; the target is stated at {TARGET_JOBS:,})")
    update_ratio = config["ratios"]["update"]["jobdb_throughput_over_nodejobs"]
    met = update_ratio >= TARGET_NODEJOBS_RATIO
    lines.append((f"jobdb >= {TARGET_NODEJOBS_RATIO:.0f}x nodejobs' throughput on "
                  f"update: {format_ratio(update_ratio)}{note}", met))
    for operation in OPERATIONS:
        ratio = config["ratios"][operation]["jobdb_time_over_sqlite3"]
        lines.append((f"jobdb within {TARGET_SQLITE_RATIO:.0f}x of sqlite3's time on "
                      f"{operation}: {format_ratio(ratio)}",
                      ratio <= TARGET_SQLITE_RATIO))
    print("\nTargets (reported, not enforced):")
    for text, met in lines:
        print(f"  {text} -- target {'met' if met else 'missed'}")
    return [{"target": text, "met": met} for text, met in lines]


# ---- Main --------------------------------------------------------------


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="jobdb from Python vs nodejobs' JobDB vs hand-written "
                    "sqlite3, on one workload; see the module docstring.")
    parser.add_argument("--jobs", type=int, help="jobs in each database "
                        "(default 10000; 500 with --quick)")
    parser.add_argument("--sample", type=int, help="calls of insert, update "
                        "and get per round (default 200; 20 with --quick)")
    parser.add_argument("--repeats", type=int, help="rounds counted, after "
                        "one warm-up round (default 5; 2 with --quick)")
    parser.add_argument("--batch-size", type=int, help="jobs per batch "
                        "update (default 1000; 100 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, for CI: finishes in a few seconds")
    parser.add_argument("--json", metavar="PATH", help="also write every "
                        "figure and sample to this JSON file")
    arguments = parser.parse_args(argv)
    defaults = ({"jobs": 500, "sample": 20, "repeats": 2, "batch_size": 100}
                if arguments.quick else
                {"jobs": TARGET_JOBS, "sample": 200, "repeats": 5, "batch_size": 1000})
    for name, value in defaults.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    if arguments.jobs < 100:
        parser.error("--jobs must be at least 100 (1% of them are listed)")
    if arguments.sample < 1 or arguments.repeats < 1 or arguments.batch_size < 1:
        parser.error("--sample, --repeats and --batch-size must be at least 1")
    updatable = arguments.jobs - len(range(0, arguments.jobs, 100))
    if max(arguments.sample, arguments.batch_size) > updatable:
        parser.error(f"--sample and --batch-size must be at most {updatable} "
                     f"(the jobs that updates may change)")
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    started = time.perf_counter()
    listed = len(range(0, arguments.jobs, 100))
    config = {"jobs": arguments.jobs, "sample": arguments.sample,
              "repeats": arguments.repeats, "batch_size": arguments.batch_size,
              "list_calls": max(1, arguments.sample // 10), "listed": listed}

    with tempfile.TemporaryDirectory(prefix="jobdb-bench-") as scratch:
        environment = {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "jobdb": jobdb.library_version(),
            "jobdb_library": jobdb.library_path(),
            "nodejobs": importlib.metadata.version("nodejobs"),
            "temp_file_system": f"{scratch} ({file_system_of(scratch)})",
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        }
        print("jobdb from Python vs nodejobs vs hand-written sqlite3")
        for key, value in environment.items():
            print(f"  {key:<17} {value}")
        print(f"  {'workload':<17} {arguments.jobs:,} jobs; per round "
              f"{arguments.sample} inserts, updates and gets, "
              f"{config['list_calls']} lists, 1 batch of {arguments.batch_size:,}; "
              f"{arguments.repeats} rounds + 1 warm-up")

        seed = os.path.join(scratch, "seed")
        fill_started = time.perf_counter()
        fill_database(seed, arguments.jobs)
        print(f"  filled {arguments.jobs:,} jobs through jobdb.update_many in "
              f"{time.perf_counter() - fill_started:.2f} s")

        classes = {"jobdb": JobdbUnderTest, "sqlite3": HandWrittenStore,
                   "nodejobs": NodejobsUnderTest}
        folders, implementations = {}, {}
        try:
            for name in IMPLEMENTATIONS:
                folders[name] = os.path.join(scratch, name)
                os.mkdir(folders[name])
                copy_database(seed, folders[name])
                implementations[name] = classes[name](folders[name])
            implementations["sqlite3"].check_plans()

            samples = {name: {op: [] for op in OPERATIONS} for name in IMPLEMENTATIONS}
            batched_ids = set()
            for round_number in range(arguments.repeats + 1):
                plan = RoundPlan(round_number, arguments.jobs, arguments.sample,
                                 arguments.batch_size)
                batched_ids.update(plan.batch_ids)
                # Each operation runs through the three back to back, so
                # that their figures come from the same moment of a noisy
                # machine; the order rotates, so that none always goes first.
                shift = round_number % len(IMPLEMENTATIONS)
                order = IMPLEMENTATIONS[shift:] + IMPLEMENTATIONS[:shift]
                for operation in OPERATIONS:
                    for name in order:
                        seconds = measure(implementations[name], operation, plan, listed)
                        # Round 0 warms up caches and statement caches.
                        if round_number > 0 and seconds is not None:
                            samples[name][operation].append(seconds)
                print(f"  round {round_number}/{arguments.repeats} done"
                      f"{' (warm-up)' if round_number == 0 else ''}", flush=True)
        finally:
            for implementation in implementations.values():
                implementation.close()

        final_jobs = check_same_writes(folders, batched_ids)

    results = {name: {op: summarise(values) for op, values in by_op.items() if values}
               for name, by_op in samples.items()}
    config["ratios"] = {}
    for operation in OPERATIONS:
        jobdb_time = results["jobdb"][operation]["seconds_per_call"]
        nodejobs = results["nodejobs"].get(operation)
        config["ratios"][operation] = {
            "jobdb_throughput_over_nodejobs":
                None if nodejobs is None else nodejobs["seconds_per_call"] / jobdb_time,
            "jobdb_time_over_sqlite3":
                jobdb_time / results["sqlite3"][operation]["seconds_per_call"],
        }
    print_report(config, results)
    targets = evaluate_targets(config, results)
    elapsed = time.perf_counter() - started
    print(f"\nAt the end each database holds {final_jobs:,} jobs, the same in all "
          f"three (nodejobs: apart from the batches). Total time {elapsed:.1f} s.")

    if arguments.json:
        document = {"config": config, "environment": environment,
                    "results": results, "targets": targets,
                    "final_jobs": final_jobs, "total_seconds": elapsed}
        with open(arguments.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        print(f"Wrote {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
