package jobdb

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// leakCalls is how many calls the leak test makes.
	leakCalls = 100_000
	// leakBoundMiB is the most resident memory may grow over those calls.
	// Measured growth is 1.2 to 2.2 MiB with the mix of leakRound (it was
	// 0.5 to 0.8 MiB before the calls of UpdateStatusIf, UpdateMany,
	// Delete, ReadLog and Changes joined it); over 300,000 calls it levels
	// off near 4.5 MiB from the start, warm-up included, so it is not a
	// leak. With the jobdb_string_free of every reply removed it was
	// 42 MiB, and with only the error replies leaked (7 or 8 calls in 20
	// fail) 8.6 MiB: both fail. A leaked C.CString of a short self_id (a
	// 32-byte malloc chunk) on a third of the calls grew it by 2.1 MiB,
	// which this bound does not catch. Most of the growth that is no leak
	// is SQLite's page cache filling up as the database grows (up to
	// 2 MiB per connection by default). 5 MiB leaves room for it while
	// both leaks above still fail.
	leakBoundMiB = 5
)

// residentBytes reads this process's resident set size from /proc, after
// collecting Go's garbage and handing free memory back to the OS.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("cannot read /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(data))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatalf("statm %q: %v", data, err)
	}
	return pages * int64(os.Getpagesize())
}

// leakState is what the rounds of the leak test carry from one to the
// next: the change feed's cursor, and one from another database.
type leakState struct {
	cursor  string
	foreign string
}

// leakRound makes one call (two for a query that follows its cursor) of
// a mix of successful and failing ones: every function, and every kind of
// string jobdb returns, goes through the free path many times. The mix
// keeps the slow calls (writes, lists and queries) to about one in three.
func leakRound(t *testing.T, db *DB, s *leakState, i int) {
	id := fmt.Sprintf("job-%d", i%5)
	fail := func(what string, err error) {
		if err == nil {
			t.Fatalf("call %d: %s worked", i, what)
		}
	}
	var err error
	switch i % 20 {
	case 0:
		_, err = db.UpdateStatus(Update{SelfID: id, Status: "running", LastPID: Set(int64(i))})
	case 1, 16:
		_, err = db.GetStatus(id)
	case 2:
		_, err = db.ListStatus(Filter{Status: "running"})
	case 3:
		_, err = db.JobLogs(id)
	case 4:
		_, gerr := db.GetStatus("missing")
		fail("GetStatus(missing)", gerr)
	case 5:
		_, uerr := db.UpdateStatus(Update{SelfID: "brand-new"}) // no status
		fail("a new job without status", uerr)
	case 6:
		_, uerr := db.UpdateStatusJSON([]byte(`{"self_id": `))
		fail("malformed JSON", uerr)
	case 7:
		q := Query{
			Filter:     Filter{StatusIs: In("running", "starting"), LastPID: Ne[int64](-1)},
			OrderBy:    ByLastUpdate,
			Descending: true,
			Limit:      2,
		}
		var page Page
		if page, err = db.Query(q); err == nil {
			if page.NextCursor == "" {
				t.Fatal("no next page")
			}
			q.Cursor = page.NextCursor
			if i%40 == 7 {
				_, err = db.Query(q)
			} else {
				q.Descending = false // the cursor no longer fits
				_, qerr := db.Query(q)
				fail("a foreign query cursor", qerr)
			}
		}
	case 8:
		if i%40 == 8 {
			var n int64
			n, err = db.Count(Filter{Status: "running", Cwd: Set("/srv")})
			if err == nil && n != 5 {
				t.Fatalf("Count = %d, want 5", n)
			}
		} else {
			_, cerr := db.Count(Filter{StatusIs: Null[string]()})
			fail("a null status filter", cerr)
		}
	case 9:
		if i%40 == 9 {
			_, err = db.UpdateStatusIf(Update{SelfID: id, LastPID: Set(int64(i))}, Filter{Status: "running"})
		} else {
			// The conflict's error carries the whole record.
			_, uerr := db.UpdateStatusIf(Update{SelfID: id, Status: "x"}, Filter{Status: "stopped"})
			fail("a conditional update that does not hold", uerr)
		}
	case 10:
		batch := []Update{
			{SelfID: id, Status: "running"},
			{SelfID: "temp", Status: "running", Metadata: Set(map[string]any{"round": i})},
		}
		if i%40 == 10 {
			_, err = db.UpdateMany(batch)
		} else {
			_, berr := db.UpdateMany(append(batch, Update{SelfID: "brand-new"})) // no status
			fail("a batch with a bad record", berr)
		}
	case 11:
		if i%40 == 11 {
			// A dry run that would delete one job and remove its log.
			var del Deletion
			del, err = db.Delete(DeleteRequest{Filter: Filter{SelfID: id}, DryRun: true, RemoveLogs: true})
			if err == nil && (len(del.Deleted) != 1 || len(del.LogsRemoved) != 1) {
				t.Fatalf("dry run = %+v", del)
			}
		} else {
			_, derr := db.Delete(DeleteRequest{Filter: Filter{SelfID: id}, KeepNewest: -1})
			fail("a negative keep_newest", derr)
		}
	case 12:
		_, err = db.ReadLog(LogRequest{SelfID: id, Stream: Stdout, Offset: int64(i % 13), MaxBytes: 4})
	case 13:
		var text string
		text, err = db.Tail(id, Stdout, 1)
		if err == nil && text != "some output\n" {
			t.Fatalf("Tail = %q", text)
		}
	case 14:
		var set ChangeSet
		if set, err = db.Changes(s.cursor, 3); err == nil {
			s.cursor = set.NextCursor
		}
	case 15:
		_, rerr := db.ReadLog(LogRequest{SelfID: id, Stream: Stderr}) // no such file
		fail("a missing log", rerr)
	case 17:
		_, cerr := db.Changes(s.foreign, 0)
		fail("a change cursor from another database", cerr)
	case 18:
		_, err = db.ReadLog(LogRequest{SelfID: id, Stream: Stdout, Tail: LastBytes(5)})
	case 19:
		// Deletes the job case 10 made, or nothing.
		_, err = db.Delete(DeleteRequest{Filter: Filter{SelfID: "temp"}})
	}
	if err != nil {
		t.Fatalf("call %d: %v", i, err)
	}
}

// TestNoLeak makes leakCalls calls and fails when resident memory grows
// by more than leakBoundMiB: every string jobdb returns must be freed,
// and every C string this package makes.
func TestNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	db, _ := openTemp(t)
	logdir := t.TempDir()
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("job-%d", i)
		os.WriteFile(logdir+"/"+id+"_out.txt", []byte("some output\n"), 0o644)
		mustUpdate(t, db, Update{SelfID: id, Status: "running", Cwd: Set("/srv"),
			Logdir: Set(logdir), Logfile: Set(id)})
	}

	other, _ := openTemp(t)
	set, err := other.Changes("", 0)
	if err != nil {
		t.Fatal(err)
	}
	state := &leakState{foreign: set.NextCursor}

	// Warm up: SQLite's page cache, malloc's arenas, Go's heap.
	for i := 0; i < 5_000; i++ {
		leakRound(t, db, state, i)
	}
	before := residentBytes(t)
	start := time.Now()
	for i := 0; i < leakCalls; i++ {
		leakRound(t, db, state, i)
	}
	elapsed := time.Since(start)
	after := residentBytes(t)

	growth := after - before
	report := fmt.Sprintf("leak test: %d calls in %v; resident %.1f MiB -> %.1f MiB, growth %+.2f MiB (bound %d MiB)",
		leakCalls, elapsed.Round(time.Millisecond), float64(before)/(1<<20), float64(after)/(1<<20),
		float64(growth)/(1<<20), leakBoundMiB)
	t.Log(report)
	fmt.Println(report)
	if growth > leakBoundMiB<<20 {
		t.Errorf("resident memory grew by %.2f MiB over %d calls, more than %d MiB: a leak",
			float64(growth)/(1<<20), leakCalls, leakBoundMiB)
	}
}
