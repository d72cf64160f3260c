"""A minimal ctypes binding to libjobdb, for the nodejobs compatibility tests.

The library is the one named by the JOBDB_LIBRARY environment variable
(`make test-compat` sets it to target/release/libjobdb.so). Every string a
jobdb function hands back through `char **out_json` belongs to the caller:
it is received as a raw pointer (c_void_p, never c_char_p, which would copy
the text and lose the pointer, leaking it), read with ctypes.string_at and
then freed with jobdb_string_free.
"""

import ctypes
import json
import os

import pytest

JOBDB_OK = 0
JOBDB_ERR_INVALID_ARGUMENT = 1
JOBDB_ERR_MALFORMED_JSON = 2
JOBDB_ERR_SCHEMA = 3
JOBDB_ERR_NOT_FOUND = 4
JOBDB_ERR_NO_LOGS = 9

_OUT = ctypes.POINTER(ctypes.c_void_p)


def _load_library():
    path = os.environ.get("JOBDB_LIBRARY")
    if not path:
        raise pytest.UsageError(
            "JOBDB_LIBRARY is not set: run these tests with `make test-compat`, "
            "or set it to the path of libjobdb.so"
        )
    if not os.path.isfile(path):
        raise pytest.UsageError(f"JOBDB_LIBRARY={path} does not exist; build it first")
    lib = ctypes.CDLL(path)

    # Static strings, owned by the library and never freed: c_char_p is
    # right for these two only.
    lib.jobdb_version.argtypes = []
    lib.jobdb_version.restype = ctypes.c_char_p
    lib.jobdb_code_name.argtypes = [ctypes.c_int]
    lib.jobdb_code_name.restype = ctypes.c_char_p

    lib.jobdb_open.argtypes = [ctypes.c_char_p, _OUT, _OUT]
    lib.jobdb_open.restype = ctypes.c_int
    lib.jobdb_open_with_options.argtypes = [ctypes.c_char_p, ctypes.c_char_p, _OUT, _OUT]
    lib.jobdb_open_with_options.restype = ctypes.c_int
    lib.jobdb_close.argtypes = [ctypes.c_void_p]
    lib.jobdb_close.restype = None

    for name in ("jobdb_update_status", "jobdb_get_status", "jobdb_list_status", "jobdb_job_logs"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _OUT]
        fn.restype = ctypes.c_int

    lib.jobdb_string_free.argtypes = [ctypes.c_void_p]
    lib.jobdb_string_free.restype = None
    return lib


LIB = None


def library():
    """The loaded library, loaded on first use."""
    global LIB
    if LIB is None:
        LIB = _load_library()
    return LIB


def take_string(ptr):
    """Reads a string jobdb returned and frees it. None for NULL."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        library().jobdb_string_free(ptr.value)


def _arg(value):
    """A C string argument: str as UTF-8, dict/list as JSON text, None as NULL."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return value.encode("utf-8")


class JobDbError(AssertionError):
    def __init__(self, fn, code, error):
        super().__init__(f"{fn} returned {code}: {error}")
        self.code = code
        self.error = error


class JobDb:
    """An open jobdb handle on one folder."""

    def __init__(self, folder, options=None):
        self.folder = str(folder)
        lib = library()
        handle = ctypes.c_void_p()
        error = ctypes.c_void_p()
        code = lib.jobdb_open_with_options(
            _arg(self.folder), _arg(options), ctypes.byref(handle), ctypes.byref(error)
        )
        text = take_string(error)
        if code != JOBDB_OK:
            raise JobDbError("jobdb_open_with_options", code, text)
        assert text is None, text
        assert handle.value, "jobdb_open returned OK with a NULL handle"
        self.handle = handle

    def close(self):
        if self.handle is not None:
            library().jobdb_close(self.handle)
            self.handle = None

    def call(self, fn, *args):
        """Calls `jobdb_<fn>(handle, *args, &out_json)`; returns (code, parsed out_json)."""
        name = fn if fn.startswith("jobdb_") else "jobdb_" + fn
        out = ctypes.c_void_p()
        code = getattr(library(), name)(self.handle, *map(_arg, args), ctypes.byref(out))
        text = take_string(out)
        return code, (None if text is None else json.loads(text))

    def _ok(self, fn, *args):
        code, result = self.call(fn, *args)
        if code != JOBDB_OK:
            raise JobDbError(fn, code, result)
        return result

    # The calls, expected to succeed; each returns the parsed result.
    def update(self, job):
        return self._ok("update_status", job)

    def get(self, self_id):
        return self._ok("get_status", self_id)

    def list(self, filter=None):
        return self._ok("list_status", filter)

    def logs(self, self_id):
        return self._ok("job_logs", self_id)


@pytest.fixture
def folder(tmp_path):
    """The database folder: jobs.db lives in it, for jobdb and nodejobs alike."""
    return tmp_path


@pytest.fixture
def open_jobdb():
    """Opens jobdb handles on folders; every one is closed at teardown."""
    handles = []

    def open_(folder, options=None):
        db = JobDb(folder, options)
        handles.append(db)
        return db

    yield open_
    for db in handles:
        db.close()


@pytest.fixture
def jobdb(open_jobdb, folder):
    """A jobdb handle opened on `folder` (which creates jobs.db)."""
    return open_jobdb(folder)


@pytest.fixture
def call(jobdb):
    """`call(fn, *args) -> (code, parsed_json)` on the `jobdb` handle."""
    return jobdb.call
