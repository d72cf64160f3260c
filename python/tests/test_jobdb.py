"""Tests of python/jobdb.py against the real libjobdb.

Run with `make test-python`, without JOBDB_LIBRARY: the module finds
target/release/libjobdb.so by itself (../target/release from the module).

There is deliberately no conftest.py here: tests/compat/test_nodejobs.py
imports its own conftest by the plain name `conftest`, which a second
conftest.py would shadow when pytest collects both folders in one run.
"""

import datetime
import gc
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

import jobdb  # noqa: E402
from jobdb import JobDB  # noqa: E402

UTC = datetime.timezone.utc
REPO_DIR = os.path.dirname(PYTHON_DIR)
FIELDS = ["self_id", "status", "last_update", "last_pid", "dirname", "cwd",
          "logdir", "logfile", "exit_code", "command", "created_at",
          "started_at", "ended_at", "metadata"]
TIME_FIELDS = ["last_update", "created_at", "started_at", "ended_at"]
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))
MINUS_FIVE = datetime.timezone(datetime.timedelta(hours=-5))


@pytest.fixture
def db_folder(tmp_path):
    """The folder holding jobs.db."""
    return tmp_path / "db"


@pytest.fixture
def db(db_folder):
    """A JobDB on a fresh folder, closed at teardown."""
    with JobDB(db_folder) as opened:
        yield opened


@pytest.fixture
def logdir(tmp_path):
    """A folder for log files."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


def write_logs(logdir, name, out, err):
    """Writes <logdir>/<name>_out.txt and _errors.txt; None skips one."""
    if out is not None:
        (logdir / f"{name}_out.txt").write_bytes(out)
    if err is not None:
        (logdir / f"{name}_errors.txt").write_bytes(err)


# ---- Records ----------------------------------------------------------


def test_update_returns_the_stored_record(db):
    record = db.update_status({"self_id": "job123", "status": "running",
                               "last_pid": 4242, "cwd": "/srv"})
    assert list(record) == FIELDS
    assert record["self_id"] == "job123"
    assert record["status"] == "running"
    assert record["last_pid"] == 4242
    assert record["cwd"] == "/srv"
    assert record["dirname"] is None and record["logdir"] is None
    for field in ("exit_code", "command", "started_at", "ended_at", "metadata"):
        assert record[field] is None, field
    stamp = record["last_update"]
    assert isinstance(stamp, datetime.datetime) and stamp.tzinfo is UTC
    assert abs(datetime.datetime.now(UTC) - stamp) < datetime.timedelta(minutes=1)
    # The first write sets created_at to the same instant as last_update.
    assert record["created_at"] == stamp and record["created_at"].tzinfo is UTC
    assert db.get_status("job123") == record


def test_partial_update_keeps_fields_and_none_clears(db):
    db.update_status({"self_id": "j", "status": "starting", "last_pid": 7,
                      "cwd": "/a", "logdir": "/logs", "logfile": "j"})
    record = db.update_status({"self_id": "j", "status": "running"})
    assert record["status"] == "running"
    assert (record["last_pid"], record["cwd"], record["logdir"]) == (7, "/a", "/logs")

    record = db.update_status({"self_id": "j", "cwd": None, "last_pid": None})
    assert record["cwd"] is None and record["last_pid"] is None
    assert record["status"] == "running" and record["logfile"] == "j"
    assert db.get_status("j") == record


def test_update_takes_any_mapping_and_does_not_change_it(db):
    from types import MappingProxyType

    job = {"self_id": "m", "status": "running"}
    db.update_status(MappingProxyType(job))
    assert job == {"self_id": "m", "status": "running"}
    with pytest.raises(TypeError):
        db.update_status([("self_id", "m")])


def test_unicode_round_trips(db):
    record = db.update_status({"self_id": "ünï-☃", "status": "running",
                               "cwd": "/srv/日本\n\"quoted\"\\"})
    assert db.get_status("ünï-☃")["cwd"] == "/srv/日本\n\"quoted\"\\"
    assert list(db.list_status()) == ["ünï-☃"]
    assert record["self_id"] == "ünï-☃"


def test_list_status_all_and_by_status(db):
    assert db.list_status() == {}
    for self_id, status in [("c", "running"), ("a", "running"), ("b", "failed")]:
        db.update_status({"self_id": self_id, "status": status})

    everything = db.list_status()
    assert list(everything) == ["a", "b", "c"]  # sorted by self_id
    assert db.list_status(None) == everything
    assert db.list_status({}) == everything
    assert all(everything[key]["self_id"] == key for key in everything)
    assert isinstance(everything["a"]["last_update"], datetime.datetime)

    assert list(db.list_status({"status": "running"})) == ["a", "c"]
    assert list(db.list_status({"status": "failed"})) == ["b"]
    assert db.list_status({"status": "stopped"}) == {}
    assert list(db.list_status({"last_pid": None})) == ["a", "b", "c"]


def test_datetimes_in_records_and_filters(db):
    # Naive is taken as UTC; aware is converted; microseconds are kept.
    naive = datetime.datetime(2024, 5, 1, 12, 0, 0, 250000)
    record = db.update_status({"self_id": "n", "status": "done",
                               "last_update": naive})
    assert record["last_update"] == naive.replace(tzinfo=UTC)
    assert record["last_update"].tzinfo is UTC

    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    aware = datetime.datetime(2024, 5, 1, 16, 30, tzinfo=plus_two)
    record = db.update_status({"self_id": "a", "status": "done",
                               "last_update": aware})
    assert record["last_update"] == datetime.datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    assert record["last_update"].utcoffset() == datetime.timedelta(0)
    db.update_status({"self_id": "now", "status": "done"})

    assert list(db.list_status({"last_update": naive})) == ["n"]
    assert list(db.list_status({"last_update": naive.replace(tzinfo=UTC)})) == ["n"]
    assert list(db.list_status({"last_update": aware})) == ["a"]
    assert list(db.list_status({"last_update": aware.astimezone(UTC)
                                .replace(tzinfo=None)})) == ["a"]
    assert list(db.list_status({"status": "done", "last_update": aware})) == ["a"]
    assert db.list_status({"last_update": datetime.datetime(2000, 1, 1)}) == {}


def test_values_json_cannot_hold_are_refused_before_the_call(db):
    with pytest.raises(TypeError):
        db.update_status({"self_id": "x", "status": "s", "cwd": object()})
    with pytest.raises(ValueError):
        db.update_status({"self_id": "x", "status": "s", "last_pid": float("nan")})
    with pytest.raises(jobdb.NotFoundError):
        db.get_status("x")


# ---- The fields added after logfile -----------------------------------


def test_new_fields_round_trip(db):
    started = datetime.datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=PLUS_TWO)
    ended = datetime.datetime(2024, 5, 1, 12, 5)  # naive: taken as UTC
    metadata = {"host": "db1", "retries": 2, "tags": ["nightly", "ünï"],
                "nested": {"ok": True, "none": None, "ratio": 0.5}}
    record = db.update_status({
        "self_id": "rich", "status": "failed", "exit_code": -9,
        "command": "rsync -a /srv /mnt # \"quoted\" ☃",
        "started_at": started, "ended_at": ended, "metadata": metadata})
    assert list(record) == FIELDS
    assert record["exit_code"] == -9
    assert record["command"] == "rsync -a /srv /mnt # \"quoted\" ☃"
    assert record["started_at"] == datetime.datetime(2024, 5, 1, 12, 0, 0, 123456,
                                                     tzinfo=UTC)
    assert record["ended_at"] == ended.replace(tzinfo=UTC)
    for field in TIME_FIELDS:
        assert isinstance(record[field], datetime.datetime), field
        assert record[field].tzinfo is UTC, field
    assert record["metadata"] == metadata
    assert db.get_status("rich") == record
    assert db.list_status()["rich"] == record
    assert db.query().jobs == [record]

    # Timestamps also go in as strings with an offset, and ints as ints.
    record = db.update_status({"self_id": "rich", "exit_code": 2**63 - 1,
                               "ended_at": "2024-05-01T08:00:00-05:00"})
    assert record["exit_code"] == 2**63 - 1
    assert record["ended_at"] == datetime.datetime(2024, 5, 1, 13, tzinfo=UTC)

    # None clears each of them; fields left out stay.
    record = db.update_status({"self_id": "rich", "exit_code": None,
                               "command": None, "started_at": None,
                               "ended_at": None})
    for field in ("exit_code", "command", "started_at", "ended_at"):
        assert record[field] is None, field
    assert record["metadata"] == metadata


def test_created_at_is_set_once(db):
    first = db.update_status({"self_id": "c", "status": "starting"})
    created = first["created_at"]
    assert created == first["last_update"]
    time.sleep(0.01)
    later = db.update_status({"self_id": "c", "status": "running",
                              "started_at": datetime.datetime.now(UTC)})
    assert later["last_update"] > created
    assert later["created_at"] == created
    # Even an update that moves last_update back leaves it alone.
    old = datetime.datetime(2001, 1, 1, tzinfo=UTC)
    again = db.update_status({"self_id": "c", "last_update": old})
    assert again["last_update"] == old and again["created_at"] == created
    assert db.get_status("c")["created_at"] == created

    # Another value, or None, is refused once the job has one.
    for value in (datetime.datetime(2020, 1, 1), "2020-01-01T00:00:00Z", None):
        with pytest.raises(jobdb.SchemaError) as info:
            db.update_status({"self_id": "c", "created_at": value})
        assert info.value.field == "created_at"
    assert db.get_status("c")["created_at"] == created
    # None is refused on a new job too; a time is taken as the creation.
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_status({"self_id": "new", "status": "s", "created_at": None})
    assert info.value.field == "created_at"
    assert list(db.list_status()) == ["c"]
    given = datetime.datetime(2020, 1, 1, 2, tzinfo=PLUS_TWO)
    record = db.update_status({"self_id": "copied", "status": "s",
                               "created_at": given})
    assert record["created_at"] == datetime.datetime(2020, 1, 1, tzinfo=UTC)

    # The stored value itself is accepted, so a record read back can be
    # written back as it is.
    record = db.get_status("c")
    record["status"] = "done"
    assert db.update_status(record)["created_at"] == created
    assert db.update_status({"self_id": "c",
                             "created_at": created.astimezone(PLUS_TWO)})


def test_jobs_created_by_another_program_have_no_created_at(db, db_folder):
    with sqlite3.connect(db_folder / "jobs.db") as conn:  # as nodejobs writes
        conn.execute("INSERT INTO process_status (_id, value) VALUES (?, ?)", (
            "row-1", json.dumps({"_id": "row-1", "self_id": "legacy",
                                 "status": "done", "last_pid": 7,
                                 "last_update": "2024-05-01T12:00:00"})))
    conn.close()
    record = db.get_status("legacy")
    assert record["created_at"] is None
    assert record["last_update"] == datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)
    # An update does not invent one: jobdb did not create the job.
    assert db.update_status({"self_id": "legacy", "exit_code": 0})["created_at"] is None
    assert list(db.list_status({"created_at": None})) == ["legacy"]


def test_metadata_is_replaced_whole_and_cleared_by_none(db):
    db.update_status({"self_id": "m", "status": "s",
                      "metadata": {"a": 1, "b": {"c": [1, 2]}}})
    record = db.update_status({"self_id": "m", "status": "t"})
    assert record["metadata"] == {"a": 1, "b": {"c": [1, 2]}}  # left out: kept

    record = db.update_status({"self_id": "m", "metadata": {"x": "y"}})
    assert record["metadata"] == {"x": "y"}  # no merge: "a" and "b" are gone
    assert db.get_status("m")["metadata"] == {"x": "y"}

    record = db.update_status({"self_id": "m", "metadata": {}})
    assert record["metadata"] == {}
    record = db.update_status({"self_id": "m", "metadata": None})
    assert record["metadata"] is None
    assert db.get_status("m")["metadata"] is None

    # Datetimes inside metadata are the caller's values: stored as text.
    when = datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)
    record = db.update_status({"self_id": "m", "metadata": {"when": when}})
    assert record["metadata"] == {"when": "2024-05-01T12:00:00+00:00"}


@pytest.mark.parametrize("job, field", [
    ({"metadata": ["not", "a", "dict"]}, "metadata"),
    ({"metadata": "text"}, "metadata"),
    ({"exit_code": "0"}, "exit_code"),
    ({"exit_code": 1.5}, "exit_code"),
    ({"exit_code": 2**64}, "exit_code"),
    ({"command": 5}, "command"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"ended_at": 1714564800}, "ended_at"),
])
def test_new_fields_refuse_wrong_types(db, job, field):
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_status({"self_id": "x", "status": "s", **job})
    assert info.value.field == field
    assert db.list_status() == {}


# ---- Filter operators -------------------------------------------------


@pytest.fixture
def pids(db):
    """Five jobs, p1..p5, with last_pid 1..5 (p5 none), statuses and
    commands, and exit codes on the finished ones."""
    jobs = [
        ("p1", "running", 1, None),
        ("p2", "starting", 2, None),
        ("p3", "failed", 3, 1),
        ("p4", "finished", 4, 0),
        ("p5", "running", None, None),
    ]
    for self_id, status, pid, exit_code in jobs:
        db.update_status({"self_id": self_id, "status": status,
                          "last_pid": pid, "exit_code": exit_code,
                          "command": f"run {self_id}"})
    return db


def ids(jobs):
    """The self_ids of a list_status result, a page, or records."""
    if isinstance(jobs, dict):
        return list(jobs)
    return [record["self_id"] for record in jobs]


@pytest.mark.parametrize("filter, expected", [
    ({"status": {"$in": ["running", "starting"]}}, ["p1", "p2", "p5"]),
    ({"status": {"$in": ("failed",)}}, ["p3"]),  # a tuple is a list
    ({"status": {"$in": []}}, []),
    ({"last_pid": {"$in": [1, 4, None]}}, ["p1", "p4", "p5"]),
    ({"last_pid": {"$ne": 3}}, ["p1", "p2", "p4", "p5"]),  # null differs
    ({"last_pid": {"$ne": None}}, ["p1", "p2", "p3", "p4"]),
    ({"status": {"$ne": "running"}}, ["p2", "p3", "p4"]),
    ({"last_pid": {"$gt": 2}}, ["p3", "p4"]),  # null compares with nothing
    ({"last_pid": {"$gte": 2}}, ["p2", "p3", "p4"]),
    ({"last_pid": {"$lt": 2}}, ["p1"]),
    ({"last_pid": {"$lte": 2}}, ["p1", "p2"]),
    ({"last_pid": {"$gt": 1, "$lt": 4}}, ["p2", "p3"]),
    ({"last_pid": {"$gte": 5}}, []),
    ({"status": {"$lt": "g"}}, ["p3", "p4"]),  # text compares as text
    ({"exit_code": {"$ne": 0}, "status": {"$in": ["failed", "finished"]}}, ["p3"]),
    ({"exit_code": None}, ["p1", "p2", "p5"]),
    ({"command": {"$in": ["run p2", "run p4"]}}, ["p2", "p4"]),
    ({"status": "running", "last_pid": {"$ne": None}}, ["p1"]),
])
def test_each_operator(pids, filter, expected):
    assert ids(pids.list_status(filter)) == expected
    assert ids(pids.query(filter)) == expected
    assert ids(pids.iter_jobs(filter, page_size=1)) == expected
    assert pids.count(filter) == len(expected)


@pytest.mark.parametrize("filter, field", [
    ({"status": {"$regex": "run"}}, "status"),
    ({"status": {"$in": "running"}}, "status"),
    ({"status": {}}, "status"),
    ({"last_pid": {"$gt": None}}, "last_pid"),
    ({"last_pid": {"$gt": "2"}}, "last_pid"),
    ({"last_update": {"$lt": "yesterday"}}, "last_update"),
    ({"metadata": {"host": "db1"}}, "metadata"),
    ({"metadata": None}, "metadata"),
    ({"stauts": {"$in": ["running"]}}, "stauts"),
])
def test_bad_operators_are_schema_errors(pids, filter, field):
    for call in (pids.list_status, pids.query, pids.iter_jobs, pids.count):
        with pytest.raises(jobdb.SchemaError) as info:
            call(filter)
        assert info.value.field == field


def test_time_window_with_offsets(db):
    # Jobs an hour apart, from 2024-05-01 10:00 UTC to 15:00 UTC.
    base = datetime.datetime(2024, 5, 1, 10, tzinfo=UTC)
    for hour in range(6):
        at = base + datetime.timedelta(hours=hour)
        db.update_status({"self_id": f"h{10 + hour}", "status": "done",
                          "last_update": at, "started_at": at,
                          "ended_at": at + datetime.timedelta(minutes=30)})

    # [11:00 UTC, 14:00 UTC) said in three ways: +02:00, naive UTC, -05:00.
    window = {"$gte": datetime.datetime(2024, 5, 1, 13, tzinfo=PLUS_TWO),
              "$lt": datetime.datetime(2024, 5, 1, 14)}
    assert ids(db.list_status({"last_update": window})) == ["h11", "h12", "h13"]
    window = {"$gt": datetime.datetime(2024, 5, 1, 6, tzinfo=MINUS_FIVE),
              "$lte": "2024-05-01T16:00:00+02:00"}
    assert ids(db.list_status({"started_at": window})) == ["h12", "h13", "h14"]
    # Microseconds count: 12:30 is the end of h12, one microsecond less is not.
    just_before = datetime.datetime(2024, 5, 1, 12, 29, 59, 999999, tzinfo=UTC)
    assert ids(db.list_status({"ended_at": {"$lte": just_before}})) == ["h10", "h11"]
    assert ids(db.list_status({"ended_at": {"$gt": just_before}})) == [
        "h12", "h13", "h14", "h15"]
    assert db.count({"ended_at": {"$gte": just_before,
                                  "$lt": datetime.datetime(2024, 5, 1, 12, 30, 1)}}) == 1
    # Datetimes inside $in and $ne are sent like any other.
    at_12 = datetime.datetime(2024, 5, 1, 14, tzinfo=PLUS_TWO)
    at_15 = datetime.datetime(2024, 5, 1, 15)
    assert ids(db.list_status({"started_at": {"$in": [at_12, at_15]}})) == ["h12", "h15"]
    assert db.count({"last_update": {"$ne": at_12}}) == 5
    # created_at is a time like any other, set to now by jobdb.
    now = datetime.datetime.now(UTC)
    assert db.count({"created_at": {"$gt": now - datetime.timedelta(minutes=5)}}) == 6
    assert db.count({"created_at": {"$lt": base}}) == 0
    # The same window as a query, newest first.
    page = db.query({"last_update": {"$gte": base + datetime.timedelta(hours=1),
                                     "$lt": base + datetime.timedelta(hours=4)}},
                    order_by="last_update", descending=True)
    assert ids(page) == ["h13", "h12", "h11"] and page.next_cursor is None


def test_running_jobs_not_updated_for_ten_minutes(db):
    now = datetime.datetime.now(UTC)
    ago = lambda minutes: now - datetime.timedelta(minutes=minutes)  # noqa: E731
    for self_id, status, minutes in [
        ("fresh", "running", 1),
        ("stale", "running", 15),
        ("staler", "starting", 60),
        ("just-fresh", "running", 9.99),
        ("done-long-ago", "finished", 120),
        ("failed-long-ago", "failed", 30),
    ]:
        db.update_status({"self_id": self_id, "status": status,
                          "last_update": ago(minutes)})

    stale = {"status": {"$in": ["running", "starting"]},
             "last_update": {"$lt": ago(10)}}
    page = db.query(stale, order_by="last_update")  # the oldest first
    assert ids(page) == ["staler", "stale"]
    assert page.next_cursor is None
    assert db.count(stale) == 2
    assert ids(db.iter_jobs(stale, order_by="last_update", descending=True,
                            page_size=1)) == ["stale", "staler"]


# ---- Queries and pages ------------------------------------------------


def make_jobs(db, count, prefix="j"):
    """Jobs j00, j01, ... with last_update one second apart, the newest
    last, and started_at on the even ones only."""
    base = datetime.datetime(2024, 5, 1, tzinfo=UTC)
    names = []
    for n in range(count):
        at = base + datetime.timedelta(seconds=n)
        name = f"{prefix}{n:02}"
        db.update_status({"self_id": name, "status": "failed" if n % 3 else "ok",
                          "last_update": at,
                          "started_at": at if n % 2 == 0 else None})
        names.append(name)
    return names


def test_query_defaults_to_every_job_by_self_id(db):
    page = db.query()
    assert isinstance(page, jobdb.Page)
    assert page.jobs == [] and page.next_cursor is None and page.last
    names = make_jobs(db, 5)
    page = db.query()
    assert ids(page) == names and page.next_cursor is None
    assert len(page) == 5 and list(page) == page.jobs
    assert all(isinstance(job["last_update"], datetime.datetime) for job in page)
    assert ids(db.query(descending=True)) == names[::-1]
    assert ids(db.query({"status": "missing"}, limit=3)) == []
    assert db.query({"status": "missing"}, limit=3).next_cursor is None
    with pytest.raises(TypeError):
        db.query("status=ok")
    with pytest.raises(TypeError):
        db.query({}, "self_id")  # the options are keyword-only


def test_pages_until_the_last_which_has_no_cursor(db):
    names = make_jobs(db, 25)
    seen, cursor, sizes = [], None, []
    while True:
        page = db.query(limit=10, cursor=cursor)
        sizes.append(len(page))
        seen += ids(page)
        if page.next_cursor is None:
            break
        assert isinstance(page.next_cursor, str) and not page.last
        cursor = page.next_cursor
    assert sizes == [10, 10, 5]
    assert seen == names

    # A last page that is exactly full has no cursor either.
    first = db.query({"status": "failed"}, limit=8)
    assert len(first) == 8 and first.next_cursor is not None
    second = db.query({"status": "failed"}, limit=8, cursor=first.next_cursor)
    assert len(second) == 8 and second.next_cursor is None
    assert ids(first) + ids(second) == ids(db.list_status({"status": "failed"}))
    # The page size may change from one page to the next.
    rest = db.query({"status": "failed"}, limit=100000, cursor=first.next_cursor)
    assert rest == second


@pytest.mark.parametrize("order_by", ["self_id", "last_update", "created_at",
                                      "started_at", "ended_at"])
@pytest.mark.parametrize("descending", [False, True])
def test_every_order_pages_like_one_page(db, order_by, descending):
    names = make_jobs(db, 13)
    whole = db.query(order_by=order_by, descending=descending)
    assert whole.next_cursor is None and len(whole) == 13
    for size in (1, 2, 5, 13):
        assert list(db.iter_jobs(order_by=order_by, descending=descending,
                                 page_size=size)) == whole.jobs
    by_self_id = sorted(names, reverse=descending)
    if order_by in ("self_id", "last_update", "created_at"):
        assert ids(whole) == by_self_id  # all in the order they were made
    elif order_by == "started_at":
        # Jobs without one come first ascending, last descending, each
        # group broken by self_id.
        with_time = [name for n, name in enumerate(names) if n % 2 == 0]
        without = [name for n, name in enumerate(names) if n % 2]
        expected = without + with_time
        assert ids(whole) == (expected[::-1] if descending else expected)
    else:  # ended_at: none has one, so by self_id alone
        assert ids(whole) == by_self_id


def test_iter_jobs_walks_every_page_lazily(db, monkeypatch):
    names = make_jobs(db, 10)
    calls = []
    original = db.query

    def counting_query(*args, **kwargs):
        calls.append(kwargs.get("cursor"))
        return original(*args, **kwargs)

    monkeypatch.setattr(db, "query", counting_query)
    jobs = db.iter_jobs(page_size=4)
    assert len(calls) == 1  # the first page at once, so errors come here
    assert next(jobs)["self_id"] == "j00"
    assert len(calls) == 1
    assert ids(jobs) == names[1:]
    assert len(calls) == 3 and calls[0] is None and all(calls[1:])

    assert ids(db.iter_jobs({"status": "ok"}, descending=True, page_size=2)) == [
        "j09", "j06", "j03", "j00"]
    assert list(db.iter_jobs({"status": "missing"})) == []
    assert ids(db.iter_jobs()) == names  # default page size
    # It can start from a cursor, as query does.
    cursor = original(limit=7).next_cursor
    assert ids(db.iter_jobs(cursor=cursor, page_size=2)) == names[7:]
    with pytest.raises(jobdb.SchemaError) as info:
        db.iter_jobs(page_size=0)
    assert info.value.field == "limit"


def delete_jobs(db_folder, *self_ids):
    """Deletes jobs behind jobdb's back, as another program could."""
    conn = sqlite3.connect(db_folder / "jobs.db")
    try:
        with conn:
            for self_id in self_ids:
                deleted = conn.execute(
                    "DELETE FROM process_status "
                    "WHERE json_extract(value, '$.self_id') = ?", (self_id,))
                assert deleted.rowcount == 1, self_id
    finally:
        conn.close()


def test_cursor_survives_inserts_and_deletes(db, db_folder):
    make_jobs(db, 10)  # j00 .. j09
    first = db.query(limit=4)
    assert ids(first) == ["j00", "j01", "j02", "j03"]

    # Delete a job already seen, the last one seen (where the cursor
    # points), and one not yet seen; add one before the cursor and two
    # after it.
    delete_jobs(db_folder, "j01", "j03", "j05")
    for self_id in ("j015", "j035", "j10"):
        db.update_status({"self_id": self_id, "status": "new"})

    second = db.query(limit=4, cursor=first.next_cursor)
    assert ids(second) == ["j035", "j04", "j06", "j07"]
    delete_jobs(db_folder, "j08")
    third = db.query(limit=4, cursor=second.next_cursor)
    assert ids(third) == ["j09", "j10"] and third.next_cursor is None


def test_cursor_by_time_survives_inserts_and_deletes(db, db_folder):
    make_jobs(db, 10)  # last_update j00 < j01 < ... < j09
    first = db.query(order_by="last_update", descending=True, limit=3)
    assert ids(first) == ["j09", "j08", "j07"]
    delete_jobs(db_folder, "j07", "j06")
    base = datetime.datetime(2024, 5, 1, tzinfo=UTC)
    # Two at the time of j07, where the cursor points: ties go by self_id,
    # descending too, so j07a comes before j07 (skipped) and j06b after it.
    db.update_status({"self_id": "j07a", "status": "new",
                      "last_update": base + datetime.timedelta(seconds=7)})
    db.update_status({"self_id": "j06b", "status": "new",
                      "last_update": base + datetime.timedelta(seconds=7)})
    db.update_status({"self_id": "late", "status": "new"})  # newest: skipped
    rest = list(db.iter_jobs(order_by="last_update", descending=True,
                             page_size=2, cursor=first.next_cursor))
    assert ids(rest) == ["j06b", "j05", "j04", "j03", "j02", "j01", "j00"]


@pytest.mark.parametrize("limit", [0, -1, 100001, 2**70, 1.5, "10", True])
def test_bad_limit_is_schema_error(db, limit):
    make_jobs(db, 3)
    with pytest.raises(jobdb.SchemaError) as info:
        db.query(limit=limit)
    assert info.value.field == "limit"
    assert (info.value.code, info.value.name) == (3, "JOBDB_ERR_SCHEMA")


def test_limits_at_the_bounds(db):
    make_jobs(db, 3)
    assert ids(db.query(limit=1)) == ["j00"]
    assert len(db.query(limit=100000)) == 3


def test_foreign_or_bad_cursor_is_schema_error(db, tmp_path):
    make_jobs(db, 6)
    cursor = db.query({"status": "failed"}, limit=2).next_cursor
    assert cursor is not None
    # The same query goes on with it.
    assert ids(db.query({"status": "failed"}, limit=2, cursor=cursor)) == ["j04", "j05"]
    for other in [
        dict(filter={"status": "ok"}),
        dict(filter=None),
        dict(filter={"status": "failed"}, descending=True),
        dict(filter={"status": "failed"}, order_by="last_update"),
        dict(filter={"status": {"$in": ["failed"]}}),
    ]:
        with pytest.raises(jobdb.SchemaError) as info:
            db.query(other.pop("filter"), cursor=cursor, **other)
        assert info.value.field == "cursor", other
        assert "another filter or order" in info.value.message
    for junk in ["", "not a cursor", cursor[:-4], cursor + "x", "e30"]:
        with pytest.raises(jobdb.SchemaError) as info:
            db.query({"status": "failed"}, cursor=junk)
        assert info.value.field == "cursor", junk
    with pytest.raises(jobdb.SchemaError) as info:
        db.query(cursor=5)
    assert info.value.field == "cursor"


@pytest.mark.parametrize("options, field", [
    (dict(order_by="status"), "order_by"),
    (dict(order_by="metadata"), "order_by"),
    (dict(order_by=None), "order_by"),
    (dict(descending="yes"), "descending"),
    (dict(descending=1), "descending"),
])
def test_bad_order_is_schema_error(db, options, field):
    with pytest.raises(jobdb.SchemaError) as info:
        db.query(**options)
    assert info.value.field == field


def test_count(db):
    assert db.count() == 0
    assert db.count({}) == 0
    make_jobs(db, 10)
    assert db.count() == 10 and db.count(None) == 10
    assert db.count({"status": "ok"}) == 4
    assert db.count({"status": "failed"}) == len(db.list_status({"status": "failed"}))
    assert db.count({"started_at": None}) == 5
    assert db.count({"started_at": {"$ne": None}, "status": "ok"}) == 2
    assert db.count({"status": "missing"}) == 0
    assert isinstance(db.count(), int)
    with pytest.raises(jobdb.SchemaError) as info:
        db.count({"stauts": "ok"})
    assert info.value.field == "stauts"
    with pytest.raises(TypeError):
        db.count("status=ok")



# ---- Conditional updates ----------------------------------------------


def test_update_only_if_writes_when_the_condition_holds(db):
    db.update_status({"self_id": "j", "status": "starting", "last_pid": 1})
    record = db.update_status({"self_id": "j", "status": "running"},
                              only_if={"status": "starting"})
    assert record["status"] == "running" and record["last_pid"] == 1
    assert db.get_status("j") == record
    # Operators, several fields, and {} (the job only has to exist).
    record = db.update_status(
        {"self_id": "j", "last_pid": 2},
        only_if={"status": {"$in": ["starting", "running"]},
                 "last_pid": {"$lt": 2}})
    assert record["last_pid"] == 2
    assert db.update_status({"self_id": "j", "exit_code": 0},
                            only_if={})["exit_code"] == 0


def test_update_only_if_conflict_carries_the_current_record(db):
    stored = db.update_status({"self_id": "j", "status": "finished",
                               "exit_code": 0, "metadata": {"k": [1]}})
    with pytest.raises(jobdb.ConflictError) as info:
        db.update_status({"self_id": "j", "status": "running", "last_pid": 9},
                         only_if={"status": "starting"})
    error = info.value
    assert isinstance(error, jobdb.JobDBError)
    assert (error.code, error.name) == (12, "JOBDB_ERR_CONFLICT")
    assert error.index is None and "nothing was written" in error.message
    # The record as it stands, with datetimes like any other record.
    assert error.current == stored
    assert list(error.current) == FIELDS
    assert error.current["last_update"].tzinfo is UTC
    assert db.get_status("j") == stored  # nothing was written
    # It survives pickling, current included.
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is jobdb.ConflictError and copy.current == stored
    assert "ConflictError(code=12" in repr(error)


def test_update_only_if_never_creates_and_checks_its_filter(db):
    with pytest.raises(jobdb.NotFoundError):
        db.update_status({"self_id": "ghost", "status": "running"},
                         only_if={"status": "starting"})
    with pytest.raises(jobdb.NotFoundError):
        db.update_status({"self_id": "ghost", "status": "running"}, only_if={})
    assert db.list_status() == {}
    db.update_status({"self_id": "j", "status": "starting"})
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_status({"self_id": "j", "status": "running"},
                         only_if={"stauts": "starting"})
    assert info.value.field == "stauts"
    with pytest.raises(TypeError):
        db.update_status({"self_id": "j", "status": "running"}, only_if="starting")
    with pytest.raises(TypeError):
        db.update_status({"self_id": "j"}, {"status": "starting"})  # keyword-only
    assert db.get_status("j")["status"] == "starting"


def test_only_one_of_many_claims_wins(db_folder):
    JobDB(db_folder).close()
    with JobDB(db_folder) as db:
        db.update_status({"self_id": "task", "status": "queued"})
    outcomes = []
    barrier = threading.Barrier(8)

    def claim(n):
        with JobDB(db_folder) as mine:  # one connection per thread
            barrier.wait()
            try:
                mine.update_status({"self_id": "task", "status": "claimed",
                                    "metadata": {"owner": n}},
                                   only_if={"status": "queued"})
                outcomes.append(("won", n))
            except jobdb.ConflictError as error:
                outcomes.append(("lost", error.current["metadata"]["owner"]))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [n for kind, n in outcomes if kind == "won"]
    assert len(outcomes) == 8 and len(winners) == 1
    # Every loser saw the winner's record.
    assert all(n == winners[0] for _, n in outcomes)
    with JobDB(db_folder) as db:
        assert db.get_status("task")["metadata"] == {"owner": winners[0]}


# ---- Batches ----------------------------------------------------------


def test_update_many_writes_in_order_and_returns_the_records(db):
    assert db.update_many([]) == []
    records = db.update_many([
        {"self_id": "a", "status": "starting", "last_pid": 1},
        {"self_id": "b", "status": "queued",
         "started_at": datetime.datetime(2024, 5, 1, 14, tzinfo=PLUS_TWO)},
        {"self_id": "a", "status": "running"},  # sees the first
    ])
    assert [(r["self_id"], r["status"]) for r in records] == [
        ("a", "starting"), ("b", "queued"), ("a", "running")]
    assert records[2]["last_pid"] == 1
    assert records[1]["started_at"] == datetime.datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert all(list(r) == FIELDS for r in records)
    assert db.list_status() == {"a": records[2], "b": records[1]}
    # Any iterable of mappings, a generator included.
    more = db.update_many({"self_id": f"g{n}", "status": "s"} for n in range(3))
    assert ids(more) == ["g0", "g1", "g2"]


@pytest.mark.parametrize("bad, field", [
    ({"self_id": "new"}, "status"),
    ({"self_id": "a", "bogus": 1}, "bogus"),
    ({"self_id": "a", "last_pid": "7"}, "last_pid"),
])
def test_update_many_is_all_or_nothing_and_says_which(db, bad, field):
    before = db.update_status({"self_id": "a", "status": "old"})
    batch = [{"self_id": "a", "status": "new"},
             {"self_id": "b", "status": "new"},
             bad,
             {"self_id": "c", "status": "new"}]
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_many(batch)
    assert info.value.index == 2 and info.value.field == field
    assert "index=2" in repr(info.value)
    assert pickle.loads(pickle.dumps(info.value)).index == 2
    assert db.list_status() == {"a": before}  # nothing written


def test_update_many_refuses_what_is_not_a_list_of_dicts(db):
    with pytest.raises(TypeError):
        db.update_many({"self_id": "a", "status": "s"})  # one record, not a list
    with pytest.raises(TypeError):
        db.update_many("a")
    with pytest.raises(TypeError, match="job 1"):
        db.update_many([{"self_id": "a", "status": "s"}, ["self_id", "b"]])
    with pytest.raises(TypeError):
        db.update_many(None)
    assert db.list_status() == {}


# ---- Deleting ---------------------------------------------------------


def seed_for_delete(db, logdir):
    """f0..f4 finished, one second apart (f4 newest), r running; each with
    its two log files, and an unrelated file beside them."""
    base = datetime.datetime(2024, 5, 1, tzinfo=UTC)
    for n in range(5):
        name = f"f{n}"
        write_logs(logdir, name, b"out\n", b"err\n")
        db.update_status({"self_id": name, "status": "finished",
                          "last_update": base + datetime.timedelta(seconds=n),
                          "logdir": str(logdir), "logfile": name})
    write_logs(logdir, "r", b"out\n", b"err\n")
    db.update_status({"self_id": "r", "status": "running",
                      "logdir": str(logdir), "logfile": "r"})
    (logdir / "f0_out.txt.1").write_bytes(b"rotated\n")
    (logdir / "f0.txt").write_bytes(b"unrelated\n")


def files(folder):
    return sorted(os.listdir(folder))


def test_delete_keeps_the_newest(db, logdir):
    seed_for_delete(db, logdir)
    result = db.delete({"status": "finished"}, keep_newest=2)
    assert isinstance(result, jobdb.Deletion)
    assert result.deleted == ["f2", "f1", "f0"]  # newest first
    assert not result.dry_run
    assert (result.logs_removed, result.logs_kept, result.log_errors) == ([], [], {})
    assert ids(db.list_status()) == ["f3", "f4", "r"]
    assert len(files(logdir)) == 14  # logs stay unless asked
    # Nothing matches: nothing goes.
    assert db.delete({"status": "missing"}).deleted == []


def test_delete_dry_run_changes_nothing(db, logdir):
    seed_for_delete(db, logdir)
    before, before_files = db.list_status(), files(logdir)
    result = db.delete({"self_id": "f0"}, dry_run=True, remove_logs=True)
    assert result.dry_run and result.deleted == ["f0"]
    assert result.logs_removed == [f"{logdir}/f0_errors.txt", f"{logdir}/f0_out.txt"]
    assert db.list_status() == before and files(logdir) == before_files


def test_delete_remove_logs_removes_exactly_two_files(db, logdir):
    seed_for_delete(db, logdir)
    before = set(files(logdir))
    result = db.delete({"self_id": "f0"}, remove_logs=True)
    assert result.deleted == ["f0"]
    assert sorted(result.logs_removed) == [f"{logdir}/f0_errors.txt",
                                           f"{logdir}/f0_out.txt"]
    assert before - set(files(logdir)) == {"f0_out.txt", "f0_errors.txt"}
    assert "f0_out.txt.1" in files(logdir) and "f0.txt" in files(logdir)
    assert ids(db.list_status()) == ["f1", "f2", "f3", "f4", "r"]


def test_delete_keeps_logs_a_remaining_job_names(db, logdir):
    seed_for_delete(db, logdir)
    db.update_status({"self_id": "twin", "status": "finished",
                      "logdir": str(logdir), "logfile": "r"})  # r's logs
    result = db.delete({"self_id": "twin"}, remove_logs=True)
    assert result.deleted == ["twin"] and result.logs_removed == []
    assert sorted(result.logs_kept) == [f"{logdir}/r_errors.txt", f"{logdir}/r_out.txt"]
    assert (logdir / "r_out.txt").exists()


def test_delete_reports_a_log_it_cannot_remove(db, logdir):
    (logdir / "d_out.txt").mkdir()  # a folder where the log should be
    (logdir / "d_out.txt" / "inside").write_bytes(b"")
    write_logs(logdir, "d", None, b"err\n")
    db.update_status({"self_id": "d", "status": "finished",
                      "logdir": str(logdir), "logfile": "d"})
    result = db.delete({"self_id": "d"}, remove_logs=True)
    assert result.deleted == ["d"]
    assert result.logs_removed == [f"{logdir}/d_errors.txt"]
    assert list(result.log_errors) == [f"{logdir}/d_out.txt"]
    error = result.log_errors[f"{logdir}/d_out.txt"]
    assert isinstance(error, jobdb.JobIOError) and "d_out.txt" in error.message
    assert db.list_status() == {}  # the job stays deleted


def test_delete_needs_an_explicit_filter(db, logdir):
    seed_for_delete(db, logdir)
    with pytest.raises(TypeError):
        db.delete()
    with pytest.raises(TypeError, match=r"pass \{\}"):
        db.delete(None)
    with pytest.raises(TypeError):
        db.delete({"status": "finished"}, 2)  # options are keyword-only
    for kwargs, field in [
        (dict(filter={"stauts": "finished"}), "stauts"),
        (dict(filter={"status": "finished"}, keep_newest=-1), "keep_newest"),
        (dict(filter={"status": "finished"}, dry_run="yes"), "dry_run"),
        (dict(filter={"status": "finished"}, remove_logs=1), "remove_logs"),
    ]:
        with pytest.raises(jobdb.SchemaError) as info:
            db.delete(**kwargs)
        assert info.value.field == field
    assert db.count() == 6
    assert db.delete({}).deleted == ["r", "f4", "f3", "f2", "f1", "f0"]
    assert db.count() == 0


# ---- Parts of logs ----------------------------------------------------


@pytest.fixture
def log_job(db, logdir):
    """Job "j" whose stdout is <logdir>/j_out.txt, stderr j_errors.txt."""
    db.update_status({"self_id": "j", "status": "running",
                      "logdir": str(logdir), "logfile": "j"})
    return logdir / "j_out.txt"


def test_read_log_follows_offsets(db, log_job, logdir):
    log_job.write_bytes(b"first\n")
    chunk = db.read_log("j")
    assert isinstance(chunk, jobdb.LogChunk)
    assert (chunk.text, chunk.data) == ("first\n", None)
    assert (chunk.offset, chunk.next_offset, chunk.size) == (0, 6, 6)
    assert chunk.eof and not chunk.restarted and not chunk.invalid_utf8
    assert (chunk.self_id, chunk.stream, chunk.path) == ("j", "stdout", str(log_job))

    with open(log_job, "ab") as log:
        log.write(b"second line\n")
    chunk = db.read_log("j", offset=chunk.next_offset)
    assert (chunk.text, chunk.offset, chunk.next_offset) == ("second line\n", 6, 18)
    nothing = db.read_log("j", "stdout", offset=18)
    assert (nothing.text, nothing.eof, nothing.next_offset) == ("", True, 18)

    # max_bytes cuts a read into pieces; eof only on the last.
    pieces, offset = [], 0
    while True:
        chunk = db.read_log("j", offset=offset, max_bytes=7)
        pieces.append(chunk.text)
        offset = chunk.next_offset
        if chunk.eof:
            break
        assert len(chunk.text) == 7
    assert "".join(pieces) == "first\nsecond line\n" and len(pieces) == 3

    write_logs(logdir, "j", None, b"on stderr\n")
    chunk = db.read_log("j", "stderr")
    assert (chunk.text, chunk.stream) == ("on stderr\n", "stderr")
    assert chunk.path == f"{logdir}/j_errors.txt"


def test_read_log_tails(db, log_job):
    log_job.write_bytes(b"".join(b"line %d\n" % n for n in range(1, 21)))
    assert db.read_log("j", tail_bytes=7).text == "line 20\n"[-7:]
    assert db.read_log("j", tail_lines=2).text == "line 19\nline 20\n"
    assert db.read_log("j", tail_lines=1000).offset == 0
    assert db.tail("j") == "".join(f"line {n}\n" for n in range(11, 21))
    assert db.tail("j", 3) == "line 18\nline 19\nline 20\n"
    assert db.tail("j", lines=0) == ""
    # A tail longer than max_bytes is cut to its last max_bytes.
    assert db.tail("j", 5, max_bytes=8) == "line 20\n"
    chunk = db.read_log("j", tail_lines=2)
    assert chunk.eof and chunk.next_offset == chunk.size
    # A last line without a newline is a line.
    with open(log_job, "ab") as log:
        log.write(b"partial")
    assert db.tail("j", 2) == "line 20\npartial"


def test_read_log_binary_and_invalid_utf8(db, log_job):
    raw = b"Not UTF-8: \xff\xfe\x00 (end)\n"
    log_job.write_bytes(raw)
    chunk = db.read_log("j", binary=True)
    assert (chunk.data, chunk.text, chunk.invalid_utf8) == (raw, None, False)
    assert db.read_log("j", offset=11, max_bytes=2, binary=True).data == b"\xff\xfe"
    assert db.read_log("j", tail_bytes=7, binary=True).data == raw[-7:]
    chunk = db.read_log("j")
    assert chunk.text == "Not UTF-8: \ufffd\ufffd\x00 (end)\n"
    assert chunk.invalid_utf8 and chunk.data is None


def test_read_log_restarts_after_truncation(db, log_job):
    log_job.write_bytes(b"a long first run\n")
    offset = db.read_log("j").next_offset
    log_job.write_bytes(b"new run\n")  # truncated and rewritten: shorter
    chunk = db.read_log("j", offset=offset)
    assert chunk.restarted
    assert (chunk.offset, chunk.next_offset, chunk.text) == (0, 8, "new run\n")
    # Read on from there, it is an ordinary read again.
    assert not db.read_log("j", offset=chunk.next_offset).restarted


def test_read_log_errors(db, log_job, logdir):
    log_job.write_bytes(b"x\n")
    with pytest.raises(jobdb.NotFoundError):
        db.read_log("ghost")
    with pytest.raises(jobdb.NotFoundError) as info:  # missing file
        db.read_log("j", "stderr")
    assert "j_errors.txt" in info.value.message
    with pytest.raises(jobdb.NotFoundError):
        db.tail("j", stream="stderr")
    db.update_status({"self_id": "nolog", "status": "s"})
    with pytest.raises(jobdb.NoLogsError):
        db.read_log("nolog")
    (logdir / "dir_out.txt").mkdir()
    db.update_status({"self_id": "dir", "status": "s",
                      "logdir": str(logdir), "logfile": "dir"})
    with pytest.raises(jobdb.JobIOError):
        db.read_log("dir")
    for kwargs, field in [
        (dict(stream="stdin"), "stream"),
        (dict(offset=0, tail_lines=1), "tail_lines"),
        (dict(offset=-1), "offset"),
        (dict(tail_bytes=1.5), "tail_bytes"),
        (dict(max_bytes=0), "max_bytes"),
        (dict(max_bytes=16 * 1024 * 1024 + 1), "max_bytes"),
    ]:
        with pytest.raises(jobdb.SchemaError) as info:
            db.read_log("j", **kwargs)
        assert info.value.field == field, kwargs
    with pytest.raises(TypeError):
        db.read_log(b"j")
    with pytest.raises(TypeError):
        db.read_log("j", "stdout", 0)  # offset is keyword-only


def test_follow_log_yields_what_is_written_until_stopped(db, log_job):
    log_job.write_bytes(b"a\n")
    # What the job writes between two polls; stop() is asked at each end.
    writes = [b"a\nb\n",
              b"z\n",  # shorter than what was read: a rotation
              b"z\nlast\n"]  # written just before stop() says yes: still read
    polls = []

    def stop():
        log_job.write_bytes(writes[len(polls)])
        polls.append(1)
        return len(polls) == len(writes)

    chunks = list(db.follow_log("j", poll_interval=0, stop=stop))
    assert [(c.text, c.restarted) for c in chunks] == [
        ("a\n", False), ("b\n", False), ("z\n", True), ("last\n", False)]
    assert len(polls) == 3

    # The caller may also just stop iterating; errors come at the call.
    log_job.write_bytes(b"0123456789")
    follow = db.follow_log("j", offset=4, max_bytes=3, binary=True,
                           poll_interval=0)
    assert [next(follow).data for _ in range(2)] == [b"456", b"789"]
    follow.close()
    with pytest.raises(jobdb.NotFoundError):
        db.follow_log("ghost")
    with pytest.raises(ValueError):
        db.follow_log("j", poll_interval=-1)
    with pytest.raises(TypeError):
        db.follow_log("j", poll_interval="1")


# ---- Changes ----------------------------------------------------------


def changed(feed):
    """(self_id, status or None) of each change."""
    return [(c.self_id, None if c.record is None else c.record["status"])
            for c in feed]


def test_changes_from_the_start_then_from_a_cursor(db):
    feed = db.changes()
    assert isinstance(feed, jobdb.Changes)
    assert feed.changes == [] and not feed.more
    assert isinstance(feed.next_cursor, str)
    empty_cursor = feed.next_cursor

    for self_id in ("a", "b", "c"):
        db.update_status({"self_id": self_id, "status": "new"})
    feed = db.changes()
    assert changed(feed) == [("a", "new"), ("b", "new"), ("c", "new")]
    assert changed(db.changes(empty_cursor)) == changed(feed)
    change = feed.changes[0]
    self_id, record = change  # a (self_id, record) pair
    assert isinstance(change, jobdb.Change) and not change.deleted
    assert record == db.get_status("a") and record["last_update"].tzinfo is UTC

    # Nothing since: nothing, and a cursor to go on with.
    quiet = db.changes(feed.next_cursor)
    assert len(quiet) == 0 and not quiet.more
    assert db.changes(quiet.next_cursor).changes == []

    db.update_status({"self_id": "b", "status": "running"})
    db.delete({"self_id": "a"})
    db.update_status({"self_id": "d", "status": "new"})
    db.update_status({"self_id": "b", "status": "done"})  # b's latest is last
    feed = db.changes(quiet.next_cursor)
    assert changed(feed) == [("a", None), ("d", "new"), ("b", "done")]
    assert feed.changes[0].deleted and feed.changes[0].record is None
    assert db.changes(feed.next_cursor).changes == []


def test_paths_are_sent_as_text(db, tmp_path):
    job = db.update_status({"self_id": "p", "status": "running",
                            "cwd": tmp_path, "logdir": tmp_path / "logs"})
    assert job["cwd"] == str(tmp_path)
    assert job["logdir"] == str(tmp_path / "logs")


def test_changes_cursor_now_skips_the_past(db):
    make_jobs(db, 3)
    now = db.changes_cursor_now()
    assert isinstance(now, str)
    assert db.changes(now).changes == []
    db.update_status({"self_id": "late", "status": "running"})
    assert changed(db.changes(now)) == [("late", "running")]


def test_changes_see_other_writers(db, db_folder):
    db.update_status({"self_id": "mine", "status": "new"})
    cursor = db.changes().next_cursor
    with sqlite3.connect(db_folder / "jobs.db") as conn:  # as nodejobs writes
        conn.execute("INSERT INTO process_status (_id, value) VALUES (?, ?)", (
            "row-1", json.dumps({"_id": "row-1", "self_id": "theirs",
                                 "status": "running",
                                 "last_update": "2024-05-01T12:00:00"})))
    conn.close()
    delete_jobs(db_folder, "mine")
    feed = db.changes(cursor)
    assert changed(feed) == [("theirs", "running"), ("mine", None)]
    assert feed.changes[0].record["last_update"] == datetime.datetime(
        2024, 5, 1, 12, tzinfo=UTC)


def test_changes_limit_says_more(db):
    make_jobs(db, 5)
    seen, cursor, pages = [], None, 0
    while True:
        feed = db.changes(cursor, limit=2)
        pages += 1
        seen += [c.self_id for c in feed]
        cursor = feed.next_cursor
        if not feed.more:
            break
        assert len(feed) == 2
    assert seen == ["j00", "j01", "j02", "j03", "j04"] and pages == 3
    assert db.changes(limit=100000).more is False
    for limit in (0, 100001, -1, "2"):
        with pytest.raises(jobdb.SchemaError) as info:
            db.changes(limit=limit)
        assert info.value.field == "limit"


def test_changes_refuse_a_foreign_cursor(db, tmp_path):
    db.update_status({"self_id": "a", "status": "new"})
    with JobDB(tmp_path / "other") as other:
        foreign = other.changes().next_cursor
    with pytest.raises(jobdb.SchemaError) as info:
        db.changes(foreign)
    assert info.value.field == "cursor"
    assert "another database" in info.value.message
    db.update_status({"self_id": "b", "status": "new"})
    query_cursor = db.query(limit=1).next_cursor
    mine = db.changes().next_cursor
    for junk in ["", "not a cursor", mine[:-3], query_cursor]:
        with pytest.raises(jobdb.SchemaError) as info:
            db.changes(junk)
        assert info.value.field == "cursor", junk
    with pytest.raises(jobdb.SchemaError):
        db.changes(5)


# ---- Timestamps out of range, busy_timeout ----------------------------


FAR_PAST = datetime.datetime(1, 1, 1, tzinfo=PLUS_TWO)  # year 0 in UTC
FAR_FUTURE = datetime.datetime(9999, 12, 31, 23, tzinfo=MINUS_FIVE)  # 10000


@pytest.mark.parametrize("when", [FAR_PAST, FAR_FUTURE])
def test_aware_datetime_out_of_range_in_utc_is_schema_error(db, when):
    db.update_status({"self_id": "a", "status": "s"})
    before = db.list_status()
    calls = [
        (lambda: db.update_status({"self_id": "a", "started_at": when}), "started_at"),
        (lambda: db.update_status({"self_id": "a", "metadata": {"at": [when]}}),
         "metadata"),
        (lambda: db.list_status({"ended_at": {"$lt": when}}), "ended_at"),
        (lambda: db.query({"last_update": {"$in": [when]}}), "last_update"),
        (lambda: db.count({"created_at": when}), "created_at"),
        (lambda: db.update_status({"self_id": "a", "status": "t"},
                                  only_if={"last_update": {"$gt": when}}),
         "last_update"),
        (lambda: db.delete({"ended_at": {"$lt": when}}), "ended_at"),
    ]
    for call, field in calls:
        with pytest.raises(jobdb.SchemaError) as info:
            call()
        assert info.value.field == field
        assert info.value.index is None
        assert "outside the years 1 to 9999" in info.value.message
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_many([{"self_id": "b", "status": "s"},
                        {"self_id": "c", "status": "s", "ended_at": when}])
    assert (info.value.field, info.value.index) == ("ended_at", 1)
    assert db.list_status() == before
    # The same instants in range, naive or in UTC, are fine.
    edge = datetime.datetime(1, 1, 1, tzinfo=UTC)
    assert db.update_status({"self_id": "a", "started_at": edge})["started_at"] == edge
    assert db.update_status({"self_id": "a", "ended_at": datetime.datetime.max}
                            )["ended_at"] == datetime.datetime.max.replace(tzinfo=UTC)


def test_busy_timeout_is_rounded_up_to_a_millisecond(db_folder, monkeypatch):
    lib = jobdb.load_library()
    original = lib.jobdb_open_with_options
    sent = []

    def recording_open(folder, options, *rest):
        sent.append(None if options is None else json.loads(options))
        return original(folder, options, *rest)

    monkeypatch.setattr(lib, "jobdb_open_with_options", recording_open)
    for value, expected in [
        (0.0004, 1), (1e-9, 1), (0, 0), (0.0, 0), (0.001, 1), (0.0011, 2),
        (0.1, 100), (0.29, 290), (2.5, 2500), (3, 3000),
        (datetime.timedelta(microseconds=1), 1),
        (datetime.timedelta(milliseconds=5), 5),
        (datetime.timedelta(seconds=1, microseconds=1), 1001),
        (2147483.647, 2**31 - 1),
    ]:
        JobDB(db_folder, busy_timeout=value).close()
        assert sent.pop() == {"busy_timeout_ms": expected}, value
    for value in (2147483.6471, datetime.timedelta(days=30),
                  -0.0004, datetime.timedelta(microseconds=-1), float("nan")):
        with pytest.raises(ValueError):
            JobDB(db_folder, busy_timeout=value)
    assert sent == []


# ---- Opening, closing, options ----------------------------------------


def test_open_creates_the_folder_and_accepts_paths(tmp_path):
    folder = tmp_path / "a" / "b"
    with JobDB(folder) as db:
        assert db.db_path == os.path.join(str(folder), "jobs.db")
        db.update_status({"self_id": "x", "status": "s"})
    assert (folder / "jobs.db").is_file()
    with JobDB(str(folder)) as db:  # str and bytes as well as Path
        assert "x" in db.list_status()
    with JobDB(os.fsencode(folder)) as db:
        assert "x" in db.list_status()


def test_context_manager_closes(db_folder):
    with JobDB(db_folder) as db:
        assert not db.closed
        db.update_status({"self_id": "x", "status": "s"})
    assert db.closed
    assert "closed" in repr(db)


def test_close_is_idempotent_and_use_after_close_raises(db_folder):
    db = JobDB(db_folder)
    db.update_status({"self_id": "x", "status": "s"})
    db.close()
    db.close()
    for call in (lambda: db.get_status("x"),
                 lambda: db.update_status({"self_id": "x"}),
                 lambda: db.list_status(),
                 lambda: db.query(),
                 lambda: db.iter_jobs(),
                 lambda: db.count(),
                 lambda: db.job_logs("x")):
        with pytest.raises(jobdb.InvalidArgumentError, match="closed") as info:
            call()
        assert info.value.code == 1
        assert info.value.name == "JOBDB_ERR_INVALID_ARGUMENT"
        assert isinstance(info.value, ValueError)
    # The data stayed.
    with JobDB(db_folder) as again:
        assert again.get_status("x")["status"] == "s"


def test_options(db_folder):
    with JobDB(db_folder, busy_timeout=2.5, synchronous="full") as db:
        db.update_status({"self_id": "x", "status": "s"})
    with JobDB(db_folder, busy_timeout=datetime.timedelta(seconds=1),
               synchronous="normal") as db:
        assert "x" in db.list_status()
    with pytest.raises(jobdb.SchemaError) as info:
        JobDB(db_folder, synchronous="sometimes")
    assert info.value.field == "synchronous"
    with pytest.raises(ValueError):
        JobDB(db_folder, busy_timeout=-1)
    with pytest.raises(ValueError):
        JobDB(db_folder, busy_timeout=float("inf"))
    with pytest.raises(TypeError):
        JobDB(db_folder, busy_timeout="10")


def test_unclosed_db_is_closed_when_collected(db_folder):
    db = JobDB(db_folder)
    closer = db._closer
    assert closer.alive
    del db
    gc.collect()
    assert not closer.alive


# ---- Logs -------------------------------------------------------------


def test_job_logs_reads_both_files(db, logdir):
    write_logs(logdir, "job123", b"hello\nworld\n", b"warning: x\n")
    db.update_status({"self_id": "job123", "status": "finished",
                      "logdir": str(logdir), "logfile": "job123"})
    stdout, stderr = db.job_logs("job123")
    assert (stdout, stderr) == ("hello\nworld\n", "warning: x\n")

    detail = db.job_logs_detail("job123")
    assert detail.self_id == "job123"
    assert detail.stdout.stream == "stdout" and detail.stderr.stream == "stderr"
    assert detail.stdout.path == f"{logdir}/job123_out.txt"
    assert detail.stderr.path == f"{logdir}/job123_errors.txt"
    assert detail.stdout.size == 12 and detail.stderr.size == 11
    assert detail.stdout.ok and detail.stdout.error is None
    assert not detail.stdout.invalid_utf8


def test_missing_log_file_raises_but_keeps_the_other_stream(db, logdir):
    write_logs(logdir, "half", b"only stdout\n", None)
    db.update_status({"self_id": "half", "status": "running",
                      "logdir": str(logdir), "logfile": "half"})
    with pytest.raises(jobdb.LogReadError) as info:
        db.job_logs("half")
    error = info.value
    assert isinstance(error, jobdb.JobDBError)
    assert not isinstance(error, jobdb.NotFoundError)  # the job exists
    assert list(error.errors) == ["stderr"]
    assert isinstance(error.errors["stderr"], jobdb.NotFoundError)
    assert error.code == 4 and error.name == "JOBDB_ERR_NOT_FOUND"
    assert "half_errors.txt" in str(error)
    assert error.logs.stdout.text == "only stdout\n"

    detail = db.job_logs_detail("half")  # never raises for a stream
    assert detail.stdout.text == "only stdout\n"
    assert detail.stderr.text is None and detail.stderr.size is None
    assert not detail.stderr.ok
    assert isinstance(detail.stderr.error, jobdb.NotFoundError)
    assert detail.stderr.error.message.endswith("does not exist")


def test_both_log_files_missing(db, logdir):
    db.update_status({"self_id": "none", "status": "running",
                      "logdir": str(logdir), "logfile": "none"})
    with pytest.raises(jobdb.LogReadError) as info:
        db.job_logs("none")
    assert list(info.value.errors) == ["stdout", "stderr"]
    assert "none_out.txt" in str(info.value) and "none_errors.txt" in str(info.value)


def test_empty_log_is_empty_text(db, logdir):
    write_logs(logdir, "quiet", b"", b"")
    db.update_status({"self_id": "quiet", "status": "finished",
                      "logdir": str(logdir), "logfile": "quiet"})
    assert db.job_logs("quiet") == ("", "")
    detail = db.job_logs_detail("quiet")
    assert detail.stdout.size == 0 and detail.stdout.ok


def test_invalid_utf8_is_replaced_and_flagged(db, logdir):
    write_logs(logdir, "bin", b"Not UTF-8: \xff\xfe (end)\n", b"fine\n")
    db.update_status({"self_id": "bin", "status": "finished",
                      "logdir": str(logdir), "logfile": "bin"})
    stdout, stderr = db.job_logs("bin")
    assert stdout == "Not UTF-8: \ufffd\ufffd (end)\n"
    assert stderr == "fine\n"
    detail = db.job_logs_detail("bin")
    assert detail.stdout.invalid_utf8
    assert detail.stdout.size == len(b"Not UTF-8: \xff\xfe (end)\n")
    assert not detail.stderr.invalid_utf8


def test_unreadable_and_too_large_logs_are_stream_errors(db, logdir):
    (logdir / "dir_out.txt").mkdir()
    write_logs(logdir, "dir", None, b"ok\n")
    db.update_status({"self_id": "dir", "status": "s",
                      "logdir": str(logdir), "logfile": "dir"})
    detail = db.job_logs_detail("dir")
    assert isinstance(detail.stdout.error, jobdb.JobIOError)
    assert detail.stderr.text == "ok\n"
    with pytest.raises(jobdb.LogReadError) as info:
        db.job_logs("dir")
    assert info.value.code == 6

    with open(logdir / "big_out.txt", "wb") as big:  # sparse: costs no disk
        big.truncate(16 * 1024 * 1024 + 1)
    write_logs(logdir, "big", None, b"")
    db.update_status({"self_id": "big", "status": "s",
                      "logdir": str(logdir), "logfile": "big"})
    detail = db.job_logs_detail("big")
    assert isinstance(detail.stdout.error, jobdb.TooLargeError)
    assert detail.stdout.text is None and detail.stderr.text == ""


def test_job_without_logdir_is_no_logs(db):
    db.update_status({"self_id": "nolog", "status": "running"})
    with pytest.raises(jobdb.NoLogsError) as info:
        db.job_logs("nolog")
    assert info.value.code == 9 and info.value.field == "logdir"
    db.update_status({"self_id": "nolog", "logdir": "/tmp"})
    with pytest.raises(jobdb.NoLogsError) as info:
        db.job_logs_detail("nolog")
    assert info.value.field == "logfile"


def test_logs_of_unknown_job_is_not_found(db):
    with pytest.raises(jobdb.NotFoundError) as info:
        db.job_logs("ghost")
    assert info.value.code == 4
    with pytest.raises(KeyError):
        db.job_logs_detail("ghost")


# ---- Errors -----------------------------------------------------------


def test_not_found_is_also_a_key_error(db):
    with pytest.raises(jobdb.NotFoundError) as info:
        db.get_status("ghost")
    error = info.value
    assert isinstance(error, KeyError) and isinstance(error, jobdb.JobDBError)
    assert (error.code, error.name) == (4, "JOBDB_ERR_NOT_FOUND")
    assert "ghost" in error.message and str(error) == error.message
    assert error.field is None


@pytest.mark.parametrize("job, field", [
    ({"self_id": "x", "status": "s", "bogus": 1}, "bogus"),
    ({"self_id": "x", "status": "s", "last_pid": "12"}, "last_pid"),
    ({"self_id": "x", "status": "s", "last_pid": 2**70}, "last_pid"),
    ({"self_id": "x", "status": "s", "last_pid": 1.5}, "last_pid"),
    ({"self_id": "x", "status": "s", "last_pid": True}, "last_pid"),
    ({"self_id": "x", "status": 3}, "status"),
    ({"self_id": "x", "status": "s", "cwd": "a\0b"}, "cwd"),
    ({"self_id": "x", "status": "s", "last_update": "yesterday"}, "last_update"),
    ({"self_id": "", "status": "s"}, "self_id"),
    ({"status": "s"}, "self_id"),
    ({"self_id": "new"}, "status"),
])
def test_schema_errors_name_the_field(db, job, field):
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_status(job)
    assert (info.value.code, info.value.name) == (3, "JOBDB_ERR_SCHEMA")
    assert info.value.field == field
    assert db.list_status() == {}


def test_filter_with_unknown_field_is_schema_error(db):
    db.update_status({"self_id": "x", "status": "s"})
    with pytest.raises(jobdb.SchemaError) as info:
        db.list_status({"stauts": "s"})
    assert info.value.field == "stauts"
    with pytest.raises(TypeError):
        db.list_status("status=s")


def test_lone_surrogate_is_malformed_json(db):
    # The only way to send JSON text that does not parse from Python
    # values: json escapes a lone surrogate as \udcff, which is no
    # Unicode text. There is no raw-JSON entry point.
    with pytest.raises(jobdb.MalformedJSONError) as info:
        db.update_status({"self_id": "x", "status": "s",
                          "cwd": os.fsdecode(b"/srv/\xff")})
    assert (info.value.code, info.value.name) == (2, "JOBDB_ERR_MALFORMED_JSON")


@pytest.mark.parametrize("self_id", ["", "a\0b", "\udcff"])
def test_bad_self_id_argument_is_invalid_argument(db, self_id):
    db.update_status({"self_id": "a", "status": "s"})
    for call in (db.get_status, db.job_logs):
        with pytest.raises(jobdb.InvalidArgumentError) as info:
            call(self_id)
        assert (info.value.code, info.value.name) == (1, "JOBDB_ERR_INVALID_ARGUMENT")
        assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):
        db.get_status(b"a")


def test_empty_or_nul_folder_is_invalid_argument(tmp_path):
    with pytest.raises(jobdb.InvalidArgumentError):
        JobDB("")
    with pytest.raises(jobdb.InvalidArgumentError):
        JobDB(str(tmp_path) + "/a\0b")


def test_folder_that_cannot_be_created_is_io_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(jobdb.JobIOError) as info:
        JobDB(tmp_path / "file" / "db")
    assert (info.value.code, info.value.name) == (6, "JOBDB_ERR_IO")


def test_locked_database_is_busy(db_folder):
    JobDB(db_folder).close()
    locker = sqlite3.connect(db_folder / "jobs.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(jobdb.BusyError) as info:
            with JobDB(db_folder, busy_timeout=0.1) as db:
                db.update_status({"self_id": "x", "status": "s"})
        assert 0.05 < time.monotonic() - started < 5
        assert (info.value.code, info.value.name) == (5, "JOBDB_ERR_BUSY")
        locker.execute("ROLLBACK")
    finally:
        locker.close()
    with JobDB(db_folder, busy_timeout=0.1) as db:  # free again: it works
        db.update_status({"self_id": "x", "status": "s"})


def test_file_that_is_not_sqlite_is_corrupt(db_folder):
    db_folder.mkdir()
    (db_folder / "jobs.db").write_bytes(b"this is not a SQLite database\n" * 200)
    with pytest.raises(jobdb.CorruptError) as info:
        with JobDB(db_folder) as db:
            db.list_status()
    assert (info.value.code, info.value.name) == (8, "JOBDB_ERR_CORRUPT")


def test_error_classes(db):
    classes = [jobdb.InvalidArgumentError, jobdb.MalformedJSONError,
               jobdb.SchemaError, jobdb.NotFoundError, jobdb.BusyError,
               jobdb.JobIOError, jobdb.DatabaseError, jobdb.CorruptError,
               jobdb.NoLogsError, jobdb.TooLargeError, jobdb.InternalError,
               jobdb.ConflictError]
    assert [cls.code for cls in classes] == list(range(1, 13))
    lib = jobdb.load_library()
    for cls in classes:
        assert issubclass(cls, jobdb.JobDBError)
        assert lib.jobdb_code_name(cls.code).decode() == cls.name
    assert not issubclass(jobdb.JobIOError, OSError)  # no clash with IOError

    # Errors survive pickling (as across multiprocessing).
    with pytest.raises(jobdb.SchemaError) as info:
        db.update_status({"self_id": "x", "status": "s", "bogus": 1})
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is jobdb.SchemaError
    assert (copy.code, copy.name, copy.message, copy.field, copy.index) == (
        3, "JOBDB_ERR_SCHEMA", info.value.message, "bogus", None)


def test_every_returned_string_is_freed_once(db, logdir, monkeypatch):
    lib = jobdb.load_library()
    original = lib.jobdb_string_free
    freed = []

    def counting_free(address):
        freed.append(address)
        original(address)

    monkeypatch.setattr(lib, "jobdb_string_free", counting_free)
    write_logs(logdir, "x", b"out", b"err")
    calls = [
        lambda: db.update_status({"self_id": "x", "status": "s",
                                  "logdir": str(logdir), "logfile": "x"}),
        lambda: db.get_status("x"),
        lambda: db.get_status("ghost"),
        lambda: db.list_status(),
        lambda: db.list_status({"bogus": 1}),
        lambda: db.job_logs("x"),
        lambda: db.update_status({"self_id": "x", "last_pid": 2**70}),
        lambda: db.get_status(""),
        lambda: db.query({"status": "s"}, limit=1),
        lambda: db.query(),
        lambda: db.query(cursor="nonsense"),
        lambda: db.query(limit=0),
        lambda: db.count({"status": {"$in": ["s", "t"]}}),
        lambda: db.count({"status": {"$regex": "s"}}),
        lambda: db.update_status({"self_id": "x", "status": "t"},
                                 only_if={"status": "s"}),
        lambda: db.update_status({"self_id": "x", "status": "u"},
                                 only_if={"status": "s"}),  # ConflictError
        lambda: db.update_many([{"self_id": "y", "status": "s"}]),
        lambda: db.update_many([{"self_id": "z"}]),
        lambda: db.delete({"self_id": "y"}, dry_run=True),
        lambda: db.delete({"bogus": 1}),
        lambda: db.read_log("x"),
        lambda: db.read_log("x", tail_lines=1, binary=True),
        lambda: db.read_log("x", "stderr", offset=99),  # restarted
        lambda: db.read_log("x", stream="stdin"),
        lambda: db.tail("x"),
        lambda: db.changes(),
        lambda: db.changes(limit=1),
        lambda: db.changes("nonsense"),
    ]
    for call in calls:
        try:
            call()
        except jobdb.JobDBError:
            pass
    assert len(freed) == len(calls)  # one result or error string per call
    assert all(freed)  # never NULL

    # follow_log: one string per read, three here.
    freed.clear()
    follow = db.follow_log("x", max_bytes=1)
    assert [next(follow).text for _ in range(3)] == ["o", "u", "t"]
    follow.close()
    assert len(freed) == 3

    freed.clear()
    JobDB(logdir / "other").close()  # success: no error string
    assert freed == []
    with pytest.raises(jobdb.SchemaError):
        JobDB(logdir / "other", synchronous="x")
    assert len(freed) == 1


# ---- Finding the library ----------------------------------------------


def run_python(code, env_changes, cwd=None):
    """Runs `code` in a fresh interpreter with PYTHONPATH=python/."""
    env = dict(os.environ)
    env.pop("JOBDB_LIBRARY", None)
    env["PYTHONPATH"] = PYTHON_DIR
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_finder_uses_the_build_folder_by_default():
    result = run_python("""
        import jobdb
        print(jobdb.library_path())
        print(jobdb.library_version())
    """, {})
    assert result.returncode == 0, result.stderr
    path, version = result.stdout.split()
    release = os.path.join(REPO_DIR, "target", "release", "libjobdb.so")
    assert path == release
    assert version.count(".") == 2


def test_finder_reports_a_missing_jobdb_library(tmp_path):
    missing = str(tmp_path / "nowhere" / "libjobdb.so")
    result = run_python("""
        import jobdb
        try:
            jobdb.JobDB("unused")
        except jobdb.LibraryNotFoundError as error:
            assert isinstance(error, OSError)
            print(error)
            raise SystemExit(3)
    """, {"JOBDB_LIBRARY": missing}, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"JOBDB_LIBRARY={missing}: no such file" in result.stdout
    assert "cargo build --release" in result.stdout
    # Never silently replaced by the copy in target/release.
    assert "target/release" not in result.stdout
    assert not (tmp_path / "unused").exists()


def test_finder_says_when_jobdb_library_is_a_directory(tmp_path):
    result = run_python("""
        import jobdb
        try:
            jobdb.load_library()
        except jobdb.LibraryNotFoundError as error:
            print(error.tried[0][1])
    """, {"JOBDB_LIBRARY": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "is a directory, not the library file"


def test_finder_reports_a_file_that_is_no_library(tmp_path):
    fake = tmp_path / "libjobdb.so"
    fake.write_text("not a shared library")
    result = run_python("""
        import jobdb
        jobdb.load_library()
    """, {"JOBDB_LIBRARY": str(fake)})
    assert result.returncode != 0
    assert "LibraryNotFoundError" in result.stderr
    assert f"JOBDB_LIBRARY={fake}:" in result.stderr


def test_finder_lists_every_place_in_order(tmp_path):
    # A copy of the module with no library next to it or in ../target.
    module_dir = tmp_path / "site"
    module_dir.mkdir()
    shutil.copy(os.path.join(PYTHON_DIR, "jobdb.py"), module_dir)
    result = run_python("""
        import json, jobdb
        try:
            jobdb.load_library()
        except jobdb.LibraryNotFoundError as error:
            print(json.dumps(error.tried))
            print(str(error).replace("\\n", "|"))
        else:
            print(json.dumps(jobdb.library_path()))
    """, {"PYTHONPATH": str(module_dir), "LD_LIBRARY_PATH": None})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    tried = json.loads(lines[0])
    if isinstance(tried, str):
        pytest.skip(f"a system libjobdb is installed: {tried}")
    places = [place for place, _ in tried]
    assert places[:3] == [
        f"{module_dir}/libjobdb.so",
        f"{tmp_path}/target/release/libjobdb.so",
        f"{tmp_path}/target/debug/libjobdb.so",
    ]
    assert places[3].startswith('ctypes.util.find_library("jobdb")')
    assert places[-1] == "libjobdb.so.0 (the dynamic loader's search path)"
    assert all(reason for _, reason in tried)
    for place in places:
        assert place in lines[1]


def test_finder_prefers_a_library_next_to_the_module(tmp_path):
    module_dir = tmp_path / "site"
    module_dir.mkdir()
    shutil.copy(os.path.join(PYTHON_DIR, "jobdb.py"), module_dir)
    shutil.copy(os.path.join(REPO_DIR, "target", "release", "libjobdb.so"),
                module_dir)
    result = run_python("""
        import jobdb
        print(jobdb.library_path())
    """, {"PYTHONPATH": str(module_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{module_dir}/libjobdb.so"


# ---- Threads ----------------------------------------------------------


def test_threads_share_one_db(db):
    threads_count, rounds = 8, 150
    errors = []

    def work(n):
        try:
            for i in range(rounds):
                self_id = f"t{n}"
                db.update_status({"self_id": self_id, "status": "running",
                                  "last_pid": i})
                assert db.get_status(self_id)["last_pid"] == i
                with pytest.raises(jobdb.NotFoundError):
                    db.get_status(f"ghost{n}")
                db.list_status({"status": "running"})
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    jobs = db.list_status()
    assert sorted(jobs) == sorted(f"t{n}" for n in range(threads_count))
    assert all(record["last_pid"] == rounds - 1 for record in jobs.values())


def test_close_while_threads_call(db_folder):
    db = JobDB(db_folder)
    db.update_status({"self_id": "x", "status": "s"})
    outcomes = []
    started = threading.Barrier(5)

    def work():
        started.wait()
        done = 0
        while True:
            try:
                db.get_status("x")
                db.update_status({"self_id": "x", "last_pid": done})
                db.update_status({"self_id": "x", "exit_code": done},
                                 only_if={"status": "s"})
                db.update_many([{"self_id": "x", "last_pid": done}])
                db.changes(limit=1)
                db.delete({"self_id": "nobody"})
                done += 1
            except jobdb.InvalidArgumentError as error:
                outcomes.append(("closed", done, str(error)))
                return
            except BaseException as error:
                outcomes.append(("error", done, repr(error)))
                return

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.05)
    closers = [threading.Thread(target=db.close) for _ in range(3)]
    for thread in closers:
        thread.start()
    for thread in closers + threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert db.closed
    assert len(outcomes) == 4
    assert all(kind == "closed" and "closed" in text for kind, _, text in outcomes), outcomes


# ---- Leaks ------------------------------------------------------------

LEAK_CALLS = 100_000
# Growth allowed over LEAK_CALLS calls. Measured growth is well under 1 MiB;
# every call below sends or returns a string of 1 KiB or more, and all but
# count's success and delete's return one, so leaking one string per
# call grows memory by about 100 MiB and fails this bound. (The small
# results are covered by the freeing test above, which counts every string
# freed.)
LEAK_BOUND_MIB = 20


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_no_leak_over_many_calls(db, logdir, capsys):
    padding = "p" * 1024
    write_logs(logdir, "leak", b"out\n" * 512, b"err\n" * 512)
    for self_id in ("leak", "leak2"):
        db.update_status({"self_id": self_id, "status": "running",
                          "logdir": str(logdir), "logfile": "leak",
                          "cwd": padding, "command": padding,
                          "metadata": {"padding": padding}})
    ghost = "ghost-" + padding
    bad_field = "bogus_" + padding
    # The cursor holds its query's filter, so it is over 1 KiB too.
    cursor = db.query({"cwd": padding}, limit=1).next_cursor
    assert cursor is not None and len(cursor) > 1024
    feed = db.changes().next_cursor
    calls = [  # (call, whether it raises)
        (lambda i: db.update_status({"self_id": "leak", "last_pid": i}), False),
        (lambda i: db.get_status("leak"), False),
        (lambda i: db.get_status(ghost), True),            # NotFoundError
        (lambda i: db.update_status({"self_id": "leak", bad_field: i}), True),
        (lambda i: db.job_logs_detail("leak"), False),
        (lambda i: db.list_status({"cwd": padding}), False),
        (lambda i: db.list_status({bad_field: 1}), True),  # SchemaError
        (lambda i: db.query({"cwd": padding}, order_by="last_update",
                            descending=True, limit=1), False),
        (lambda i: db.query({"cwd": padding}, limit=1, cursor=cursor), False),
        (lambda i: db.query({bad_field: 1}, limit=5), True),
        (lambda i: db.query({"status": {"$in": [padding, "running"]}},
                            cursor=cursor), True),         # foreign cursor
        (lambda i: db.count({"cwd": padding}), False),
        (lambda i: db.count({bad_field: 1}), True),
        # The later entry points, with no more writes than before (a write
        # costs several reads), so that the test takes about as long: a
        # conflict, a batch refused at its second record, and a dry run
        # that keeps both jobs write nothing. Their successful writes go
        # through the same strings and are counted by the freeing test.
        (lambda i: db.update_status({"self_id": "leak", "exit_code": i},
                                    only_if={"status": "stopped"}), True),
        (lambda i: db.update_many([{"self_id": "leak2", "last_pid": i},
                                   {"self_id": "leak2", bad_field: i}]), True),
        (lambda i: db.delete({"cwd": padding}, keep_newest=2, dry_run=True,
                             remove_logs=True), False),
        (lambda i: db.delete({bad_field: 1}), True),
        (lambda i: db.read_log("leak", max_bytes=1500), False),
        (lambda i: db.read_log("leak", "stderr", tail_lines=300,
                               binary=True), False),
        (lambda i: db.read_log("leak", offset=10**9), False),  # restarted
        (lambda i: db.read_log(ghost), True),
        (lambda i: db.tail("leak", 300), False),
        (lambda i: db.changes(limit=2), False),
        (lambda i: db.changes(feed), False),
        (lambda i: db.changes("e30" + padding), True),     # no cursor
    ]

    def run(count):
        failures = 0
        for i in range(count):
            call, _ = calls[i % len(calls)]
            try:
                call(i)
            except (jobdb.NotFoundError, jobdb.SchemaError,
                    jobdb.ConflictError):
                failures += 1
        return failures

    run(13_000)  # warm-up: SQLite's cache, Python's allocator
    gc.collect()
    before = resident_bytes()
    started = time.monotonic()
    failures = run(LEAK_CALLS)
    elapsed = time.monotonic() - started
    gc.collect()
    growth = resident_bytes() - before

    assert failures == sum(1 for i in range(LEAK_CALLS) if calls[i % len(calls)][1])
    with capsys.disabled():
        print(f"\n[jobdb leak test] {LEAK_CALLS} calls ({failures} failing) in "
              f"{elapsed:.1f} s: resident memory grew by "
              f"{growth / 2**20:.2f} MiB (bound {LEAK_BOUND_MIB} MiB)")
    assert growth < LEAK_BOUND_MIB * 2**20
