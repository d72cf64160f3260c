package jobdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ---- UpdateStatusIf -------------------------------------------------------

func TestUpdateStatusIf(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "build", Status: "starting", LastPID: Set[int64](1)})

	// The condition holds: written, and the record comes back.
	job, err := db.UpdateStatusIf(Update{SelfID: "build", Status: "running"}, Filter{Status: "starting"})
	if err != nil {
		t.Fatalf("UpdateStatusIf: %v", err)
	}
	if job.Status != "running" || job.LastPID == nil || *job.LastPID != 1 {
		t.Errorf("updated record = %+v", job)
	}

	// It no longer holds: ErrConflict, with the record as it stands, and
	// nothing written.
	before := mustGet(t, db, "build")
	_, err = db.UpdateStatusIf(Update{SelfID: "build", Status: "running", LastPID: Set[int64](2)},
		Filter{Status: "starting"})
	e := wantErr(t, err, ErrConflict, "")
	if e.Current == nil {
		t.Fatalf("a conflict without the current record: %#v", e)
	}
	if !jobsEqual(*e.Current, before) {
		t.Errorf("Current = %+v, want %+v", *e.Current, before)
	}
	if e.Index != -1 {
		t.Errorf("a conflict has Index %d, want -1", e.Index)
	}
	if after := mustGet(t, db, "build"); !jobsEqual(after, before) {
		t.Errorf("a conflict wrote: %+v, was %+v", after, before)
	}
	// Through wrapping too.
	var found *Error
	if wrapped := fmt.Errorf("starting build: %w", err); !errors.Is(wrapped, ErrConflict) ||
		!errors.As(wrapped, &found) || found.Current == nil || found.Current.Status != "running" {
		t.Errorf("a wrapped conflict lost its record: %v", wrapped)
	}

	// Operators, on several fields.
	job, err = db.UpdateStatusIf(Update{SelfID: "build", Status: "stopping"},
		Filter{StatusIs: In("starting", "running"), LastPID: Lt[int64](10), ExitCode: Null[int64]()})
	if err != nil || job.Status != "stopping" {
		t.Fatalf("UpdateStatusIf with operators: %+v, %v", job, err)
	}
	_, err = db.UpdateStatusIf(Update{SelfID: "build", Status: "x"}, Filter{LastPID: Gt[int64](1)})
	if e := wantErr(t, err, ErrConflict, ""); e.Current == nil || e.Current.Status != "stopping" {
		t.Errorf("conflict on last_pid: %#v", e)
	}

	// The zero Filter only asks that the job exist; a conditional update
	// never creates one.
	if job, err := db.UpdateStatusIf(Update{SelfID: "build", Status: "stopped"}, Filter{}); err != nil || job.Status != "stopped" {
		t.Errorf("UpdateStatusIf with the zero Filter: %+v, %v", job, err)
	}
	_, err = db.UpdateStatusIf(Update{SelfID: "nobody", Status: "running"}, Filter{})
	if e := wantErr(t, err, ErrNotFound, ""); e.Current != nil {
		t.Errorf("not found with a current record: %#v", e)
	}
	_, err = db.GetStatus("nobody")
	wantErr(t, err, ErrNotFound, "")

	// Bad updates and bad conditions.
	_, err = db.UpdateStatusIf(Update{Status: "running"}, Filter{})
	wantErr(t, err, ErrSchema, "self_id")
	_, err = db.UpdateStatusIf(Update{SelfID: "build"}, Filter{StatusIs: Null[string]()})
	wantErr(t, err, ErrSchema, "status")
	_, err = db.UpdateStatusIf(Update{SelfID: "build"}, Filter{Cwd: Set("bad \xff")})
	wantErr(t, err, ErrInvalidArgument, "cwd")
}

// ---- UpdateMany -----------------------------------------------------------

func TestUpdateMany(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "old", Status: "running", Cwd: Set("/srv")})

	jobs, err := db.UpdateMany([]Update{
		{SelfID: "a", Status: "starting", LastPID: Set[int64](1)},
		{SelfID: "old", Status: "finished"},
		{SelfID: "a", Status: "running"}, // sees the first
	})
	if err != nil {
		t.Fatalf("UpdateMany: %v", err)
	}
	if len(jobs) != 3 {
		t.Fatalf("%d records, want 3", len(jobs))
	}
	if jobs[0].SelfID != "a" || jobs[0].Status != "starting" ||
		jobs[1].SelfID != "old" || jobs[1].Status != "finished" || strp(jobs[1].Cwd) != "/srv" ||
		jobs[2].SelfID != "a" || jobs[2].Status != "running" || jobs[2].LastPID == nil || *jobs[2].LastPID != 1 {
		t.Errorf("records = %+v", jobs)
	}
	if got := mustGet(t, db, "a"); !jobsEqual(got, jobs[2]) {
		t.Errorf("stored %+v, returned %+v", got, jobs[2])
	}

	// An empty batch.
	if jobs, err := db.UpdateMany(nil); err != nil || jobs == nil || len(jobs) != 0 {
		t.Errorf("UpdateMany(nil) = %#v, %v", jobs, err)
	}

	// One refused record: its index, and nothing written, not even the
	// records before it.
	snapshot, err := listed(t, db, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.UpdateMany([]Update{
		{SelfID: "a", Status: "stopped"},
		{SelfID: "b", Status: "running"},
		{SelfID: "c"}, // a new job without a status
		{SelfID: "d", Status: "running"},
	})
	e := wantErr(t, err, ErrSchema, "status")
	if e.Index != 2 || !strings.Contains(e.Message, "record 2") || e.Current != nil {
		t.Errorf("error %#v: want Index 2", e)
	}
	if after, _ := listed(t, db, Filter{}); after != snapshot || mustGet(t, db, "a").Status != "running" {
		t.Errorf("a refused batch wrote: %s, was %s", after, snapshot)
	}

	// Refused before jobdb is called, with the index all the same.
	_, err = db.UpdateMany([]Update{
		{SelfID: "a", Status: "stopped"},
		{SelfID: "b", Status: "running", Command: Set("bad \xff")},
	})
	e = wantErr(t, err, ErrInvalidArgument, "command")
	if e.Index != 1 || !strings.HasPrefix(e.Message, "record 1 of the batch: ") {
		t.Errorf("error %#v: want Index 1", e)
	}
	if got := mustGet(t, db, "a"); got.Status != "running" {
		t.Errorf("a refused batch wrote %+v", got)
	}

	// A time jobdb refuses, in the first record.
	_, err = db.UpdateMany([]Update{{SelfID: "a", StartedAt: Set(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}})
	if e := wantErr(t, err, ErrSchema, "started_at"); e.Index != 0 {
		t.Errorf("error %#v: want Index 0", e)
	}

	// Errors outside a batch have no index.
	_, err = db.GetStatus("nobody")
	if e := wantErr(t, err, ErrNotFound, ""); e.Index != -1 {
		t.Errorf("GetStatus's error has Index %d", e.Index)
	}
	if ErrSchema.Index != -1 {
		t.Errorf("ErrSchema.Index = %d", ErrSchema.Index)
	}
}

// ---- Delete ---------------------------------------------------------------

// filesIn lists the names in a folder, sorted.
func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestDeleteRefusesEveryJobUnlessAll(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "finished"})
	mustUpdate(t, db, Update{SelfID: "b", Status: "running"})

	for _, d := range []DeleteRequest{
		{},
		{DryRun: true},
		{Filter: Filter{StatusIs: And[string](), ExitCode: Field[int64]{}}}, // sets no condition
		{All: true, Filter: Filter{Status: "finished"}},
	} {
		_, err := db.Delete(d)
		wantErr(t, err, ErrSchema, "filter")
	}
	if n, _ := db.Count(Filter{}); n != 2 {
		t.Fatalf("%d jobs left, want 2", n)
	}

	del, err := db.Delete(DeleteRequest{All: true, DryRun: true})
	if err != nil || !del.DryRun || !reflect.DeepEqual(del.Deleted, []string{"b", "a"}) {
		t.Errorf("dry run of All = %+v, %v", del, err)
	}
	del, err = db.Delete(DeleteRequest{All: true, KeepNewest: 1})
	if err != nil || del.DryRun || !reflect.DeepEqual(del.Deleted, []string{"a"}) {
		t.Errorf("All keeping 1 = %+v, %v", del, err)
	}
	del, err = db.Delete(DeleteRequest{All: true})
	if err != nil || !reflect.DeepEqual(del.Deleted, []string{"b"}) ||
		len(del.LogsRemoved) != 0 || len(del.LogsKept) != 0 || len(del.LogErrors) != 0 {
		t.Errorf("All = %+v, %v", del, err)
	}
	if n, _ := db.Count(Filter{}); n != 0 {
		t.Errorf("%d jobs left after deleting all", n)
	}
	if del, err := db.Delete(DeleteRequest{All: true}); err != nil || del.Deleted == nil || len(del.Deleted) != 0 {
		t.Errorf("All on nothing = %#v, %v", del, err)
	}

	_, err = db.Delete(DeleteRequest{Filter: Filter{Status: "finished"}, KeepNewest: -1})
	wantErr(t, err, ErrSchema, "keep_newest")
	_, err = db.Delete(DeleteRequest{Filter: Filter{StatusIs: Null[string]()}})
	wantErr(t, err, ErrSchema, "status")
}

func TestDeleteKeepNewestDryRunAndLogs(t *testing.T) {
	db, _ := openTemp(t)
	logdir := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(logdir, name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// old-1 and old-2 have both logs; "shared" is named by old-3 and by a
	// running job that stays; neighbours of old-1's files must stay.
	for _, name := range []string{"old-1_out.txt", "old-1_errors.txt", "old-2_out.txt", "old-2_errors.txt",
		"shared_out.txt", "shared_errors.txt", "old-1_out.txt.1", "old-1", "old-10_out.txt", "new_out.txt"} {
		write(name)
	}
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, u := range []Update{
		{SelfID: "old-1", Status: "finished", Logfile: Set("old-1")},
		{SelfID: "old-2", Status: "failed", Logfile: Set("old-2")},
		{SelfID: "old-3", Status: "finished", Logfile: Set("shared")},
		{SelfID: "old-4", Status: "finished"}, // no logs
		{SelfID: "new", Status: "finished", Logfile: Set("new")},
		{SelfID: "live", Status: "running", Logfile: Set("shared")},
	} {
		u.LastUpdate = base.Add(time.Duration(i) * time.Hour)
		if u.Logfile.IsSet() {
			u.Logdir = Set(logdir)
		}
		mustUpdate(t, db, u)
	}
	filesBefore := filesIn(t, logdir)
	finished := Filter{StatusIs: In("finished", "failed")}

	// A dry run says what would go and changes nothing.
	dry, err := db.Delete(DeleteRequest{Filter: finished, KeepNewest: 1, DryRun: true, RemoveLogs: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantDeleted := []string{"old-4", "old-3", "old-2", "old-1"} // newest first; "new" is kept
	path := func(name string) string { return filepath.Join(logdir, name) }
	wantRemoved := []string{path("old-1_errors.txt"), path("old-1_out.txt"), path("old-2_errors.txt"), path("old-2_out.txt")}
	wantKept := []string{path("shared_errors.txt"), path("shared_out.txt")} // sorted
	if !dry.DryRun || !reflect.DeepEqual(dry.Deleted, wantDeleted) ||
		!reflect.DeepEqual(dry.LogsRemoved, wantRemoved) || !reflect.DeepEqual(dry.LogsKept, wantKept) ||
		len(dry.LogErrors) != 0 {
		t.Errorf("dry run = %+v", dry)
	}
	if n, _ := db.Count(Filter{}); n != 6 {
		t.Errorf("a dry run deleted: %d jobs left", n)
	}
	if got := filesIn(t, logdir); !reflect.DeepEqual(got, filesBefore) {
		t.Errorf("a dry run removed files: %v, was %v", got, filesBefore)
	}

	// Without RemoveLogs, no file is touched.
	del, err := db.Delete(DeleteRequest{Filter: Filter{SelfID: "old-2"}, DryRun: true})
	if err != nil || !reflect.DeepEqual(del.Deleted, []string{"old-2"}) || len(del.LogsRemoved) != 0 {
		t.Errorf("dry run without logs = %+v, %v", del, err)
	}

	// For real, one job: exactly its two files go.
	del, err = db.Delete(DeleteRequest{Filter: Filter{SelfID: "old-1"}, RemoveLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	if del.DryRun || !reflect.DeepEqual(del.Deleted, []string{"old-1"}) ||
		!reflect.DeepEqual(del.LogsRemoved, []string{path("old-1_errors.txt"), path("old-1_out.txt")}) ||
		len(del.LogsKept) != 0 || len(del.LogErrors) != 0 {
		t.Errorf("delete old-1 = %+v", del)
	}
	var gone []string
	after := filesIn(t, logdir)
	for _, name := range filesBefore {
		if !contains(after, name) {
			gone = append(gone, name)
		}
	}
	if !reflect.DeepEqual(gone, []string{"old-1_errors.txt", "old-1_out.txt"}) || len(after) != len(filesBefore)-2 {
		t.Errorf("removed %v, want exactly old-1's two logs; left %v", gone, after)
	}
	if _, err := db.GetStatus("old-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old-1 is still there: %v", err)
	}

	// The rest, keeping the newest: shared logs stay for "live".
	del, err = db.Delete(DeleteRequest{Filter: finished, KeepNewest: 1, RemoveLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(del.Deleted, []string{"old-4", "old-3", "old-2"}) ||
		!reflect.DeepEqual(del.LogsRemoved, []string{path("old-2_errors.txt"), path("old-2_out.txt")}) ||
		!reflect.DeepEqual(del.LogsKept, wantKept) {
		t.Errorf("delete the rest = %+v", del)
	}
	if got, _ := listed(t, db, Filter{}); got != "live new" {
		t.Errorf("jobs left: %s", got)
	}
	wantFiles := []string{"new_out.txt", "old-1", "old-10_out.txt", "old-1_out.txt.1", "shared_errors.txt", "shared_out.txt"}
	if got := filesIn(t, logdir); !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("files left: %v, want %v", got, wantFiles)
	}
}

func TestDeleteLogErrors(t *testing.T) {
	db, _ := openTemp(t)
	logdir := t.TempDir()
	// A directory where the stdout log should be cannot be removed as a
	// file; the stderr log is missing, which is not an error.
	if err := os.MkdirAll(filepath.Join(logdir, "odd_out.txt", "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "odd", Status: "finished", Logdir: Set(logdir), Logfile: Set("odd")})
	del, err := db.Delete(DeleteRequest{Filter: Filter{SelfID: "odd"}, RemoveLogs: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(del.Deleted, []string{"odd"}) || len(del.LogsRemoved) != 0 || len(del.LogErrors) != 1 {
		t.Fatalf("deletion = %+v", del)
	}
	le := del.LogErrors[0]
	if le.Path != filepath.Join(logdir, "odd_out.txt") {
		t.Errorf("log error path %q", le.Path)
	}
	wantErr(t, le.Err, ErrIO, "")
	if _, err := db.GetStatus("odd"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the job stayed: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
