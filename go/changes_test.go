package jobdb

import (
	"fmt"
	"strings"
	"testing"
)

func mustChanges(t *testing.T, db *DB, cursor string, limit int) ChangeSet {
	t.Helper()
	set, err := db.Changes(cursor, limit)
	if err != nil {
		t.Fatalf("Changes(%q, %d): %v", cursor, limit, err)
	}
	if set.NextCursor == "" {
		t.Fatalf("Changes(%q, %d) gave no next cursor", cursor, limit)
	}
	return set
}

// changed describes a ChangeSet as "id:status id:deleted ...".
func changed(set ChangeSet) string {
	out := make([]string, len(set.Changes))
	for i, c := range set.Changes {
		if c.Job == nil {
			out[i] = c.SelfID + ":deleted"
		} else {
			if c.Job.SelfID != c.SelfID {
				return fmt.Sprintf("change %q holds job %q", c.SelfID, c.Job.SelfID)
			}
			out[i] = c.SelfID + ":" + c.Job.Status
		}
	}
	if set.More {
		out = append(out, "(more)")
	}
	return strings.Join(out, " ")
}

func TestChanges(t *testing.T) {
	db, dir := openTemp(t)

	// An empty database: nothing, and a cursor all the same.
	set := mustChanges(t, db, "", 0)
	if set.Changes == nil || len(set.Changes) != 0 || set.More {
		t.Errorf("changes of an empty database = %#v", set)
	}
	start := set.NextCursor

	mustUpdate(t, db, Update{SelfID: "a", Status: "starting"})
	mustUpdate(t, db, Update{SelfID: "b", Status: "running"})
	mustUpdate(t, db, Update{SelfID: "c", Status: "running"})
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"}) // a's latest change is now the last

	// From the beginning, and from the empty database's cursor: the same.
	if got := changed(mustChanges(t, db, "", 0)); got != "b:running c:running a:running" {
		t.Errorf("from the beginning: %s", got)
	}
	set = mustChanges(t, db, start, 0)
	if got := changed(set); got != "b:running c:running a:running" {
		t.Errorf("from the start cursor: %s", got)
	}
	cursor := set.NextCursor

	// Nothing since: empty, and the cursor still works.
	set = mustChanges(t, db, cursor, 0)
	if got := changed(set); got != "" {
		t.Errorf("no change: %s", got)
	}
	cursor = set.NextCursor

	// An update, a deletion and a new job, read two at a time.
	mustUpdate(t, db, Update{SelfID: "c", Status: "finished"})
	if _, err := db.Delete(DeleteRequest{Filter: Filter{SelfID: "b"}}); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "d", Status: "starting"})
	set = mustChanges(t, db, cursor, 2)
	if got := changed(set); got != "c:finished b:deleted (more)" {
		t.Errorf("first two: %s", got)
	}
	set = mustChanges(t, db, set.NextCursor, 2)
	if got := changed(set); got != "d:starting" {
		t.Errorf("the rest: %s", got)
	}

	// A failed write is no change; a batch is.
	_, _ = db.UpdateStatusIf(Update{SelfID: "a", Status: "x"}, Filter{Status: "starting"})
	_, _ = db.UpdateMany([]Update{{SelfID: "a", Status: "y"}, {SelfID: "new"}})
	if _, err := db.UpdateMany([]Update{{SelfID: "d", Status: "running"}, {SelfID: "e", Status: "running"}}); err != nil {
		t.Fatal(err)
	}
	set = mustChanges(t, db, set.NextCursor, 0)
	if got := changed(set); got != "d:running e:running" {
		t.Errorf("after a conflict, a refused batch and a batch: %s", got)
	}

	// Another program's write, straight into the table.
	sqlite(t, dir, `INSERT INTO process_status (_id, value) VALUES ('x', '{"self_id": "x", "status": "stopped", "last_update": "2024-05-01T12:00:00.000000"}')`)
	if got := changed(mustChanges(t, db, set.NextCursor, 0)); got != "x:stopped" {
		t.Errorf("a write by another program: %s", got)
	}
}

func TestChangesErrors(t *testing.T) {
	db, dir := openTemp(t)
	other, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})
	mustUpdate(t, db, Update{SelfID: "b", Status: "running"})
	mustUpdate(t, other, Update{SelfID: "a", Status: "running"})

	foreign := mustChanges(t, other, "", 0).NextCursor
	_, err := db.Changes(foreign, 0)
	if e := wantErr(t, err, ErrSchema, "cursor"); !strings.Contains(e.Message, "another database") {
		t.Errorf("a foreign cursor: %v", e)
	}
	// The same database through another handle takes it.
	mine := mustChanges(t, db, "", 0).NextCursor
	if same, err := Open(dir); err != nil {
		t.Fatal(err)
	} else {
		defer same.Close()
		if _, err := same.Changes(mine, 0); err != nil {
			t.Errorf("a cursor through another handle: %v", err)
		}
	}

	// A query's cursor is no feed cursor.
	page, err := db.Query(Query{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("Query: %+v, %v", page, err)
	}
	for _, cursor := range []string{page.NextCursor, mine + "x", "not a cursor", "e30", "bad \x00"} {
		_, err := db.Changes(cursor, 0)
		wantErr(t, err, ErrSchema, "cursor")
	}
	_, err = db.Changes("bad \xff", 0)
	wantErr(t, err, ErrInvalidArgument, "cursor")
	for _, limit := range []int{-1, MaxLimit + 1} {
		_, err := db.Changes("", limit)
		wantErr(t, err, ErrSchema, "limit")
	}
	if set, err := db.Changes("", MaxLimit); err != nil || len(set.Changes) != 2 {
		t.Errorf("Changes with MaxLimit: %+v, %v", set, err)
	}
}

func TestChangesCursorNowSkipsThePast(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "old", Status: "finished"})
	now, err := db.ChangesCursorNow()
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "new", Status: "running"})
	set, err := db.Changes(now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Changes) != 1 || set.Changes[0].SelfID != "new" {
		t.Fatalf("changes after now = %+v, want only new", set.Changes)
	}
}
