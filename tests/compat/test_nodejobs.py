"""jobdb and the real nodejobs 0.6.2 (from PyPI) on one jobs.db, both ways.

Every nodejobs behaviour here is nodejobs' own: the tests call
`nodejobs.jobdb.JobDB` (update_status, list_status, job_logs) and never
re-implement what it does. Raw SQL (Python's sqlite3) is used only to look
at the file: to count rows and to read query plans.

nodejobs prints a traceback to stderr whenever it reads a timestamp without
a fraction (its first strptime format fails, the second one works); that
noise is nodejobs' and harmless.
"""

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import threading
import time

import pytest
from nodejobs.jobdb import JobDB

from conftest import JOBDB_ERR_NOT_FOUND, JOBDB_OK

# nodejobs' own fields, then the ones jobdb adds, in the order jobdb
# returns them; nodejobs keeps jobdb's as fields it does not know.
NODEJOBS_FIELDS = ["self_id", "status", "last_update", "last_pid", "dirname", "cwd", "logdir", "logfile"]
JOBDB_FIELDS = NODEJOBS_FIELDS + [
    "exit_code", "command", "created_at", "started_at", "ended_at", "metadata",
]
# How jobdb returns its own fields for a job nodejobs created.
UNSET_JOBDB_FIELDS = dict.fromkeys(JOBDB_FIELDS[len(NODEJOBS_FIELDS):])
Z_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

# The query nosqlite (nodejobs' storage layer) runs to find a job by self_id,
# in update_status, job_logs and list_status({"self_id": ...}).
NODEJOBS_SELF_ID_QUERY = "SELECT * FROM process_status WHERE json_extract(value, '$.self_id') = ?"


# --- helpers -----------------------------------------------------------------


@pytest.fixture
def nodejobs():
    """Opens nodejobs JobDBs (each has its own worker thread and sqlite3
    connection); their worker threads are stopped at teardown."""
    opened = []

    def open_(folder):
        db = JobDB(str(folder))
        opened.append(db)
        return db

    yield open_
    for db in opened:
        with contextlib.suppress(Exception):
            db.jobdb.kernel.threaded_close(path=db.jobdb.path, timeout=5)


def utc(*args):
    """A naive UTC datetime, as nodejobs holds times."""
    return dt.datetime(*args)


def instant(z_text):
    """jobdb's "YYYY-MM-DDTHH:MM:SS.ffffffZ" as a naive UTC datetime."""
    assert isinstance(z_text, str) and Z_FORM.match(z_text), z_text
    return dt.datetime.fromisoformat(z_text).astimezone(dt.timezone.utc).replace(tzinfo=None)


def utcnow():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def sql(folder):
    """A plain sqlite3 connection on the folder's jobs.db, closed on exit."""
    return contextlib.closing(sqlite3.connect(str(folder / "jobs.db")))


def rows_for(folder, self_id):
    with sql(folder) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM process_status WHERE json_extract(value, '$.self_id') = ?",
            (self_id,),
        ).fetchone()
    return count


def total_rows(folder):
    with sql(folder) as conn:
        return conn.execute("SELECT count(*) FROM process_status").fetchone()[0]


def query_plan(folder, query, args):
    with sql(folder) as conn:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query, args)]


def assert_same_job(record, nj_record):
    """A jobdb record (parsed JSON) shows the same job as nodejobs' JobRecord."""
    assert list(record) == JOBDB_FIELDS, record
    assert record["self_id"] == nj_record["self_id"]
    for field in ("status", "last_pid", "dirname", "cwd", "logdir", "logfile"):
        # dict.get: a field nodejobs never stored reads as None, as jobdb's null.
        assert record[field] == dict.get(nj_record, field), (field, record, nj_record)
    if record["last_pid"] is not None:
        assert type(record["last_pid"]) is int
    assert isinstance(nj_record["last_update"], dt.datetime)
    assert nj_record["last_update"].tzinfo is None
    assert instant(record["last_update"]) == nj_record["last_update"], (record, nj_record)


def assert_nodejobs_types(nj_record):
    """What nodejobs hands its users: a datetime and an int, not text."""
    assert isinstance(nj_record["last_update"], dt.datetime), nj_record
    assert nj_record["last_update"].tzinfo is None
    pid = dict.get(nj_record, "last_pid")
    assert pid is None or type(pid) is int, nj_record
    for field in ("self_id", "status"):
        assert isinstance(nj_record[field], str), nj_record


def spy_on_queries(nj):
    """Records every (query, args) nodejobs' worker thread sends to SQLite."""
    kernel = nj.jobdb.kernel
    real = kernel._NosqlThread__execute  # the worker calls self.__execute(...)
    seen = []

    def spy(query, args_raw=None, path=None):
        seen.append((query, args_raw))
        return real(query, args_raw, path)

    kernel._NosqlThread__execute = spy
    return seen


def uses_index(plan):
    return any("USING INDEX" in step for step in plan) and not any(
        step.startswith("SCAN process_status") or step.startswith("SCAN TABLE process_status")
        for step in plan
    )


# --- 1. nodejobs writes, jobdb reads -------------------------------------------


def test_jobdb_reads_what_nodejobs_wrote(folder, jobdb, call, nodejobs):
    nj = nodejobs(folder)
    nj.update_status({
        "self_id": "build-1", "status": "running", "last_pid": 4242,
        "cwd": "/srv/build", "logdir": "/srv/logs", "logfile": "build-1",
        "last_update": utc(2024, 5, 1, 12, 0, 0),  # microsecond 0: stored without a fraction
    })
    nj.update_status({
        "self_id": "build-2", "status": "finished", "last_pid": 17, "dirname": "b2",
        "cwd": "/srv/b2", "last_update": utc(2024, 5, 1, 12, 0, 1, 250),
    })
    nj.update_status({"self_id": "deploy", "status": "failed_start"})  # nodejobs sets last_update to now
    nj.update_status({"self_id": "tâche-✓", "status": "running", "cwd": "/tmp/é", "last_pid": 1})
    # One job updated several times by nodejobs, the last time partially.
    nj.update_status({"self_id": "multi", "status": "starting", "last_pid": 1, "cwd": "/a",
                      "last_update": utc(2024, 1, 1)})
    nj.update_status({"self_id": "multi", "status": "running", "last_pid": 2, "logdir": "/l",
                      "logfile": "multi", "last_update": utc(2024, 1, 2, 3, 4, 5, 600000)})
    nj.update_status({"self_id": "multi", "status": "stopped",
                      "last_update": utc(2024, 1, 3, 0, 0, 0, 1)})

    theirs = nj.list_status()
    assert set(theirs) == {"build-1", "build-2", "deploy", "tâche-✓", "multi"}
    assert theirs["multi"]["last_pid"] == 2 and theirs["multi"]["cwd"] == "/a"
    assert theirs["multi"]["logdir"] == "/l" and theirs["multi"]["status"] == "stopped"

    # jobdb_get_status, job by job.
    for self_id, nj_record in theirs.items():
        assert_same_job(jobdb.get(self_id), nj_record)

    # The values as given to nodejobs, instants to the microsecond.
    b1 = jobdb.get("build-1")
    assert b1 == {
        "self_id": "build-1", "status": "running", "last_update": "2024-05-01T12:00:00.000000Z",
        "last_pid": 4242, "dirname": None, "cwd": "/srv/build", "logdir": "/srv/logs",
        "logfile": "build-1", **UNSET_JOBDB_FIELDS,
    }
    assert jobdb.get("build-2")["last_update"] == "2024-05-01T12:00:01.000250Z"
    multi = jobdb.get("multi")
    assert (multi["status"], multi["last_pid"], multi["cwd"], multi["logdir"], multi["logfile"]) == (
        "stopped", 2, "/a", "/l", "multi")
    assert instant(multi["last_update"]) == utc(2024, 1, 3, 0, 0, 0, 1)
    deploy_time = instant(jobdb.get("deploy")["last_update"])
    assert abs(utcnow() - deploy_time) < dt.timedelta(minutes=1)
    code, error = call("get_status", "never-written")
    assert (code, error["name"]) == (JOBDB_ERR_NOT_FOUND, "JOBDB_ERR_NOT_FOUND")

    # jobdb_list_status: all, then by status, both as nodejobs lists them.
    everything = jobdb.list()
    assert set(everything) == set(theirs)
    for self_id, record in everything.items():
        assert record == jobdb.get(self_id)
        assert_same_job(record, theirs[self_id])

    for status in ("running", "finished", "stopped", "failed_start", "no-such-status"):
        mine = jobdb.list({"status": status})
        assert set(mine) == set(nj.list_status({"status": status})), status
        for self_id, record in mine.items():
            assert_same_job(record, theirs[self_id])
    assert set(jobdb.list({"status": "running"})) == {"build-1", "tâche-✓"}

    # last_update filters compare instants, whatever form nodejobs stored.
    assert set(jobdb.list({"last_update": "2024-05-01T12:00:00Z"})) == {"build-1"}
    assert set(jobdb.list({"last_update": "2024-05-01T14:00:01.000250+02:00"})) == {"build-2"}
    assert set(jobdb.list({"last_pid": 2})) == {"multi"}


# --- 2. jobdb writes, nodejobs reads -------------------------------------------


def test_nodejobs_reads_what_jobdb_wrote(folder, jobdb, nodejobs):
    a = jobdb.update({
        "self_id": "a", "status": "running", "last_pid": 4242, "cwd": "/srv",
        "logdir": "/srv/logs", "logfile": "a", "last_update": "2024-05-01T14:30:00.25+02:00",
    })
    assert a["last_update"] == "2024-05-01T12:30:00.250000Z"
    jobdb.update({"self_id": "b", "status": "finished", "last_pid": 7,
                  "last_update": "2024-05-01T12:00:00Z"})
    c = jobdb.update({"self_id": "c", "status": "running"})  # last_update: now
    jobdb.update({"self_id": "d", "status": "stopped", "dirname": "dd", "last_pid": None,
                  "last_update": "2023-12-31T23:59:59.999999"})
    jobdb.update({"self_id": "ジョブ", "status": "starting", "cwd": "/tmp/é"})

    nj = nodejobs(folder)
    theirs = nj.list_status()
    assert set(theirs) == {"a", "b", "c", "d", "ジョブ"}
    for self_id, nj_record in theirs.items():
        assert_nodejobs_types(nj_record)
        assert_same_job(jobdb.get(self_id), nj_record)

    # The +02:00 time is the UTC instant in nodejobs, naive.
    assert theirs["a"]["last_update"] == utc(2024, 5, 1, 12, 30, 0, 250000)
    assert theirs["a"]["last_pid"] == 4242 and theirs["a"]["cwd"] == "/srv"
    assert (theirs["a"]["logdir"], theirs["a"]["logfile"]) == ("/srv/logs", "a")
    assert theirs["b"]["last_update"] == utc(2024, 5, 1, 12, 0, 0)
    assert theirs["b"]["status"] == "finished" and theirs["b"]["last_pid"] == 7
    assert theirs["c"]["last_update"] == instant(c["last_update"])
    assert abs(utcnow() - theirs["c"]["last_update"]) < dt.timedelta(minutes=1)
    assert theirs["d"]["last_update"] == utc(2023, 12, 31, 23, 59, 59, 999999)
    assert dict.get(theirs["d"], "last_pid") is None and theirs["d"]["dirname"] == "dd"
    assert theirs["ジョブ"]["cwd"] == "/tmp/é"

    # nodejobs' own filters.
    assert set(nj.list_status({"status": "running"})) == {"a", "c"}
    assert set(nj.list_status({"status": "finished"})) == {"b"}
    assert set(nj.list_status({"status": "nothing"})) == set()
    assert set(nj.list_status({"self_id": "ジョブ"})) == {"ジョブ"}
    # nodejobs matches times by their text, so this holds only if jobdb
    # stores them exactly as nodejobs would.
    assert set(nj.list_status({"last_update": utc(2024, 5, 1, 12, 30, 0, 250000)})) == {"a"}
    assert set(nj.list_status({"last_update": utc(2024, 5, 1, 12, 0, 0)})) == {"b"}


# --- 3. updates across the two ---------------------------------------------------


def test_nodejobs_updates_a_jobdb_job(folder, jobdb, nodejobs):
    created = jobdb.update({
        "self_id": "j", "status": "running", "last_pid": 10, "dirname": "dj", "cwd": "/w",
        "logdir": "/w/logs", "logfile": "j", "last_update": "2024-05-01T12:00:00.5Z",
    })
    with sql(folder) as conn:
        (row_key,) = conn.execute("SELECT _id FROM process_status").fetchone()

    nj = nodejobs(folder)
    before = utcnow()
    nj.update_status({"self_id": "j", "status": "stopped", "last_pid": 99})

    assert rows_for(folder, "j") == 1
    with sql(folder) as conn:
        # nodejobs replaced the row under the same key, found by the JSON _id.
        assert conn.execute("SELECT _id, json_extract(value, '$._id') FROM process_status").fetchall() == [
            (row_key, row_key)]

    theirs = nj.list_status({"self_id": "j"})["j"]
    assert_nodejobs_types(theirs)
    mine = jobdb.get("j")
    assert_same_job(mine, theirs)
    # The given fields changed; nodejobs also stamps last_update with now.
    assert (mine["status"], mine["last_pid"]) == ("stopped", 99)
    assert instant(mine["last_update"]) >= before - dt.timedelta(seconds=1)
    # Everything else is as jobdb wrote it.
    for field in ("dirname", "cwd", "logdir", "logfile"):
        assert mine[field] == created[field], field
    assert jobdb.list({"status": "stopped"}) == {"j": mine}
    assert jobdb.list({"status": "running"}) == {}


def test_jobdb_updates_a_nodejobs_job(folder, jobdb, nodejobs):
    nj = nodejobs(folder)
    nj.update_status({
        "self_id": "k", "status": "running", "last_pid": 5, "dirname": "dk", "cwd": "/k",
        "logdir": "/k/logs", "logfile": "k", "last_update": utc(2024, 2, 2, 2, 2, 2),
    })
    original = nj.list_status()["k"]

    # A partial update: only status (and last_update, given here).
    updated = jobdb.update({"self_id": "k", "status": "finished",
                            "last_update": "2024-03-03T03:03:03.000003Z"})
    assert updated == {
        "self_id": "k", "status": "finished", "last_update": "2024-03-03T03:03:03.000003Z",
        "last_pid": 5, "dirname": "dk", "cwd": "/k", "logdir": "/k/logs", "logfile": "k",
        **UNSET_JOBDB_FIELDS,
    }
    assert rows_for(folder, "k") == 1

    theirs = nj.list_status()["k"]
    assert_nodejobs_types(theirs)
    assert_same_job(updated, theirs)
    assert theirs["last_update"] == utc(2024, 3, 3, 3, 3, 3, 3)
    assert theirs["_id"] == original["_id"]  # nodejobs' row key survives jobdb's update

    # A jobdb update without last_update stamps now, and null clears a field.
    before = utcnow()
    second = jobdb.update({"self_id": "k", "last_pid": None, "cwd": "/k2"})
    assert (second["status"], second["last_pid"], second["cwd"], second["logdir"]) == (
        "finished", None, "/k2", "/k/logs")
    assert instant(second["last_update"]) >= before - dt.timedelta(seconds=1)
    theirs = nj.list_status({"status": "finished"})
    assert set(theirs) == {"k"}
    assert_same_job(second, theirs["k"])
    assert "last_pid" not in theirs["k"]

    # nodejobs can still update the row jobdb rewrote, in place.
    nj.update_status({"self_id": "k", "status": "stopped", "last_pid": 6})
    assert rows_for(folder, "k") == 1
    assert_same_job(jobdb.get("k"), nj.list_status()["k"])
    assert jobdb.get("k")["cwd"] == "/k2"


# --- 4. job_logs -------------------------------------------------------------------


def test_job_logs_read_the_same_text(folder, jobdb, nodejobs):
    logdir = folder / "logs"
    logdir.mkdir()
    out_text = "line one\nligne deux — é ✓\n\tindented\nno newline at the end"
    err_text = "Traceback (most recent call last):\n  boom\n"
    (logdir / "job-1_out.txt").write_text(out_text, encoding="utf-8")
    (logdir / "job-1_errors.txt").write_text(err_text, encoding="utf-8")
    (logdir / "job-2_out.txt").write_text("only stdout\n", encoding="utf-8")
    (logdir / "job-2_errors.txt").write_text("", encoding="utf-8")

    jobdb.update({"self_id": "job-1", "status": "running", "logdir": str(logdir), "logfile": "job-1"})
    nj = nodejobs(folder)
    # The other way too: a job nodejobs created, its logs read by jobdb.
    nj.update_status({"self_id": "job-2", "status": "finished", "logdir": str(logdir),
                      "logfile": "job-2"})

    for self_id in ("job-1", "job-2"):
        nj_out, nj_err = nj.job_logs(self_id)
        logs = jobdb.logs(self_id)
        assert logs["self_id"] == self_id
        assert logs["stdout"]["text"] == nj_out
        assert logs["stderr"]["text"] == nj_err
        for stream in ("stdout", "stderr"):
            assert logs[stream]["error"] is None
            assert logs[stream]["invalid_utf8"] is False
            assert logs[stream]["size"] == len(logs[stream]["text"].encode("utf-8"))

    assert jobdb.logs("job-1")["stdout"]["text"] == out_text
    assert jobdb.logs("job-1")["stderr"]["text"] == err_text
    assert jobdb.logs("job-1")["stdout"]["path"] == f"{logdir}/job-1_out.txt"
    assert jobdb.logs("job-2")["stderr"]["text"] == ""

    # A missing file: nodejobs puts an error message where the log would be;
    # jobdb reports it as an error, never as log text.
    (logdir / "job-1_errors.txt").unlink()
    _, nj_err = nj.job_logs("job-1")
    assert nj_err.startswith("error: could not open")
    stderr = jobdb.logs("job-1")["stderr"]
    assert stderr["text"] is None and stderr["size"] is None
    assert stderr["error"]["code"] == JOBDB_ERR_NOT_FOUND


# --- 5. duplicate rows left by racing nodejobs writers ------------------------------


def race_nodejobs_until_duplicate(folder, nodejobs, older, newer, deadline_s=15):
    """Two nodejobs JobDBs (two worker threads, two connections) upsert the
    same new self_id at the same moment, id after id, until nodejobs'
    find-then-insert upsert leaves two rows for one id. Both records are
    complete, with the same fields; `newer` has the later last_update.
    Returns that self_id. In practice about two tries in three collide."""
    writers = [nodejobs(folder), nodejobs(folder)]
    for w in writers:
        w.list_status()  # connect and create the table before racing
    records = [older, newer]
    barrier = threading.Barrier(2)
    stop = threading.Event()
    errors = []
    found = []

    def write(index):
        try:
            for attempt in range(10_000):
                self_id = f"race-{attempt}"
                barrier.wait(timeout=10)
                if stop.is_set():
                    return
                writers[index].update_status({**records[index], "self_id": self_id})
                barrier.wait(timeout=10)
                if index == 0:
                    if rows_for(folder, self_id) > 1:
                        found.append(self_id)
                        stop.set()
                    elif time.monotonic() > end:
                        stop.set()
        except Exception as err:  # reported by the assert below
            errors.append(err)
            stop.set()
            barrier.abort()

    end = time.monotonic() + deadline_s
    threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert found, f"nodejobs writers left no duplicate row within {deadline_s}s"
    return found[0]


def test_duplicate_rows_from_racing_nodejobs_writers(folder, jobdb, nodejobs):
    older = {"status": "starting", "last_pid": 100, "dirname": "d-old", "cwd": "/old",
             "logdir": "/old/logs", "logfile": "old", "last_update": utc(2024, 6, 1, 0, 0, 0, 1)}
    newer = {"status": "running", "last_pid": 200, "dirname": "d-new", "cwd": "/new",
             "logdir": "/new/logs", "logfile": "new", "last_update": utc(2024, 6, 1, 0, 0, 0, 2)}
    self_id = race_nodejobs_until_duplicate(folder, nodejobs, older, newer)
    assert rows_for(folder, self_id) == 2

    expected_newest = {
        "self_id": self_id, "status": "running", "last_update": "2024-06-01T00:00:00.000002Z",
        "last_pid": 200, "dirname": "d-new", "cwd": "/new", "logdir": "/new/logs", "logfile": "new",
        **UNSET_JOBDB_FIELDS,
    }
    # Reading: the row with the newest last_update, whichever was inserted last.
    assert jobdb.get(self_id) == expected_newest
    listed = jobdb.list()
    assert listed[self_id] == expected_newest
    assert list(listed).count(self_id) == 1
    assert jobdb.list({"status": "running"})[self_id] == expected_newest
    assert self_id not in jobdb.list({"status": "starting"})  # the older row is hidden
    assert jobdb.list({"self_id": self_id}) == {self_id: expected_newest}

    # Updating: one row is left, the newest row's fields plus the update.
    updated = jobdb.update({"self_id": self_id, "status": "finished", "last_pid": 201})
    assert rows_for(folder, self_id) == 1
    assert instant(updated["last_update"]) > instant(expected_newest["last_update"])
    assert updated == {**expected_newest, "status": "finished", "last_pid": 201,
                       "last_update": updated["last_update"]}
    assert jobdb.get(self_id) == updated

    # nodejobs sees that one record, and its next update keeps one row.
    nj = nodejobs(folder)
    assert_same_job(updated, nj.list_status({"self_id": self_id})[self_id])
    nj.update_status({"self_id": self_id, "status": "stopped"})
    assert rows_for(folder, self_id) == 1
    assert jobdb.get(self_id)["status"] == "stopped"
    assert jobdb.get(self_id)["cwd"] == "/new"


# --- 6. indexes, and a database nodejobs created ------------------------------------


def test_nodejobs_lookups_use_jobdb_indexes(folder, jobdb, nodejobs):
    jobdb.update({"self_id": "x", "status": "running", "logdir": str(folder), "logfile": "x"})
    nj = nodejobs(folder)
    seen = spy_on_queries(nj)
    nj.list_status({"self_id": "x"})
    nj.job_logs("x")
    nj.update_status({"self_id": "x", "status": "stopped"})
    nj.list_status({"status": "stopped"})

    lookups = [(q, a) for q, a in seen if q == NODEJOBS_SELF_ID_QUERY]
    # list_status, job_logs, and the upsert's find then its update's find.
    assert len(lookups) == 4, seen
    for query, args in lookups:
        plan = query_plan(folder, query, args)
        assert uses_index(plan), plan
    by_status = [(q, a) for q, a in seen if "'$.status'" in q]
    assert by_status, seen
    for query, args in by_status:
        plan = query_plan(folder, query, args)
        assert uses_index(plan), plan


def test_database_created_by_nodejobs_then_opened_by_jobdb(folder, open_jobdb, nodejobs):
    nj = nodejobs(folder)
    nj.update_status({"self_id": "old-1", "status": "finished", "last_pid": 11, "cwd": "/o",
                      "last_update": utc(2023, 1, 1)})
    nj.update_status({"self_id": "old-2", "status": "running", "logdir": "/o/l", "logfile": "o2"})
    # No jobdb yet: nodejobs' lookup scans the table.
    assert not uses_index(query_plan(folder, NODEJOBS_SELF_ID_QUERY, ("old-1",)))

    jobdb = open_jobdb(folder)
    assert uses_index(query_plan(folder, NODEJOBS_SELF_ID_QUERY, ("old-1",)))

    theirs = nj.list_status()
    assert set(jobdb.list()) == set(theirs) == {"old-1", "old-2"}
    for self_id in theirs:
        assert_same_job(jobdb.get(self_id), theirs[self_id])
    assert jobdb.get("old-1")["last_update"] == "2023-01-01T00:00:00.000000Z"

    # Both keep working on it, each seeing the other's writes.
    jobdb.update({"self_id": "new-1", "status": "starting", "last_pid": 21})
    jobdb.update({"self_id": "old-2", "status": "finished"})
    nj.update_status({"self_id": "new-1", "status": "running", "last_pid": 22})
    nj.update_status({"self_id": "new-2", "status": "starting"})

    theirs = nj.list_status()
    mine = jobdb.list()
    assert set(mine) == set(theirs) == {"old-1", "old-2", "new-1", "new-2"}
    for self_id in mine:
        assert_same_job(mine[self_id], theirs[self_id])
        assert rows_for(folder, self_id) == 1
    assert (mine["old-2"]["status"], mine["old-2"]["logdir"]) == ("finished", "/o/l")
    assert (mine["new-1"]["status"], mine["new-1"]["last_pid"]) == ("running", 22)

    # A second jobdb handle, and nodejobs opened afresh, agree.
    again = open_jobdb(folder)
    assert again.list() == mine
    assert set(nodejobs(folder).list_status()) == set(mine)


# --- 7. both at once, in one process --------------------------------------------------


def sqlite_libraries_mapped():
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return {line.split()[-1] for line in maps if "libsqlite3" in line}


def test_jobdb_and_nodejobs_in_one_process(folder, jobdb, nodejobs):
    nj = nodejobs(folder)
    nj.list_status()  # nodejobs' connection is open now, beside jobdb's

    # Sharing one process is safe only with one SQLite library in it.
    try:
        mapped = sqlite_libraries_mapped()
    except OSError:
        mapped = None
    if mapped is not None:
        assert len(mapped) == 1, mapped
    with contextlib.suppress(OSError):
        ldd = subprocess.run(["ldd", os.environ["JOBDB_LIBRARY"]], capture_output=True, text=True).stdout
        if ldd:
            assert "libsqlite3" in ldd, "libjobdb.so does not link the system libsqlite3"

    n = 20
    for i in range(n):
        nj.update_status({"self_id": f"nj-{i}", "status": "starting", "last_pid": i, "cwd": f"/nj/{i}"})
        got = jobdb.get(f"nj-{i}")
        assert (got["status"], got["last_pid"], got["cwd"]) == ("starting", i, f"/nj/{i}")

        made = jobdb.update({"self_id": f"jd-{i}", "status": "running", "last_pid": 1000 + i})
        assert_same_job(made, nj.list_status({"self_id": f"jd-{i}"})[f"jd-{i}"])

        if i > 0:
            jobdb.update({"self_id": f"nj-{i - 1}", "status": "running"})
            nj.update_status({"self_id": f"jd-{i - 1}", "status": "finished", "last_pid": 2000 + i})

    # Both at the same moment, from two threads, on separate jobs.
    errors = []

    def jobdb_writer():
        try:
            for i in range(30):
                jobdb.update({"self_id": f"jt-{i}", "status": "running", "last_pid": i})
        except Exception as err:
            errors.append(err)

    def nodejobs_writer():
        try:
            for i in range(30):
                nj.update_status({"self_id": f"nt-{i}", "status": "running", "last_pid": i})
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=jobdb_writer), threading.Thread(target=nodejobs_writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    theirs = nj.list_status()
    mine = jobdb.list()
    assert set(mine) == set(theirs)
    assert len(mine) == 2 * n + 60 == total_rows(folder)
    for self_id in mine:
        assert_same_job(mine[self_id], theirs[self_id])
    for i in range(n - 1):
        assert (mine[f"nj-{i}"]["status"], mine[f"nj-{i}"]["cwd"]) == ("running", f"/nj/{i}")
        assert (mine[f"jd-{i}"]["status"], mine[f"jd-{i}"]["last_pid"]) == ("finished", 2001 + i)
    assert mine[f"nj-{n - 1}"]["status"] == "starting"
    assert mine[f"jd-{n - 1}"]["status"] == "running"
    assert set(jobdb.list({"status": "running"})) == set(nj.list_status({"status": "running"}))


def test_fields_jobdb_adds_survive_nodejobs(folder, jobdb, call, nodejobs):
    """exit_code, command, the time fields and metadata are extra fields to
    nodejobs: it returns them, keeps them through its own updates, and
    jobdb reads them back unchanged."""
    code, written = call(
        "update_status",
        json.dumps({
            "self_id": "rich", "status": "finished", "exit_code": 3,
            "command": "make check", "started_at": "2024-05-01T12:00:00.5+02:00",
            "ended_at": "2024-05-01T10:05:00Z",
            "metadata": {"owner": "ci", "attempt": 2, "tags": ["nightly"]},
        }),
    )
    assert code == JOBDB_OK, written

    nj = nodejobs(folder)
    theirs = nj.list_status()["rich"]
    assert theirs["exit_code"] == 3 and theirs["command"] == "make check"
    assert theirs["started_at"] == dt.datetime(2024, 5, 1, 10, 0, 0, 500000)
    assert theirs["created_at"] == instant(written["created_at"])
    assert theirs["metadata"] == {"owner": "ci", "attempt": 2, "tags": ["nightly"]}

    nj.update_status({"self_id": "rich", "status": "archived"})
    code, after = call("get_status", "rich")
    assert code == JOBDB_OK, after
    assert after["status"] == "archived"
    for field in ("exit_code", "command", "created_at", "started_at", "ended_at", "metadata"):
        assert after[field] == written[field], field
    assert rows_for(folder, "rich") == 1


def test_the_change_feed_sees_nodejobs_writes(folder, jobdb, call, nodejobs):
    """nodejobs replaces a row by deleting and inserting it; jobdb's
    triggers record both, so a monitor polling jobdb_changes sees the
    job, once, with its record as nodejobs left it."""
    jobdb.update({"self_id": "watched", "status": "starting"})
    code, start = call("changes", None)
    assert code == JOBDB_OK, start

    nj = nodejobs(folder)
    nj.update_status({"self_id": "watched", "status": "running", "last_pid": 77})
    nj.update_status({"self_id": "new-from-nodejobs", "status": "starting"})

    code, seen = call("changes", json.dumps({"cursor": start["next_cursor"]}))
    assert code == JOBDB_OK, seen
    by_id = {change["self_id"]: change["record"] for change in seen["changes"]}
    assert list(by_id) == ["watched", "new-from-nodejobs"]
    assert by_id["watched"]["status"] == "running" and by_id["watched"]["last_pid"] == 77
