package jobdb

/*
#cgo pkg-config: jobdb
#include <stdlib.h>
#include <string.h>
#include <jobdb.h>
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Values of Options.Synchronous.
const (
	// SyncNormal keeps every update that returned when the process is
	// killed; a power loss may lose the last ones. jobdb's default.
	SyncNormal = "normal"
	// SyncFull also keeps them through a power loss, at several times
	// the cost per write.
	SyncFull = "full"
)

// Options tunes how a database is opened. The zero value means jobdb's
// defaults; only the fields that are set are passed to jobdb.
type Options struct {
	// BusyTimeout is how long a call waits for another connection's lock
	// before failing with ErrBusy. Zero means jobdb's default (10 s); a
	// negative value means not to wait at all. It is rounded up to whole
	// milliseconds; jobdb refuses more than 2147483647 ms (ErrSchema).
	BusyTimeout time.Duration
	// Synchronous is SyncNormal or SyncFull; empty means jobdb's default,
	// SyncNormal. Any other value is refused (ErrSchema).
	Synchronous string
}

// MarshalJSON writes the options as jobdb_open_with_options takes them.
func (o Options) MarshalJSON() ([]byte, error) {
	var obj object
	if o.BusyTimeout != 0 {
		millis := int64(0)
		if o.BusyTimeout > 0 {
			millis = int64((o.BusyTimeout + time.Millisecond - 1) / time.Millisecond)
		}
		obj.field("busy_timeout_ms", millis)
	}
	if o.Synchronous != "" {
		obj.field("synchronous", o.Synchronous)
	}
	return obj.finish()
}

// DB is an open jobdb database: the file jobs.db in a folder. It is safe
// for concurrent use by several goroutines; the library runs its calls one
// at a time. Close it when done.
type DB struct {
	// mu guards handle: calls hold it for reading, Close for writing, so
	// that Close never runs while a call is using the handle.
	mu     sync.RWMutex
	handle *C.JobDb
}

// Version returns the jobdb library's version, such as "0.1.0".
func Version() string {
	return C.GoString(C.jobdb_version())
}

// libraryCodeName asks the library for a code's name (tests compare it
// with CodeName).
func libraryCodeName(code int) string {
	return C.GoString(C.jobdb_code_name(C.int(code)))
}

// Open opens the database in folder dir, the file dir/jobs.db, with the
// default options. The folder, the file and the table are created when
// missing. A relative dir is resolved against the working directory.
func Open(dir string) (*DB, error) {
	return OpenWithOptions(dir, Options{})
}

// OpenWithOptions opens the database in folder dir, as Open does, with
// the given options.
func OpenWithOptions(dir string, opts Options) (*DB, error) {
	cdir, err := cString("dir", dir)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cdir))

	var coptions *C.char
	if opts != (Options{}) {
		text, err := opts.MarshalJSON()
		if err != nil {
			return nil, err
		}
		coptions = C.CString(string(text))
		defer C.free(unsafe.Pointer(coptions))
	}

	var handle *C.JobDb
	var cerror *C.char
	code := int(C.jobdb_open_with_options(cdir, coptions, &handle, &cerror))
	defer C.jobdb_string_free(cerror)
	if code != CodeOK {
		return nil, parseError(code, goBytes(cerror))
	}
	if handle == nil {
		return nil, newError(CodeInternal, "", "jobdb_open_with_options succeeded without a handle")
	}

	db := &DB{handle: handle}
	// A safety net for a DB that is dropped without Close.
	runtime.SetFinalizer(db, (*DB).Close)
	return db, nil
}

// Close closes the database. It waits for calls in progress on other
// goroutines to return; calls made after it fail with an error matching
// ErrClosed. Closing a closed DB does nothing. It always returns nil.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.handle != nil {
		C.jobdb_close(db.handle)
		db.handle = nil
		runtime.SetFinalizer(db, nil)
	}
	return nil
}

// UpdateStatus creates or updates one job, atomically, and returns the
// record as stored. Fields the update leaves out keep their stored value;
// see Update.
func (db *DB) UpdateStatus(u Update) (Job, error) {
	record, err := u.MarshalJSON()
	if err != nil {
		return Job{}, err
	}
	return db.UpdateStatusJSON(record)
}

// UpdateStatusJSON is UpdateStatus for a record already in JSON, as
// jobdb_update_status takes it: an object with "self_id" and any of the
// other record fields, null clearing a field. It is an escape hatch for
// records built elsewhere; jobdb reports JSON that does not parse as
// ErrMalformedJSON and unknown fields as ErrSchema.
func (db *DB) UpdateStatusJSON(record []byte) (Job, error) {
	crecord, err := cString("record", string(record))
	if err != nil {
		return Job{}, err
	}
	defer C.free(unsafe.Pointer(crecord))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_update_status(h, crecord, out)
	})
	if err != nil {
		return Job{}, err
	}
	var job Job
	return job, decode(reply, &job)
}

// GetStatus returns the record of the job selfID, or an error matching
// ErrNotFound when there is none (ErrInvalidArgument for an empty
// selfID).
func (db *DB) GetStatus(selfID string) (Job, error) {
	cid, err := cString("self_id", selfID)
	if err != nil {
		return Job{}, err
	}
	defer C.free(unsafe.Pointer(cid))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_get_status(h, cid, out)
	})
	if err != nil {
		return Job{}, err
	}
	var job Job
	return job, decode(reply, &job)
}

// ListStatus returns the jobs that match the filter, by self_id; an empty
// map when none does. The zero Filter lists every job.
func (db *DB) ListStatus(filter Filter) (map[string]Job, error) {
	text, err := filter.MarshalJSON()
	if err != nil {
		return nil, err
	}
	cfilter := C.CString(string(text)) // built by us: no NUL
	defer C.free(unsafe.Pointer(cfilter))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_list_status(h, cfilter, out)
	})
	if err != nil {
		return nil, err
	}
	jobs := make(map[string]Job)
	return jobs, decode(reply, &jobs)
}

// Query returns one page of the jobs q matches, in q's order, and the
// cursor of the next page ("" on the last page). See Query, and Iterate to
// walk through every page.
func (db *DB) Query(q Query) (Page, error) {
	text, err := q.MarshalJSON()
	if err != nil {
		return Page{}, err
	}
	cquery := C.CString(string(text)) // built by us: no NUL
	defer C.free(unsafe.Pointer(cquery))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_query(h, cquery, out)
	})
	if err != nil {
		return Page{}, err
	}
	var w wirePage
	if err := decode(reply, &w); err != nil {
		return Page{}, err
	}
	page := Page{Jobs: w.Jobs}
	if page.Jobs == nil {
		page.Jobs = []Job{}
	}
	if w.NextCursor != nil {
		page.NextCursor = *w.NextCursor
	}
	return page, nil
}

// Count returns how many jobs match the filter, without reading them.
func (db *DB) Count(filter Filter) (int64, error) {
	text, err := filter.MarshalJSON()
	if err != nil {
		return 0, err
	}
	cfilter := C.CString(string(text)) // built by us: no NUL
	defer C.free(unsafe.Pointer(cfilter))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_count(h, cfilter, out)
	})
	if err != nil {
		return 0, err
	}
	var w struct {
		Count *int64 `json:"count"`
	}
	if err := decode(reply, &w); err != nil {
		return 0, err
	}
	if w.Count == nil {
		return 0, newError(CodeInternal, "", "jobdb_count's reply has no count: "+strconv.Quote(truncate(reply)))
	}
	return *w.Count, nil
}

// JobLogs reads the stdout and stderr logs of the job selfID. It fails
// with ErrNotFound when there is no such job and ErrNoLogs when its
// record has no Logdir or no Logfile; a log file that cannot be read is
// reported in that Log's Err, beside the other.
func (db *DB) JobLogs(selfID string) (Logs, error) {
	cid, err := cString("self_id", selfID)
	if err != nil {
		return Logs{}, err
	}
	defer C.free(unsafe.Pointer(cid))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_job_logs(h, cid, out)
	})
	if err != nil {
		return Logs{}, err
	}
	var w wireLogs
	if err := decode(reply, &w); err != nil {
		return Logs{}, err
	}
	return Logs{SelfID: w.SelfID, Stdout: w.Stdout.toLog(), Stderr: w.Stderr.toLog()}, nil
}

// call runs one jobdb function that answers through char **out_json,
// with the handle held open, and returns a copy of the answer after
// freeing jobdb's string. A failure comes back as an *Error.
func (db *DB) call(fn func(h *C.JobDb, out **C.char) C.int) ([]byte, error) {
	if db == nil {
		return nil, errClosed()
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.handle == nil {
		return nil, errClosed()
	}

	var out *C.char
	code := int(fn(db.handle, &out))
	defer C.jobdb_string_free(out)
	reply := goBytes(out)
	if code != CodeOK {
		return nil, parseError(code, reply)
	}
	if out == nil {
		return nil, newError(CodeInternal, "", "jobdb succeeded without a result")
	}
	return reply, nil
}

// goBytes copies a NUL-terminated C string into Go memory; nil for NULL.
func goBytes(s *C.char) []byte {
	if s == nil {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(s), C.int(C.strlen(s)))
}

// cString copies s into C memory, which the caller frees with C.free. A
// NUL byte would cut the string short in C, so it is refused.
func cString(what, s string) (*C.char, error) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, newError(CodeInvalidArgument, "",
			fmt.Sprintf("%s contains a NUL byte at offset %d", what, i))
	}
	return C.CString(s), nil
}

// decode reads a successful reply. jobdb's replies always decode, so a
// failure here is a bug, reported as ErrInternal.
func decode(reply []byte, v any) error {
	if err := json.Unmarshal(reply, v); err != nil {
		return newError(CodeInternal, "", "cannot read jobdb's reply: "+err.Error()+": "+strconv.Quote(truncate(reply)))
	}
	return nil
}

func truncate(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
