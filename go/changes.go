package jobdb

/*
#include <stdlib.h>
#include <jobdb.h>
*/
import "C"

import (
	"unsafe"
)

// DefaultChangesLimit is how many changes Changes returns at most when
// its limit is 0.
const DefaultChangesLimit = 1000

// Change is one job that changed: its record as it is now, or nil Job
// when it was deleted.
type Change struct {
	SelfID string
	// Job is the job's record now; nil when the job was deleted.
	Job *Job
}

// ChangeSet is one reply of Changes.
type ChangeSet struct {
	// Changes are the jobs that changed after the cursor, each once, in
	// the order of each job's latest change; empty, not nil, when none.
	Changes []Change
	// NextCursor is the cursor to pass to the next call, even when
	// nothing changed.
	NextCursor string
	// More is true when the limit cut the reply: call again with
	// NextCursor at once for the rest.
	More bool
}

// Changes returns the jobs that changed since cursor, so that a monitor
// can poll cheaply instead of listing every job. It sees every write to
// the database, by jobdb or by nodejobs, from any process.
//
// The empty cursor starts from the beginning: every job stored comes
// back, as a change. Pass the NextCursor of each reply to the next call.
// limit caps one reply, 1 to MaxLimit; 0 means DefaultChangesLimit. A
// cursor from another database, or text that is no cursor, is refused
// (ErrSchema, Field "cursor").
//
//	cursor := ""
//	for {
//		set, err := db.Changes(cursor, 0)
//		if err != nil {
//			return err
//		}
//		for _, c := range set.Changes {
//			if c.Job == nil {
//				fmt.Println(c.SelfID, "deleted")
//			} else {
//				fmt.Println(c.SelfID, c.Job.Status)
//			}
//		}
//		cursor = set.NextCursor
//		if !set.More {
//			time.Sleep(time.Second)
//		}
//	}
func (db *DB) Changes(cursor string, limit int) (ChangeSet, error) {
	var o object
	if cursor != "" {
		o.field("cursor", cursor)
	}
	if limit != 0 {
		o.field("limit", int64(limit))
	}
	request, err := o.finish()
	if err != nil {
		return ChangeSet{}, err
	}
	crequest := C.CString(string(request)) // built by us: no NUL
	defer C.free(unsafe.Pointer(crequest))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_changes(h, crequest, out)
	})
	if err != nil {
		return ChangeSet{}, err
	}
	var w struct {
		Changes []struct {
			SelfID string `json:"self_id"`
			Record *Job   `json:"record"`
		} `json:"changes"`
		NextCursor string `json:"next_cursor"`
		More       bool   `json:"more"`
	}
	if err := decode(reply, &w); err != nil {
		return ChangeSet{}, err
	}
	set := ChangeSet{
		Changes:    make([]Change, len(w.Changes)),
		NextCursor: w.NextCursor,
		More:       w.More,
	}
	for i, c := range w.Changes {
		set.Changes[i] = Change{SelfID: c.SelfID, Job: c.Record}
	}
	return set, nil
}

// ChangesCursorNow returns the cursor of the present: passed to Changes,
// it returns only what changes from now on, without reading the past.
func (db *DB) ChangesCursorNow() (string, error) {
	request := C.CString(`{"from_now":true}`)
	defer C.free(unsafe.Pointer(request))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_changes(h, request, out)
	})
	if err != nil {
		return "", err
	}
	var w struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := decode(reply, &w); err != nil {
		return "", err
	}
	return w.NextCursor, nil
}
