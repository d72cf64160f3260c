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

        # Only if no other process changed its status; else ConflictError.
        db.update_status({"self_id": "backup", "status": "finished",
                          "exit_code": 0}, only_if={"status": "running"})
        db.update_many([{"self_id": "a", "status": "queued"},
                        {"self_id": "b", "status": "queued"}])  # all or none
        db.delete({"status": "finished"}, keep_newest=100, remove_logs=True)
        db.tail("backup", lines=20)              # -> the last lines, a str
        feed = db.changes()                      # every job; then, later:
        for self_id, record in db.changes(feed.next_cursor):
            ...                                  # record None: deleted

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
one key). ``created_at`` is set once: the write that creates a job may give
it (as when copying jobs from elsewhere), and so may a write to a job that
has none; after that only its stored value is accepted, so a record read
back can be written back as it is. Another value, or ``None``, raises
``SchemaError``. Any key that is not a field is refused with
``SchemaError``, as in filters, so a typo never lists every job.

The four time fields come back as timezone-aware ``datetime`` values in
UTC (``tzinfo=datetime.timezone.utc``): jobdb returns them with a ``Z``,
and an aware value cannot be mistaken for local time. ``datetime`` values
may be given in records and filters: an aware one is converted to UTC, a
naive one is taken as UTC (as nodejobs stores them). jobdb keeps
microseconds. An aware one that falls outside the years 1 to 9999 once in
UTC (such as year 1 at +02:00) raises ``SchemaError`` naming the field,
as jobdb does for the same text. Inside ``metadata`` a ``datetime`` is stored as ISO 8601
text and comes back as a ``str``: jobdb does not know what the caller's
own values mean.

Filters
-------
``list_status``, ``query``, ``iter_jobs``, ``count`` and ``delete`` take a
filter, as does ``update_status``'s ``only_if``: a
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

Writes
------
``update_status(job, only_if=filter)`` updates a job only if its current
record matches ``filter``, checked and written in one transaction: say,
mark it running only if it is still starting, so that a late writer
cannot undo what another process recorded. When it does not match,
nothing is written and ``ConflictError`` is raised, whose ``.current`` is
the record as it stands. It never creates a job: an unknown ``self_id``
raises ``NotFoundError``.

``update_many(jobs)`` writes a list of records in one transaction, in
order, and returns the stored records: all of them, or none. When one is
refused, the error's ``.index`` is its position, from 0.

``delete(filter, keep_newest=0, dry_run=False, remove_logs=False)``
deletes the jobs matching ``filter`` (required; ``{}`` is every job),
sparing the ``keep_newest`` most recently updated. ``remove_logs`` also
removes the two log files of each deleted job, and no other file, except
those a job that stays still names; ``dry_run`` changes nothing and tells
what would go. It returns a ``Deletion``: ``.deleted`` (the ids, newest
first), ``.logs_removed``, ``.logs_kept`` and ``.log_errors`` (path ->
error, for files that could not be removed; the jobs stay deleted).

Changes
-------
``changes(cursor=None, limit=...)`` returns the jobs that changed since
``cursor``, whoever wrote them (jobdb or nodejobs, any process): a
``Changes`` with ``.changes``, a list of ``Change`` ``(self_id, record)``
pairs, ``record`` ``None`` for a deleted job, each job once in the order
of its latest change; ``.next_cursor``, to pass next time (even when
nothing changed); and ``.more``, true when ``limit`` (default 1000) cut the
reply. Without a cursor every job comes back. A cursor from another
database, or text that is none, raises ``SchemaError`` with ``field ==
"cursor"``.

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
``"JOBDB_ERR_SCHEMA"``), ``.message``, ``.field`` (the record field at
fault, or ``None``) and ``.index`` (the batch position of the record at
fault in ``update_many``, or ``None``). One class per code:

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
12     JOBDB_ERR_CONFLICT          ConflictError (``.current``: the record)
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

``read_log(self_id, stream="stdout", offset=..., tail_bytes=...,
tail_lines=..., max_bytes=..., binary=False)`` reads part of one log, in
time and memory that do not grow with the file: from ``offset``, or its
last bytes or lines, at most ``max_bytes`` (1 MiB by default). It returns a
``LogChunk``: ``.text``, or with ``binary=True`` ``.data`` (the exact
bytes), ``.offset``, ``.next_offset`` (where the next read continues),
``.size``, ``.eof``, ``.invalid_utf8``, ``.path``, and ``.restarted``,
set when the file had become shorter than ``offset`` (rotated or
truncated) so the read started again from 0. ``tail(self_id, lines=10)``
returns the last lines as text. ``follow_log(self_id, ...)`` is a
generator of the chunks written since the last, polling every
``poll_interval`` seconds until the caller stops or ``stop()`` is true.
Here a missing file raises ``NotFoundError``, not a stream error.

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
import base64
import dataclasses
import datetime
import decimal
import fractions
import json
import math
import numbers
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Optional

__all__ = [
    "JobDB",
    "Page",
    "JobLogs",
    "LogStream",
    "LogChunk",
    "Deletion",
    "Change",
    "Changes",
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
    "ConflictError",
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
    ``"JOBDB_ERR_SCHEMA"``), ``message`` (what happened), ``field`` (the
    record field at fault, or ``None``) and ``index`` (the position, from
    0, of the record at fault in an ``update_many`` batch, or ``None``).
    """

    code: Optional[int] = None
    name: str = "JOBDB_ERR_UNKNOWN"

    def __init__(self, message: str, *, code: Optional[int] = None,
                 name: Optional[str] = None, field: Optional[str] = None,
                 index: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.code = type(self).code if code is None else code
        self.name = type(self).name if name is None else name
        self.field = field
        self.index = index

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index!r}"
        return (f"{type(self).__name__}(code={self.code!r}, name={self.name!r}, "
                f"message={self.message!r}, field={self.field!r}{extra})")

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


class ConflictError(JobDBError):
    """The ``only_if`` condition of ``update_status`` did not hold. Nothing
    was written; ``current`` is the job's record as it stands (a dict, its
    timestamps ``datetime`` values), or ``None`` if jobdb sent none."""
    code, name = 12, "JOBDB_ERR_CONFLICT"

    def __init__(self, message: str, *, current: Optional[dict] = None,
                 **kwargs):
        super().__init__(message, **kwargs)
        self.current = current


_ERROR_CLASSES = {
    cls.code: cls
    for cls in (InvalidArgumentError, MalformedJSONError, SchemaError,
                NotFoundError, BusyError, JobIOError, DatabaseError,
                CorruptError, NoLogsError, TooLargeError, InternalError,
                ConflictError)
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
    extra = {}
    if issubclass(cls, ConflictError):
        current = obj.get("current")
        extra["current"] = _record(current) if isinstance(current, dict) else None
    return cls(str(obj.get("message", "")), code=code, name=obj.get("name"),
               field=obj.get("field"), index=obj.get("index"), **extra)


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
                 "jobdb_job_logs", "jobdb_update_many", "jobdb_delete",
                 "jobdb_read_log", "jobdb_changes"):
        function = getattr(lib, name)
        function.argtypes = [ctypes.c_void_p, ctypes.c_char_p, out]
        function.restype = ctypes.c_int
    lib.jobdb_update_status_if.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                           ctypes.c_char_p, out]
    lib.jobdb_update_status_if.restype = ctypes.c_int
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
            if is_path and os.path.isdir(target):
                tried.append((place, "is a directory, not the library file"))
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
    """ISO 8601 in UTC; a naive datetime is taken as UTC. OverflowError when
    the instant is outside the years 1 to 9999 in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    else:
        value = value.astimezone(UTC)
    return value.isoformat()


def _times_as_text(value: Any, field: Any, index: Optional[int]) -> Any:
    """`value` with each datetime in it, however deep in dicts, lists and
    tuples, as jobdb's text. One that cannot be said in UTC (an aware
    datetime near year 1 or 9999) raises SchemaError naming `field`, the
    top-level key it is under, as jobdb does for the same text."""
    if isinstance(value, datetime.datetime):
        try:
            return _format_timestamp(value)
        except OverflowError:
            raise SchemaError(
                f"{field}: {value.isoformat()} is outside the years 1 to "
                f"9999 in UTC", field=field, index=index) from None
    if isinstance(value, dict):
        return {key: _times_as_text(item, field, index)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_times_as_text(item, field, index) for item in value]
    return value


def _fields(value: Any, what: str, index: Optional[int] = None) -> dict:
    """A record or filter (any mapping) as a dict ready for JSON, its
    datetimes as text; SchemaError names the key of one out of range."""
    if not isinstance(value, Mapping):
        at = "" if index is None else f" {index}"
        raise TypeError(f"{what}{at} must be a dict, not {type(value).__name__}")
    return {key: _times_as_text(item, key, index) for key, item in value.items()}


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
    if isinstance(value, os.PathLike):
        # cwd, logdir and the like are often pathlib paths; a path that is
        # bytes has no JSON form and falls through to the TypeError.
        path = os.fspath(value)
        if isinstance(path, str):
            return path
    raise TypeError(f"a value of type {type(value).__name__} cannot be "
                    f"sent to jobdb: {value!r}")


def _to_json(value: Any) -> bytes:
    # ensure_ascii keeps the text ASCII, so any str encodes; allow_nan=False
    # refuses NaN and infinity, which are not JSON.
    return json.dumps(value, default=_json_default, allow_nan=False,
                      separators=(",", ":")).encode("ascii")


def _mapping_json(value: Any, what: str) -> bytes:
    return _to_json(_fields(value, what))


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
    """busy_timeout in whole milliseconds, rounded up: any wait longer than
    0 stays a wait. A float counts as the decimal it prints as, so 0.1 s is
    100 ms, not 101."""
    if isinstance(value, datetime.timedelta):
        if value < datetime.timedelta(0):
            raise ValueError(
                f"busy_timeout must be 0 seconds or more, not {value!r}")
        milliseconds = -(-value // datetime.timedelta(milliseconds=1))
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, numbers.Rational):  # int, Fraction: exact
            seconds = fractions.Fraction(value)
        else:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(
                    f"busy_timeout must be 0 seconds or more, not {value!r}")
            seconds = fractions.Fraction(decimal.Decimal(repr(number)))
        if seconds < 0:
            raise ValueError(
                f"busy_timeout must be 0 seconds or more, not {value!r}")
        milliseconds = math.ceil(seconds * 1000)
    else:
        raise TypeError("busy_timeout must be a number of seconds, not "
                        f"{type(value).__name__}")
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


# ---- Log parts, deletions, changes ------------------------------------


@dataclasses.dataclass(frozen=True)
class LogChunk:
    """The part of one log that ``read_log`` read: the bytes from ``offset``
    up to ``next_offset``, where the next read continues.

    ``text`` holds them as text (``None`` with ``binary=True``), bytes that
    are not UTF-8 replaced with U+FFFD and ``invalid_utf8`` set; ``data``
    holds the exact bytes with ``binary=True`` (``None`` otherwise).
    ``size`` is the file's size when it was opened, ``eof`` whether the
    read reached it, ``restarted`` whether the file was shorter than the
    offset asked for, so the read started again from 0.
    """

    self_id: str
    stream: str
    path: str
    size: int
    offset: int
    next_offset: int
    eof: bool
    restarted: bool
    text: Optional[str]
    data: Optional[bytes]
    invalid_utf8: bool

    @classmethod
    def _from_object(cls, obj: dict) -> "LogChunk":
        encoded = obj.get("base64")
        return cls(
            self_id=obj["self_id"], stream=obj["stream"], path=obj["path"],
            size=obj["size"], offset=obj["offset"],
            next_offset=obj["next_offset"], eof=bool(obj["eof"]),
            restarted=bool(obj["restarted"]), text=obj.get("text"),
            data=None if encoded is None else base64.b64decode(encoded),
            invalid_utf8=bool(obj["invalid_utf8"]),
        )


@dataclasses.dataclass(frozen=True)
class Deletion:
    """What ``delete`` did or, with ``dry_run``, would do.

    ``deleted``: the ``self_id``s, newest first. ``logs_removed``: the log
    files removed (would be). ``logs_kept``: log files of deleted jobs left
    in place because a job that stays names them too. ``log_errors``: each
    log file that could not be removed, mapped to its error; those jobs
    stay deleted.
    """

    dry_run: bool
    deleted: list
    logs_removed: list
    logs_kept: list
    log_errors: dict


class Change(NamedTuple):
    """One changed job in ``Changes``: ``(self_id, record)``, ``record``
    ``None`` when the job was deleted."""

    self_id: str
    record: Optional[dict]

    @property
    def deleted(self) -> bool:
        """Whether the job was deleted (``record`` is ``None``)."""
        return self.record is None


@dataclasses.dataclass(frozen=True)
class Changes:
    """What ``changes`` returned: ``changes``, a list of ``Change``
    ``(self_id, record)`` pairs in the order of each job's latest change;
    ``next_cursor``, to pass next time; ``more``, whether ``limit`` cut the
    reply. It iterates over its changes and has their number as ``len``.
    """

    changes: list
    next_cursor: str
    more: bool

    def __iter__(self):
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)


# ---- The database -----------------------------------------------------


class JobDB:
    """An open jobdb database: ``<db_path>/jobs.db``.

    ``db_path`` is the folder holding ``jobs.db`` (str, bytes or path-like);
    the folder, file and table are created when missing. Options:

    - ``busy_timeout``: seconds (a float, or a ``timedelta``) a call waits
      for another connection's lock before ``BusyError``, rounded up to a
      whole millisecond (only 0 means not to wait); jobdb's default is
      10 s;
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

    def _call(self, function, *arguments: Optional[bytes]) -> Any:
        """Runs `function(handle, *arguments, &out)` on the open handle and
        returns the parsed result; raises the error it reported."""
        with self._state:
            if self._handle is None:
                raise InvalidArgumentError(
                    f"the JobDB on {self.db_path!r} is closed")
            handle = self._handle
            self._active += 1
        out = ctypes.c_void_p()
        try:
            code = function(handle, *arguments, ctypes.byref(out))
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

    def update_status(self, job: Mapping, *,
                      only_if: Optional[Mapping] = None) -> dict:
        """Creates or updates one job, atomically; returns the stored record.

        ``job`` has ``self_id`` and any other record fields: those given
        overwrite, those left out are kept, ``None`` clears. ``status`` is
        required for a new job; ``last_update`` defaults to now.

        ``only_if`` is a filter (as for ``list_status``) that the job's
        current record must match for the update to happen, checked and
        written in one transaction: ``only_if={"status": "starting"}``
        marks a job running only if no other process moved it on. When it
        does not match, nothing is written and ``ConflictError`` is raised,
        its ``.current`` the record as it stands. With ``only_if`` (even
        ``{}``) a job is never created: an unknown ``self_id`` raises
        ``NotFoundError``.
        """
        job_json = _mapping_json(job, "job")
        if only_if is None:
            return _record(self._call(self._lib.jobdb_update_status, job_json))
        return _record(self._call(self._lib.jobdb_update_status_if, job_json,
                                  _mapping_json(only_if, "only_if")))

    def update_many(self, jobs: Iterable) -> list:
        """Creates or updates several jobs in one transaction: all or none.

        ``jobs`` is an iterable of records, each as for ``update_status``,
        applied in order (a later record for the same ``self_id`` sees the
        earlier one). Returns the stored records, in the same order. When
        one is refused nothing is written, and the error's ``.index`` is
        its position, from 0.
        """
        if isinstance(jobs, (Mapping, str, bytes)) or not isinstance(jobs, Iterable):
            raise TypeError("jobs must be a list of dicts, not "
                            f"{type(jobs).__name__}")
        batch = [_fields(job, "job", index) for index, job in enumerate(jobs)]
        reply = self._call(self._lib.jobdb_update_many, _to_json(batch))
        return [_record(record) for record in reply["jobs"]]

    def delete(self, filter: Mapping, *, keep_newest: int = 0,
               dry_run: bool = False, remove_logs: bool = False) -> "Deletion":
        """Deletes the jobs matching ``filter``, in one transaction.

        ``filter`` is required, as for ``list_status``; ``{}`` deletes every
        job. ``keep_newest`` spares that many of the matching jobs with the
        latest ``last_update``. ``remove_logs`` then removes the two log
        files of each deleted job (no other file), except those a job that
        stays also names. ``dry_run`` deletes and removes nothing and says
        what would go. Returns a ``Deletion``; a log file that cannot be
        removed is in its ``log_errors``, and does not raise.
        """
        if filter is None:
            raise TypeError("delete needs a filter; pass {} to delete every job")
        request = {"filter": _fields(filter, "filter"),
                   "keep_newest": keep_newest, "dry_run": dry_run,
                   "remove_logs": remove_logs}
        reply = self._call(self._lib.jobdb_delete, _to_json(request))
        return Deletion(
            dry_run=reply["dry_run"],
            deleted=reply["deleted"],
            logs_removed=reply["logs_removed"],
            logs_kept=reply["logs_kept"],
            log_errors={item["path"]: _error_from_object(item["error"], 0)
                        for item in reply["log_errors"]},
        )

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
            query["filter"] = _fields(filter, "filter")
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

    def read_log(self, self_id: str, stream: str = "stdout", *,
                 offset: Optional[int] = None,
                 tail_bytes: Optional[int] = None,
                 tail_lines: Optional[int] = None,
                 max_bytes: Optional[int] = None,
                 binary: bool = False) -> "LogChunk":
        """Part of one log of a job (``stream`` ``"stdout"`` or
        ``"stderr"``), in time and memory that do not grow with the file.

        Give at most one of ``offset`` (the default, from 0),
        ``tail_bytes`` and ``tail_lines``. At most ``max_bytes`` come back
        (jobdb's default 1 MiB, at most 16 MiB); a tail of lines longer
        than that is cut to its last ``max_bytes``. Returns a ``LogChunk``:
        ``.text`` (bytes that are not UTF-8 replaced with U+FFFD), or with
        ``binary=True`` ``.data``, the exact bytes. Pass its
        ``.next_offset`` as ``offset`` to continue; a file now shorter than
        ``offset`` (rotated, truncated) is read from 0 and ``.restarted``
        is set.

        Raises ``NotFoundError`` for an unknown job or a missing file,
        ``NoLogsError`` for a record without ``logdir`` or ``logfile``,
        ``JobIOError`` for a file that is not a regular file or cannot be
        read, and ``SchemaError`` for a bad argument (``field`` names it).
        """
        if not isinstance(self_id, str):
            raise TypeError(f"self_id must be a str, not {type(self_id).__name__}")
        request = {"self_id": self_id, "stream": stream,
                   "encoding": "base64" if binary else "text"}
        for key, value in (("offset", offset), ("tail_bytes", tail_bytes),
                           ("tail_lines", tail_lines), ("max_bytes", max_bytes)):
            if value is not None:
                request[key] = value
        return LogChunk._from_object(
            self._call(self._lib.jobdb_read_log, _to_json(request)))

    def tail(self, self_id: str, lines: int = 10, stream: str = "stdout", *,
             max_bytes: Optional[int] = None) -> str:
        """The last ``lines`` lines of a job's log, as text (a newline that
        ends the file ends the last line). At most ``max_bytes`` (1 MiB by
        default) come back. Raises as ``read_log`` does."""
        return self.read_log(self_id, stream, tail_lines=lines,
                             max_bytes=max_bytes).text

    def follow_log(self, self_id: str, stream: str = "stdout", *,
                   offset: int = 0, poll_interval: float = 0.5,
                   max_bytes: Optional[int] = None, binary: bool = False,
                   stop=None):
        """Follows a growing log, as ``tail -f`` does: a generator of
        ``LogChunk``s, each the bytes written since the one before.

        It starts at ``offset``, reads until the end, then checks again
        every ``poll_interval`` seconds. A chunk whose ``.restarted`` is set
        starts again from 0 after the file was truncated or rotated (an
        empty one may say just that). It runs until the caller stops
        iterating or, when ``stop`` is given, once ``stop()`` returns true
        at the end of the log and what was written meanwhile is read::

            done = lambda: db.get_status("build")["status"] != "running"
            for chunk in db.follow_log("build", stop=done):
                print(chunk.text, end="")

        The first read is made at once, so a bad argument, an unknown job or
        a missing file raises here; later ones raise at ``next()``. As text,
        a character that a read cuts in two comes back as U+FFFD; for exact
        text, follow with ``binary=True`` and decode ``.data`` with
        ``codecs.getincrementaldecoder("utf-8")()``.
        """
        if not isinstance(poll_interval, numbers.Real) or isinstance(poll_interval, bool):
            raise TypeError("poll_interval must be a number of seconds, not "
                            f"{type(poll_interval).__name__}")
        if not poll_interval >= 0:  # NaN too
            raise ValueError(
                f"poll_interval must be 0 seconds or more, not {poll_interval!r}")

        def read(at):
            return self.read_log(self_id, stream, offset=at,
                                 max_bytes=max_bytes, binary=binary)

        def chunks(chunk):
            stopping = False
            while True:
                if chunk.next_offset > chunk.offset or chunk.restarted:
                    yield chunk
                if chunk.eof:
                    if stopping:
                        return
                    if stop is not None and stop():
                        stopping = True  # one more read for the last bytes
                    else:
                        time.sleep(poll_interval)
                chunk = read(chunk.next_offset)

        return chunks(read(offset))

    def changes(self, cursor: Optional[str] = None, *,
                limit: Optional[int] = None) -> "Changes":
        """The jobs that changed since ``cursor``, whoever wrote them (jobdb
        or nodejobs, any process), so that a monitor can poll cheaply.

        Without a cursor every job comes back. Each changed job appears
        once, in the order of its latest change, with its record as it is
        now, or ``None`` when it was deleted. Pass ``.next_cursor`` back
        next time, even when nothing changed; ``.more`` says ``limit``
        (1 to 100000, jobdb's default 1000) cut the reply. A cursor from
        another database, or text that is no cursor, raises ``SchemaError``
        with ``field == "cursor"``.
        """
        request = {}
        if cursor is not None:
            request["cursor"] = cursor
        if limit is not None:
            request["limit"] = limit
        reply = self._call(self._lib.jobdb_changes,
                           _to_json(request) if request else None)
        return Changes(
            changes=[Change(item["self_id"],
                            None if item["record"] is None
                            else _record(item["record"]))
                     for item in reply["changes"]],
            next_cursor=reply["next_cursor"],
            more=reply["more"],
        )

    def changes_cursor_now(self) -> str:
        """The cursor of the present: passed to :meth:`changes`, it returns
        only what changes from now on, without reading the past."""
        reply = self._call(self._lib.jobdb_changes, b'{"from_now": true}')
        return reply["next_cursor"]


def _loads_error(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
