"""jobdb from Python: job records in a SQLite file, through libjobdb.

jobdb keeps track of jobs that other programs start: each job's id,
status, last update, last pid, working directory, log location, command,
exit code, start and end times and metadata of the caller's own, in
``<folder>/jobs.db``, the same file the nodejobs package uses. This module
loads libjobdb with ctypes (standard library only) and reads like
nodejobs' ``JobDB``::

    from datetime import datetime, timedelta, timezone
    from jobdb import JobDB

    with JobDB("state") as db:                   # the folder holding jobs.db
        db.update_status({"self_id": "backup", "status": "running",
                          "last_pid": 4242, "command": "rsync -a /srv /mnt",
                          "started_at": datetime.now(timezone.utc),
                          "metadata": {"host": "db1"}})  # -> the stored record
        db.get_status("backup")                  # -> the record, a dict
        db.list_status({"status": "running"})    # -> {self_id: record, ...}
        stdout, stderr = db.job_logs("backup")

        # Running jobs that have not reported for ten minutes, oldest first.
        stale = {"status": {"$in": ["running", "starting"]},
                 "last_update": {"$lt": datetime.now(timezone.utc)
                                        - timedelta(minutes=10)}}
        page = db.query(stale, order_by="last_update", limit=100)
        page.jobs, page.next_cursor              # -> [record, ...], str or None
        for record in db.iter_jobs(stale):       # every page, one at a time
            ...
        db.count(stale)                          # -> an int

Finding the library
-------------------
The first time it is needed (opening a ``JobDB``, or calling
``load_library()``), libjobdb is looked for in this order:

1. the environment variable ``JOBDB_LIBRARY``, the path of a
   ``libjobdb.so``. When it is set it is the only place tried: a wrong path
   is an error, never silently replaced by another copy of the library;
2. ``libjobdb.so`` in the folder of this module;
3. the repository's build folders, relative to this module:
   ``../target/release/libjobdb.so``, then ``../target/debug/libjobdb.so``;
4. the system: the name ``ctypes.util.find_library("jobdb")`` returns, then
   ``libjobdb.so.0``, both found by the dynamic loader (``ldconfig``'s
   cache, ``LD_LIBRARY_PATH``).

When none loads, ``LibraryNotFoundError`` (an ``OSError``) names every
place tried and why each failed. ``library_path()`` tells which one loaded.

Records
-------
A record is a plain dict with these fields, in this order, ``None`` where
unset, followed by any fields another program stored:

================  ========================================================
``self_id``       the job's id, a non-empty ``str``
``status``        a non-empty ``str``, such as ``"running"``
``last_update``   ``datetime``; set to now by each update that leaves it out
``last_pid``      ``int``
``dirname``       ``str``
``cwd``           ``str``
``logdir``        ``str``, the folder of the job's logs
``logfile``       ``str``: the logs are ``<logdir>/<logfile>_out.txt`` and
                  ``<logdir>/<logfile>_errors.txt``
``exit_code``     ``int``
``command``       ``str``
``created_at``    ``datetime``, set by jobdb when it first writes the job,
                  never changed; ``None`` for a job another program created
``started_at``    ``datetime``
``ended_at``      ``datetime``
``metadata``      a ``dict`` of the caller's own (any JSON)
================  ========================================================

``update_status`` overwrites the fields it is given, keeps the ones left
out and clears a field given as ``None``; ``metadata`` is one field, so an
update replaces the whole dict (read, change and write it back to change
one key). ``created_at`` is read-only: giving it, even as ``None``, raises
``SchemaError`` (so a record read back must lose it before it is written
again). Any key that is not a field is refused with ``SchemaError``, as in
filters, so a typo never lists every job.

The four time fields come back as timezone-aware ``datetime`` values in
UTC (``tzinfo=datetime.timezone.utc``): jobdb returns them with a ``Z``,
and an aware value cannot be mistaken for local time. ``datetime`` values
may be given in records and filters: an aware one is converted to UTC, a
naive one is taken as UTC (as nodejobs stores them). jobdb keeps
microseconds. Inside ``metadata`` a ``datetime`` is stored as ISO 8601
text and comes back as a ``str``: jobdb does not know what the caller's
own values mean.

Filters
-------
``list_status``, ``query``, ``iter_jobs`` and ``count`` take a filter: a
dict of record fields (any but ``metadata``), each with a value or a dict
of operators, as in nodejobs and MongoDB. A job matches when every
condition holds:

- ``{"status": "running"}``: equal; ``{"last_pid": None}``: null or unset;
- ``{"status": {"$in": ["running", "starting"]}}``: one of the values;
- ``{"last_pid": {"$ne": 5}}``: anything else, ``None`` included;
- ``{"last_update": {"$gte": t1, "$lt": t2}}``: ``$gt``, ``$gte``,
  ``$lt``, ``$lte`` compare numbers, text, and times as instants,
  whatever their offsets.

Several operators on one field, and several fields, all apply. An unknown
field or operator, or a value of the wrong type, raises ``SchemaError``
naming the field.

Queries
-------
``query(filter, order_by=..., descending=..., limit=..., cursor=...)``
returns one ``Page``: ``.jobs``, the records in order, and
``.next_cursor``, to pass as ``cursor`` for the next page (``None`` on the
last). ``order_by`` is ``"self_id"`` (the default), ``"last_update"``,
``"created_at"``, ``"started_at"`` or ``"ended_at"``, ties broken by
``self_id``. Pages follow on by key, not by offset: jobs added or deleted
between two pages never make a job that stayed be skipped or repeated. A
cursor only continues the query (filter, order and direction) that made
it; any other raises ``SchemaError`` with ``field == "cursor"``, and a
``limit`` outside 1 to 100000 one with ``field == "limit"``.
``iter_jobs(...)`` yields every matching record, reading a page at a time;
``count(filter)`` counts them without reading them.

Strings are sent as JSON; a ``str`` holding a lone surrogate (as
``os.fsdecode`` makes of bytes that are not UTF-8) is not valid JSON text
and is refused by the library with ``MalformedJSONError``. Float NaN and
infinity are refused by ``json`` with ``ValueError`` before any call.
There is no raw-JSON entry point: every argument is built from Python
values, so JSON syntax errors cannot otherwise occur.

Errors
------
Every failure the library reports raises a subclass of ``JobDBError``
carrying ``.code`` (the ``JOBDB_ERR_*`` number), ``.name`` (such as
``"JOBDB_ERR_SCHEMA"``), ``.message`` and ``.field`` (the record field at
fault, or ``None``). One class per code:

=====  ==========================  ======================================
code   name                        class
=====  ==========================  ======================================
1      JOBDB_ERR_INVALID_ARGUMENT  InvalidArgumentError (also ValueError)
2      JOBDB_ERR_MALFORMED_JSON    MalformedJSONError
3      JOBDB_ERR_SCHEMA            SchemaError
4      JOBDB_ERR_NOT_FOUND         NotFoundError (also KeyError)
5      JOBDB_ERR_BUSY              BusyError
6      JOBDB_ERR_IO                JobIOError
7      JOBDB_ERR_DATABASE          DatabaseError
8      JOBDB_ERR_CORRUPT           CorruptError
9      JOBDB_ERR_NO_LOGS           NoLogsError
10     JOBDB_ERR_TOO_LARGE         TooLargeError
11     JOBDB_ERR_INTERNAL          InternalError
=====  ==========================  ======================================

``NotFoundError`` is also a ``KeyError``, since ``get_status`` is a lookup
by key (``except KeyError`` works as with a dict), and
``InvalidArgumentError`` is also a ``ValueError``: an empty ``self_id``, a
string with a NUL character, and a closed ``JobDB`` (like a closed file)
raise it. Each error comes back with its own call; there is no global
"last error".

Logs
----
``job_logs(self_id)`` returns ``(stdout, stderr)`` as nodejobs does, but
never puts an error message where log text belongs: when either file could
not be read (missing, unreadable, over 16 MiB) it raises ``LogReadError``,
whose ``.logs`` still holds the other stream and whose ``.errors`` maps
each failed stream to its error (``NotFoundError``, ``JobIOError`` or
``TooLargeError``). ``job_logs_detail(self_id)`` never raises for a
stream: it returns a ``JobLogs`` whose ``.stdout`` and ``.stderr`` are
``LogStream`` objects with ``path``, ``text``, ``size``, ``invalid_utf8``
and ``error``. Bytes that are not UTF-8 are replaced with U+FFFD and
``invalid_utf8`` is set. An unknown job raises ``NotFoundError``, a
record without ``logdir`` or ``logfile`` ``NoLogsError``.

Threads
-------
A ``JobDB`` may be shared by threads; ctypes releases the GIL during each
call, and the library runs one call at a time per handle (open one
``JobDB`` per thread for parallel reads). ``close()`` is idempotent and
waits for calls already running on other threads to return; calls made
after it raise ``InvalidArgumentError``. A ``JobDB`` that is garbage
collected without ``close()`` is closed then. Do not use one across
``fork()``.

One SQLite per process: libjobdb links the system's libsqlite3, as
Python's ``sqlite3`` module (and so nodejobs) does, so one process may use
both on the same ``jobs.db``. A libjobdb built with ``--features bundled``
carries its own SQLite and must not be mixed with them in one process:
SQLite's POSIX locks would be lost between the two copies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import datetime
import json
import math
import numbers
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Optional

__all__ = [
    "JobDB",
    "Page",
    "JobLogs",
    "LogStream",
    "JobDBError",
    "InvalidArgumentError",
    "MalformedJSONError",
    "SchemaError",
    "NotFoundError",
    "BusyError",
    "JobIOError",
    "DatabaseError",
    "CorruptError",
    "NoLogsError",
    "TooLargeError",
    "InternalError",
    "LogReadError",
    "LibraryNotFoundError",
    "load_library",
    "library_path",
    "library_version",
]

UTC = datetime.timezone.utc

_OK = 0
_SONAME = "libjobdb.so.0"
_MAX_BUSY_TIMEOUT_MS = 2**31 - 1


# ---- Errors -----------------------------------------------------------


class JobDBError(Exception):
    """An error jobdb reported.

    Attributes: ``code`` (the ``JOBDB_ERR_*`` number), ``name`` (such as
    ``"JOBDB_ERR_SCHEMA"``), ``message`` (what happened) and ``field`` (the
    record field at fault, or ``None``).
    """

    code: Optional[int] = None
    name: str = "JOBDB_ERR_UNKNOWN"

    def __init__(self, message: str, *, code: Optional[int] = None,
                 name: Optional[str] = None, field: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = type(self).code if code is None else code
        self.name = type(self).name if name is None else name
        self.field = field

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, name={self.name!r}, "
                f"message={self.message!r}, field={self.field!r})")

    def __reduce__(self):
        # The keyword-only arguments would be lost by the default pickling.
        return (type(self), (self.message,), self.__dict__.copy())


class InvalidArgumentError(JobDBError, ValueError):
    """An argument jobdb cannot use: an empty ``self_id`` or folder, a
    string with a NUL character or that is not UTF-8, a closed handle."""
    code, name = 1, "JOBDB_ERR_INVALID_ARGUMENT"


class MalformedJSONError(JobDBError):
    """A JSON argument did not parse (from Python: a lone surrogate)."""
    code, name = 2, "JOBDB_ERR_MALFORMED_JSON"


class SchemaError(JobDBError):
    """A record, filter or option that is not valid: unknown field, wrong
    type, missing ``self_id`` or ``status``; ``field`` names it."""
    code, name = 3, "JOBDB_ERR_SCHEMA"


class NotFoundError(JobDBError, KeyError):
    """No job has that ``self_id`` (also a ``KeyError``); in a
    ``LogStream``, a log file that does not exist."""
    code, name = 4, "JOBDB_ERR_NOT_FOUND"


class BusyError(JobDBError):
    """Another connection held the lock for the whole busy timeout.
    Nothing was written; the call may be retried."""
    code, name = 5, "JOBDB_ERR_BUSY"


class JobIOError(JobDBError):
    """The file system refused: permissions, full disk, a folder that
    cannot be created, a log that cannot be read."""
    code, name = 6, "JOBDB_ERR_IO"


class DatabaseError(JobDBError):
    """Any other SQLite error."""
    code, name = 7, "JOBDB_ERR_DATABASE"


class CorruptError(JobDBError):
    """``jobs.db`` is not SQLite, is damaged, or holds a row that is not a
    job."""
    code, name = 8, "JOBDB_ERR_CORRUPT"


class NoLogsError(JobDBError):
    """The job's record has no ``logdir`` or no ``logfile``."""
    code, name = 9, "JOBDB_ERR_NO_LOGS"


class TooLargeError(JobDBError):
    """An argument over 64 MiB of JSON, or a log file over 16 MiB."""
    code, name = 10, "JOBDB_ERR_TOO_LARGE"


class InternalError(JobDBError):
    """A bug in jobdb."""
    code, name = 11, "JOBDB_ERR_INTERNAL"


_ERROR_CLASSES = {
    cls.code: cls
    for cls in (InvalidArgumentError, MalformedJSONError, SchemaError,
                NotFoundError, BusyError, JobIOError, DatabaseError,
                CorruptError, NoLogsError, TooLargeError, InternalError)
}


class LogReadError(JobDBError):
    """``job_logs`` could not read one or both of a job's log files.

    ``errors`` maps each failed stream (``"stdout"``, ``"stderr"``) to its
    error: a ``NotFoundError``, ``JobIOError`` or ``TooLargeError``.
    ``logs`` is the whole ``JobLogs``, so the stream that was read is still
    at hand. ``code``, ``name`` and ``field`` are those of the first failed
    stream's error.
    """

    def __init__(self, message: str, *, logs: Optional["JobLogs"] = None,
                 errors: Optional[dict] = None):
        errors = dict(errors or {})
        first = next(iter(errors.values()), None)
        super().__init__(
            message,
            code=None if first is None else first.code,
            name=None if first is None else first.name,
            field=None if first is None else first.field,
        )
        self.logs = logs
        self.errors = errors


class LibraryNotFoundError(OSError):
    """libjobdb could not be loaded from any place tried.

    ``tried`` lists ``(place, reason)`` pairs, in the order tried.
    """

    def __init__(self, tried: list):
        self.tried = list(tried)
        lines = ["cannot load libjobdb; tried, in order:"]
        lines += [f"  {place}: {reason}" for place, reason in self.tried]
        lines.append("Build it with `cargo build --release` in the jobdb "
                     "repository, or set JOBDB_LIBRARY to the path of "
                     "libjobdb.so.")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (type(self), (self.tried,))


def _error_from_object(obj: Any, code: int) -> JobDBError:
    """The exception for an error object jobdb returned with `code`."""
    if not isinstance(obj, dict):
        obj = {"message": f"jobdb returned code {code} with no usable error "
                          f"document: {obj!r}"}
    code = obj.get("code", code)
    cls = _ERROR_CLASSES.get(code, JobDBError)
    return cls(str(obj.get("message", "")), code=code, name=obj.get("name"),
               field=obj.get("field"))


# ---- Finding and loading the library ----------------------------------

_library = None
_library_path = None
_library_lock = threading.Lock()


def _declare(lib: ctypes.CDLL) -> None:
    """Declares every function's types. AttributeError when one is missing.

    Strings the library hands over are received as c_void_p, never
    c_char_p, which would copy them and lose the pointer to free.
    """
    out = ctypes.POINTER(ctypes.c_void_p)
    # Static strings, owned by the library: c_char_p is right here only.
    lib.jobdb_version.argtypes = []
    lib.jobdb_version.restype = ctypes.c_char_p
    lib.jobdb_code_name.argtypes = [ctypes.c_int]
    lib.jobdb_code_name.restype = ctypes.c_char_p

    lib.jobdb_open_with_options.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                            out, out]
    lib.jobdb_open_with_options.restype = ctypes.c_int
    lib.jobdb_close.argtypes = [ctypes.c_void_p]
    lib.jobdb_close.restype = None
    for name in ("jobdb_update_status", "jobdb_get_status",
                 "jobdb_list_status", "jobdb_query", "jobdb_count",
                 "jobdb_job_logs"):
        function = getattr(lib, name)
        function.argtypes = [ctypes.c_void_p, ctypes.c_char_p, out]
        function.restype = ctypes.c_int
    lib.jobdb_string_free.argtypes = [ctypes.c_void_p]
    lib.jobdb_string_free.restype = None


def _places():
    """(place, what to dlopen or None, whether it is a file path), in the
    order tried."""
    from_env = os.environ.get("JOBDB_LIBRARY")
    if from_env:
        path = os.path.abspath(from_env)
        yield f"JOBDB_LIBRARY={path}", path, True
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (
        os.path.join(here, "libjobdb.so"),
        os.path.join(here, "..", "target", "release", "libjobdb.so"),
        os.path.join(here, "..", "target", "debug", "libjobdb.so"),
    ):
        path = os.path.normpath(path)
        yield path, path, True
    found = ctypes.util.find_library("jobdb")
    if not found:
        yield 'ctypes.util.find_library("jobdb")', None, False
    elif found != _SONAME:
        yield f'ctypes.util.find_library("jobdb") -> {found}', found, False
    yield f"{_SONAME} (the dynamic loader's search path)", _SONAME, False


def load_library() -> ctypes.CDLL:
    """Loads libjobdb (once per process) and returns it.

    Raises LibraryNotFoundError, naming every place tried, when no copy
    loads. See the module documentation for the order.
    """
    global _library, _library_path
    with _library_lock:
        if _library is not None:
            return _library
        tried = []
        for place, target, is_path in _places():
            if target is None:
                tried.append((place, "not found"))
                continue
            if is_path and not os.path.isfile(target):
                tried.append((place, "no such file"))
                continue
            try:
                lib = ctypes.CDLL(target)
                _declare(lib)
            except (OSError, AttributeError) as error:
                tried.append((place, str(error)))
                continue
            _library, _library_path = lib, target
            return lib
        raise LibraryNotFoundError(tried)


def library_path() -> str:
    """The path (or, for a system library, the name) of the loaded libjobdb."""
    load_library()
    return _library_path


def library_version() -> str:
    """The loaded library's version, such as ``"0.1.0"``."""
    return load_library().jobdb_version().decode("utf-8")


def _take_string(lib: ctypes.CDLL, pointer: ctypes.c_void_p) -> Optional[str]:
    """Reads a string jobdb returned and frees it, exactly once."""
    address = pointer.value
    if not address:
        return None
    pointer.value = None
    try:
        return ctypes.string_at(address).decode("utf-8")
    finally:
        lib.jobdb_string_free(address)


# ---- Values to and from JSON ------------------------------------------


def _format_timestamp(value: datetime.datetime) -> str:
    """ISO 8601 in UTC; a naive datetime is taken as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return value.isoformat()


def _parse_timestamp(text: str) -> datetime.datetime:
    """jobdb's ``2024-05-01T12:00:00.250000Z`` as an aware UTC datetime."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # fromisoformat reads Z only from 3.11
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return _format_timestamp(value)
    raise TypeError(f"a value of type {type(value).__name__} cannot be "
                    f"sent to jobdb: {value!r}")


def _to_json(value: Any) -> bytes:
    # ensure_ascii keeps the text ASCII, so any str encodes; allow_nan=False
    # refuses NaN and infinity, which are not JSON.
    return json.dumps(value, default=_json_default, allow_nan=False,
                      separators=(",", ":")).encode("ascii")


def _mapping_json(value: Any, what: str) -> bytes:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    return _to_json(dict(value))


def _c_string(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    # surrogatepass: a lone surrogate reaches jobdb, which refuses text
    # that is not UTF-8 with JOBDB_ERR_INVALID_ARGUMENT.
    data = value.encode("utf-8", "surrogatepass")
    if b"\0" in data:
        # ctypes would cut the string at the NUL and send another id.
        raise InvalidArgumentError(f"{what} contains a NUL character: {value!r}")
    return data


#: The record fields jobdb returns as timestamps.
_TIME_FIELDS = ("last_update", "created_at", "started_at", "ended_at")


def _record(obj: dict) -> dict:
    """A record as jobdb returned it, its timestamps made datetimes. Fields
    another program stored are left as they are, even when they look like
    times."""
    for name in _TIME_FIELDS:
        stamp = obj.get(name)
        if isinstance(stamp, str):
            obj[name] = _parse_timestamp(stamp)
    return obj


def _filter_json(filter: Optional[Mapping]) -> Optional[bytes]:
    return None if filter is None else _mapping_json(filter, "filter")


def _milliseconds(value: Any) -> int:
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError("busy_timeout must be a number of seconds, not "
                        f"{type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"busy_timeout must be 0 seconds or more, not {value!r}")
    milliseconds = round(seconds * 1000)
    if milliseconds > _MAX_BUSY_TIMEOUT_MS:
        raise ValueError(f"busy_timeout must be at most "
                         f"{_MAX_BUSY_TIMEOUT_MS / 1000} seconds, not {value!r}")
    return milliseconds


# ---- Logs -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LogStream:
    """One log file of a job, as ``job_logs_detail`` read it.

    When the file was read: ``text`` is its content (``""`` when empty),
    ``size`` its length in bytes, ``invalid_utf8`` whether bytes that are
    not UTF-8 were replaced with U+FFFD, ``error`` ``None``. When it was
    not: ``text`` and ``size`` are ``None`` and ``error`` says why
    (``NotFoundError``, ``JobIOError`` or ``TooLargeError``).
    """

    stream: str  # "stdout" or "stderr"
    path: str
    text: Optional[str]
    size: Optional[int]
    invalid_utf8: bool
    error: Optional[JobDBError]

    @property
    def ok(self) -> bool:
        """Whether the file was read."""
        return self.error is None

    @classmethod
    def _from_object(cls, stream: str, obj: dict) -> "LogStream":
        error = obj.get("error")
        return cls(
            stream=stream,
            path=obj["path"],
            text=obj["text"],
            size=obj["size"],
            invalid_utf8=bool(obj["invalid_utf8"]),
            error=None if error is None else _error_from_object(error, 0),
        )


@dataclasses.dataclass(frozen=True)
class JobLogs:
    """Both log files of a job: ``stdout`` and ``stderr`` ``LogStream``s."""

    self_id: str
    stdout: LogStream
    stderr: LogStream

    def texts(self) -> tuple:
        """``(stdout, stderr)`` text; ``LogReadError`` if either failed."""
        failed = [s for s in (self.stdout, self.stderr) if s.error is not None]
        if failed:
            reasons = "; ".join(f"{s.stream}: {s.error.message}" for s in failed)
            raise LogReadError(
                f"cannot read the logs of job {self.self_id!r}: {reasons}",
                logs=self,
                errors={s.stream: s.error for s in failed},
            )
        return self.stdout.text, self.stderr.text


# ---- Queries ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of ``JobDB.query``: ``jobs``, a list of records in the
    query's order, and ``next_cursor``, the ``cursor`` that asks for the
    next page, or ``None`` on the last page.

    A page iterates over its jobs and has their number as its ``len``.
    """

    jobs: list
    next_cursor: Optional[str]

    @property
    def last(self) -> bool:
        """Whether this is the last page (``next_cursor`` is ``None``)."""
        return self.next_cursor is None

    def __iter__(self):
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


# ---- The database -----------------------------------------------------


class JobDB:
    """An open jobdb database: ``<db_path>/jobs.db``.

    ``db_path`` is the folder holding ``jobs.db`` (str, bytes or path-like);
    the folder, file and table are created when missing. Options:

    - ``busy_timeout``: seconds (a float, or a ``timedelta``) a call waits
      for another connection's lock before ``BusyError``; jobdb's default
      is 10 s;
    - ``synchronous``: ``"normal"`` (jobdb's default: every update survives
      the process being killed) or ``"full"`` (also a power loss).

    Use it as a context manager, or call ``close()``.
    """

    def __init__(self, db_path, *, busy_timeout=None, synchronous=None):
        lib = load_library()
        folder = os.fsencode(db_path)
        if b"\0" in folder:
            raise InvalidArgumentError(
                f"db_path contains a NUL character: {db_path!r}")
        options = {}
        if busy_timeout is not None:
            options["busy_timeout_ms"] = _milliseconds(busy_timeout)
        if synchronous is not None:
            options["synchronous"] = synchronous

        handle = ctypes.c_void_p()
        error = ctypes.c_void_p()
        try:
            code = lib.jobdb_open_with_options(
                folder, _to_json(options) if options else None,
                ctypes.byref(handle), ctypes.byref(error))
        finally:
            text = _take_string(lib, error)
        if code != _OK:
            raise _error_from_object(_loads_error(text), code)

        self.folder = os.fsdecode(folder)
        #: The database file, as nodejobs' JobDB names it.
        self.db_path = os.path.join(self.folder, "jobs.db")
        self._lib = lib
        self._handle = handle.value
        self._active = 0
        self._state = threading.Condition(threading.Lock())
        # Closes the handle once: from close(), or when garbage collected.
        self._closer = weakref.finalize(self, lib.jobdb_close, handle.value)

    # -- lifetime

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Closes the database. Idempotent; waits for calls running on other
        threads to return. Later calls raise ``InvalidArgumentError``."""
        with self._state:
            if self._handle is None:
                return
            self._handle = None
            while self._active:
                self._state.wait()
            self._closer()

    def __enter__(self) -> "JobDB":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<jobdb.JobDB {self.db_path!r} {state}>"

    # -- calls

    def _call(self, function, argument: Optional[bytes]) -> Any:
        """Runs `function(handle, argument, &out)` on the open handle and
        returns the parsed result; raises the error it reported."""
        with self._state:
            if self._handle is None:
                raise InvalidArgumentError(
                    f"the JobDB on {self.db_path!r} is closed")
            handle = self._handle
            self._active += 1
        out = ctypes.c_void_p()
        try:
            code = function(handle, argument, ctypes.byref(out))
        finally:
            try:
                text = _take_string(self._lib, out)
            finally:
                with self._state:
                    self._active -= 1
                    if not self._active:
                        self._state.notify_all()
        if code != _OK:
            raise _error_from_object(_loads_error(text), code)
        return json.loads(text)

    def update_status(self, job: Mapping) -> dict:
        """Creates or updates one job, atomically; returns the stored record.

        ``job`` has ``self_id`` and any other record fields: those given
        overwrite, those left out are kept, ``None`` clears. ``status`` is
        required for a new job; ``last_update`` defaults to now.
        """
        return _record(self._call(self._lib.jobdb_update_status,
                                  _mapping_json(job, "job")))

    def get_status(self, self_id: str) -> dict:
        """The record of job ``self_id``; ``NotFoundError`` when none."""
        return _record(self._call(self._lib.jobdb_get_status,
                                  _c_string(self_id, "self_id")))

    def list_status(self, filter: Optional[Mapping] = None) -> dict:
        """``{self_id: record}`` for the jobs matching ``filter``, sorted by
        ``self_id``. ``None`` or ``{}`` lists every job; ``None`` in a filter
        matches a field that is unset."""
        jobs = self._call(self._lib.jobdb_list_status, _filter_json(filter))
        return {self_id: _record(record) for self_id, record in jobs.items()}

    def query(self, filter: Optional[Mapping] = None, *,
              order_by: str = "self_id", descending: bool = False,
              limit: Optional[int] = None,
              cursor: Optional[str] = None) -> Page:
        """One page of the jobs matching ``filter``, in order.

        ``order_by`` is ``"self_id"``, ``"last_update"``, ``"created_at"``,
        ``"started_at"`` or ``"ended_at"``; ties are broken by ``self_id``,
        and jobs without the field come first (last when ``descending``).
        ``limit`` is the page size, 1 to 100000, ``None`` for every job in
        one page. ``cursor`` is the ``next_cursor`` of the page before,
        with the same filter, ``order_by`` and ``descending`` (``limit``
        may differ). Returns a ``Page``. A bad value raises ``SchemaError``
        whose ``field`` names it (``"limit"``, ``"cursor"``, ...).
        """
        query = {"order_by": order_by, "descending": descending}
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise TypeError(
                    f"filter must be a dict, not {type(filter).__name__}")
            query["filter"] = dict(filter)
        if limit is not None:
            query["limit"] = limit
        if cursor is not None:
            query["cursor"] = cursor
        page = self._call(self._lib.jobdb_query, _to_json(query))
        return Page(jobs=[_record(record) for record in page["jobs"]],
                    next_cursor=page["next_cursor"])

    def iter_jobs(self, filter: Optional[Mapping] = None, *,
                  order_by: str = "self_id", descending: bool = False,
                  page_size: int = 1000, cursor: Optional[str] = None):
        """Every job matching ``filter``, in order, read ``page_size`` at a
        time: a generator of records.

        The arguments are those of ``query``. The first page is read at
        once, so a bad argument raises here rather than at the first
        ``next()``; each later page is read when the one before runs out.
        Jobs added or deleted meanwhile never make a job that stayed be
        skipped or repeated.
        """
        first = self.query(filter, order_by=order_by, descending=descending,
                           limit=page_size, cursor=cursor)

        def pages(page):
            while True:
                yield from page.jobs
                if page.next_cursor is None:
                    return
                page = self.query(filter, order_by=order_by,
                                  descending=descending, limit=page_size,
                                  cursor=page.next_cursor)

        return pages(first)

    def count(self, filter: Optional[Mapping] = None) -> int:
        """How many jobs match ``filter`` (as for ``list_status``), without
        reading them."""
        return self._call(self._lib.jobdb_count, _filter_json(filter))["count"]

    def job_logs_detail(self, self_id: str) -> JobLogs:
        """Both log files of a job, each with its text or its error.

        Raises ``NotFoundError`` for an unknown job and ``NoLogsError`` for
        a record without ``logdir`` or ``logfile``, never for a file.
        """
        obj = self._call(self._lib.jobdb_job_logs, _c_string(self_id, "self_id"))
        return JobLogs(
            self_id=obj["self_id"],
            stdout=LogStream._from_object("stdout", obj["stdout"]),
            stderr=LogStream._from_object("stderr", obj["stderr"]),
        )

    def job_logs(self, self_id: str) -> tuple:
        """``(stdout, stderr)`` of a job, as text.

        Raises ``LogReadError`` when either file could not be read (its
        ``.logs`` still holds the other), besides the errors of
        ``job_logs_detail``.
        """
        return self.job_logs_detail(self_id).texts()


def _loads_error(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
