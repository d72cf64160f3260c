package jobdb

/*
#include <stdlib.h>
#include <jobdb.h>
*/
import "C"

import (
	"bytes"
	"unsafe"
)

// UpdateStatusIf updates the job u.SelfID, as UpdateStatus does, only if
// its current record matches cond, and returns the record as stored: the
// way to say "mark it running only if it is still starting", so that a
// late writer cannot undo what another process recorded. The check and
// the write are one transaction.
//
// When the record does not match, nothing is written and the error
// matches ErrConflict; its Current is the record as it stands:
//
//	_, err := db.UpdateStatusIf(jobdb.Update{SelfID: "build", Status: "running"},
//		jobdb.Filter{Status: "starting"})
//	var e *jobdb.Error
//	if errors.As(err, &e) && e.Current != nil {
//		fmt.Println("build is", e.Current.Status, "already")
//	}
//
// A conditional update never creates a job: for an unknown SelfID the
// error matches ErrNotFound. The zero Filter only asks that the job
// exist.
func (db *DB) UpdateStatusIf(u Update, cond Filter) (Job, error) {
	record, err := u.MarshalJSON()
	if err != nil {
		return Job{}, err
	}
	condition, err := cond.MarshalJSON()
	if err != nil {
		return Job{}, err
	}
	crecord := C.CString(string(record)) // built by us: no NUL
	defer C.free(unsafe.Pointer(crecord))
	ccondition := C.CString(string(condition))
	defer C.free(unsafe.Pointer(ccondition))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_update_status_if(h, crecord, ccondition, out)
	})
	if err != nil {
		return Job{}, err
	}
	var job Job
	return job, decode(reply, &job)
}

// UpdateMany applies the updates in order, in one transaction, and
// returns the records as stored, in the same order: all of them are
// written, or none. A later update of the same SelfID sees the earlier
// one. When one update is refused, by this package or by jobdb, nothing
// is written and the error's Index is that update's position in us. An
// empty batch writes nothing and returns an empty slice.
func (db *DB) UpdateMany(us []Update) ([]Job, error) {
	var batch bytes.Buffer
	batch.WriteByte('[')
	for i, u := range us {
		record, err := u.MarshalJSON()
		if err != nil {
			return nil, atIndex(err, i)
		}
		if i > 0 {
			batch.WriteByte(',')
		}
		batch.Write(record)
	}
	batch.WriteByte(']')
	cbatch := C.CString(batch.String()) // built by us: no NUL
	defer C.free(unsafe.Pointer(cbatch))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_update_many(h, cbatch, out)
	})
	if err != nil {
		return nil, err
	}
	var w struct {
		Jobs []Job `json:"jobs"`
	}
	if err := decode(reply, &w); err != nil {
		return nil, err
	}
	return nonNil(w.Jobs), nil
}

// DeleteRequest says which jobs Delete deletes: those Filter matches,
// except the KeepNewest of them with the latest LastUpdate.
//
// A Filter that sets no condition matches every job. So that no one
// deletes every job by forgetting the Filter, Delete refuses such a
// Filter unless All is set, and refuses All with a Filter that has
// conditions (ErrSchema, Field "filter" in both cases).
type DeleteRequest struct {
	// Filter selects the jobs to delete, as for ListStatus.
	Filter Filter
	// All, with a Filter that sets no condition, deletes every job
	// (but the KeepNewest).
	All bool
	// KeepNewest spares that many of the matching jobs, those with the
	// latest LastUpdate. Negative is refused (ErrSchema).
	KeepNewest int
	// DryRun deletes and removes nothing; the Deletion says what would
	// go.
	DryRun bool
	// RemoveLogs also removes, after the deletion, the two log files of
	// each deleted job (Logdir/Logfile_out.txt and
	// Logdir/Logfile_errors.txt) and no other file, except those a job
	// that stays names too (the same Logdir and Logfile).
	RemoveLogs bool
}

// MarshalJSON writes the request as jobdb_delete takes it. It does not
// check Filter against All; Delete does.
func (d DeleteRequest) MarshalJSON() ([]byte, error) {
	filter, err := d.Filter.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var o object
	o.field("filter", builtJSON(filter))
	if d.KeepNewest != 0 {
		o.field("keep_newest", int64(d.KeepNewest))
	}
	if d.DryRun {
		o.field("dry_run", builtJSON("true"))
	}
	if d.RemoveLogs {
		o.field("remove_logs", builtJSON("true"))
	}
	return o.finish()
}

// Deletion is what Delete did or, for a dry run, would do.
type Deletion struct {
	// DryRun is the request's DryRun: true when nothing was changed.
	DryRun bool
	// Deleted are the self_ids of the deleted jobs, the latest
	// LastUpdate first.
	Deleted []string
	// LogsRemoved are the log files removed (for a dry run, the ones that
	// exist and would be). A log file that was already missing is not
	// listed.
	LogsRemoved []string
	// LogsKept are log files of deleted jobs left in place because a job
	// that stays names them too.
	LogsKept []string
	// LogErrors are the log files that could not be removed; the jobs
	// stay deleted all the same.
	LogErrors []LogError
}

// LogError is a log file that Delete could not remove.
type LogError struct {
	Path string
	// Err is an *Error, ErrIO.
	Err error
}

// Delete deletes the jobs that d selects, every stored row of each, in
// one transaction, and then, with RemoveLogs, their log files. See
// DeleteRequest, and its All for deleting every job. A log file that
// cannot be removed is reported in the Deletion's LogErrors, not as an
// error.
func (db *DB) Delete(d DeleteRequest) (Deletion, error) {
	request, err := d.MarshalJSON()
	if err != nil {
		return Deletion{}, err
	}
	filter, _ := d.Filter.MarshalJSON() // it worked just above
	switch everyJob := string(filter) == "{}"; {
	case everyJob && !d.All:
		return Deletion{}, newError(CodeSchema, "filter",
			"the filter sets no condition and would delete every job; set All to mean that")
	case !everyJob && d.All:
		return Deletion{}, newError(CodeSchema, "filter",
			"All deletes every job, but the filter sets conditions; give one or the other")
	}
	crequest := C.CString(string(request)) // built by us: no NUL
	defer C.free(unsafe.Pointer(crequest))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_delete(h, crequest, out)
	})
	if err != nil {
		return Deletion{}, err
	}
	var w struct {
		DryRun      bool     `json:"dry_run"`
		Deleted     []string `json:"deleted"`
		LogsRemoved []string `json:"logs_removed"`
		LogsKept    []string `json:"logs_kept"`
		LogErrors   []struct {
			Path  string    `json:"path"`
			Error wireError `json:"error"`
		} `json:"log_errors"`
	}
	if err := decode(reply, &w); err != nil {
		return Deletion{}, err
	}
	del := Deletion{
		DryRun:      w.DryRun,
		Deleted:     nonNil(w.Deleted),
		LogsRemoved: nonNil(w.LogsRemoved),
		LogsKept:    nonNil(w.LogsKept),
		LogErrors:   make([]LogError, len(w.LogErrors)),
	}
	for i, e := range w.LogErrors {
		del.LogErrors[i] = LogError{Path: e.Path, Err: e.Error.toError()}
	}
	return del, nil
}

// nonNil returns s, or an empty slice for nil.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
