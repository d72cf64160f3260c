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
          "logdir", "logfile"]


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
    stamp = record["last_update"]
    assert isinstance(stamp, datetime.datetime) and stamp.tzinfo is UTC
    assert abs(datetime.datetime.now(UTC) - stamp) < datetime.timedelta(minutes=1)
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
               jobdb.NoLogsError, jobdb.TooLargeError, jobdb.InternalError]
    assert [cls.code for cls in classes] == list(range(1, 12))
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
    assert (copy.code, copy.name, copy.message, copy.field) == (
        3, "JOBDB_ERR_SCHEMA", info.value.message, "bogus")


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
    ]
    for call in calls:
        try:
            call()
        except jobdb.JobDBError:
            pass
    assert len(freed) == len(calls)  # one result or error string per call
    assert all(freed)  # never NULL

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
# every call below returns a string of 1 KiB or more, so leaking one string
# per call grows memory by about 100 MiB and fails this bound.
LEAK_BOUND_MIB = 20


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_no_leak_over_many_calls(db, logdir, capsys):
    padding = "p" * 1024
    write_logs(logdir, "leak", b"out\n" * 64, b"err\n" * 64)
    db.update_status({"self_id": "leak", "status": "running",
                      "logdir": str(logdir), "logfile": "leak", "cwd": padding})
    ghost = "ghost-" + padding
    bad_field = "bogus_" + padding
    calls = [
        lambda i: db.update_status({"self_id": "leak", "last_pid": i}),
        lambda i: db.get_status("leak"),
        lambda i: db.get_status(ghost),                    # NotFoundError
        lambda i: db.update_status({"self_id": "leak", bad_field: i}),  # SchemaError
        lambda i: db.job_logs_detail("leak"),
        lambda i: db.list_status({"cwd": padding}),
        lambda i: db.list_status({bad_field: 1}),          # SchemaError
    ]

    def run(count):
        failures = 0
        for i in range(count):
            try:
                calls[i % len(calls)](i)
            except (jobdb.NotFoundError, jobdb.SchemaError):
                failures += 1
        return failures

    run(7_000)  # warm-up: SQLite's cache, Python's allocator
    gc.collect()
    before = resident_bytes()
    started = time.monotonic()
    failures = run(LEAK_CALLS)
    elapsed = time.monotonic() - started
    gc.collect()
    growth = resident_bytes() - before

    assert failures == sum(1 for i in range(LEAK_CALLS) if i % len(calls) in (2, 3, 6))
    with capsys.disabled():
        print(f"\n[jobdb leak test] {LEAK_CALLS} calls ({failures} failing) in "
              f"{elapsed:.1f} s: resident memory grew by "
              f"{growth / 2**20:.2f} MiB (bound {LEAK_BOUND_MIB} MiB)")
    assert growth < LEAK_BOUND_MIB * 2**20
