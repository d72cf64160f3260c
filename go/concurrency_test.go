package jobdb

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Many goroutines share one DB, and others use their own DBs on the same
// folder, all at once. Run with -race to check the Go side too.
func TestConcurrentUse(t *testing.T) {
	db, dir := openTemp(t)
	const shared, separate, rounds = 16, 4, 100

	var wg sync.WaitGroup
	errs := make(chan error, shared+separate)
	worker := func(d *DB, id string) {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			pid := int64(i)
			job, err := d.UpdateStatus(Update{SelfID: id, Status: "running", LastPID: Set(pid), Cwd: Set(id)})
			if err != nil {
				errs <- fmt.Errorf("%s: update %d: %w", id, i, err)
				return
			}
			if *job.LastPID != pid || strp(job.Cwd) != id {
				errs <- fmt.Errorf("%s: update %d returned %+v", id, i, job)
				return
			}
			// Every goroutine also sets its own field of one common job.
			if _, err := d.UpdateStatus(Update{SelfID: "common", Status: "running", Dirname: Set(id)}); err != nil {
				errs <- fmt.Errorf("%s: common update: %w", id, err)
				return
			}
			if got, err := d.GetStatus(id); err != nil || *got.LastPID != pid {
				errs <- fmt.Errorf("%s: get %d: %+v, %v", id, i, got, err)
				return
			}
			if jobs, err := d.ListStatus(Filter{Status: "running", Cwd: Set(id)}); err != nil || len(jobs) != 1 {
				errs <- fmt.Errorf("%s: list %d: %v, %v", id, i, jobs, err)
				return
			}
			if _, err := d.GetStatus("missing-" + id); !errors.Is(err, ErrNotFound) {
				errs <- fmt.Errorf("%s: missing job: %v", id, err)
				return
			}
		}
		errs <- nil
	}

	for g := 0; g < shared; g++ {
		wg.Add(1)
		go worker(db, fmt.Sprintf("shared-%02d", g))
	}
	for g := 0; g < separate; g++ {
		own, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer own.Close()
		wg.Add(1)
		go worker(own, fmt.Sprintf("own-%02d", g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	all, err := db.ListStatus(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != shared+separate+1 {
		t.Errorf("%d jobs, want %d", len(all), shared+separate+1)
	}
	for id, job := range all {
		if id != "common" && (job.LastPID == nil || *job.LastPID != rounds-1) {
			t.Errorf("%s ended with pid %v", id, job.LastPID)
		}
	}
}

// Close while goroutines are in calls: every call either works or fails
// with ErrClosed; none reaches a closed handle.
func TestCloseDuringCalls(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})

	var wg sync.WaitGroup
	results := make(chan string, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			ok := 0
			for {
				var err error
				switch g % 4 {
				case 0:
					_, err = db.GetStatus("a")
				case 1:
					_, err = db.UpdateStatus(Update{SelfID: "a", LastPID: Set(int64(g))})
				case 2:
					_, err = db.UpdateStatusIf(Update{SelfID: "a", LastPID: Set(int64(g))}, Filter{Status: "running"})
				case 3:
					_, err = db.Changes("", 0)
				}
				if errors.Is(err, ErrClosed) {
					results <- ""
					return
				}
				if err != nil {
					results <- fmt.Sprintf("goroutine %d after %d calls: %v", g, ok, err)
					return
				}
				ok++
			}
		}(g)
	}
	time.Sleep(50 * time.Millisecond)
	db.Close()
	wg.Wait()
	close(results)
	for r := range results {
		if r != "" {
			t.Error(r)
		}
	}
}
