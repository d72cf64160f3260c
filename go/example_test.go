package jobdb_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"jobdb"
)

func Example() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)

	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// A new job needs a status; the nullable fields are Set, or Null.
	job, err := db.UpdateStatus(jobdb.Update{
		SelfID:  "backup",
		Status:  "starting",
		LastPID: jobdb.Set[int64](4242),
		Cwd:     jobdb.Set("/srv"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.SelfID, job.Status, *job.LastPID, *job.Cwd)

	// An update writes only what it gives: the pid and cwd stay.
	job, _ = db.UpdateStatus(jobdb.Update{SelfID: "backup", Status: "running"})
	fmt.Println(job.Status, *job.LastPID, *job.Cwd)

	// Null clears a field.
	job, _ = db.UpdateStatus(jobdb.Update{SelfID: "backup", LastPID: jobdb.Null[int64]()})
	fmt.Println(job.Status, job.LastPID)

	running, _ := db.ListStatus(jobdb.Filter{Status: "running"})
	fmt.Println(len(running), running["backup"].Status)

	_, err = db.GetStatus("restore")
	fmt.Println(errors.Is(err, jobdb.ErrNotFound))
	// Output:
	// backup starting 4242 /srv
	// running 4242 /srv
	// running <nil>
	// 1 running
	// true
}

func ExampleDB_JobLogs() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// The logs are {logdir}/{logfile}_out.txt and _errors.txt.
	os.WriteFile(filepath.Join(folder, "build_out.txt"), []byte("compiled\n"), 0o644)
	db.UpdateStatus(jobdb.Update{SelfID: "build", Status: "finished",
		Logdir: jobdb.Set(folder), Logfile: jobdb.Set("build")})

	logs, err := db.JobLogs("build")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stdout: %q\n", logs.Stdout.Text)
	fmt.Println("stderr missing:", errors.Is(logs.Stderr.Err, jobdb.ErrNotFound))
	// Output:
	// stdout: "compiled\n"
	// stderr missing: true
}

func ExampleDB_Query() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, code := range []int64{0, 2, 0, 1, 137} {
		status := "finished"
		if code != 0 {
			status = "failed"
		}
		db.UpdateStatus(jobdb.Update{
			SelfID:   fmt.Sprintf("build-%d", i),
			Status:   status,
			Command:  jobdb.Set(fmt.Sprintf("make target-%d", i)),
			ExitCode: jobdb.Set(code),
			EndedAt:  jobdb.Set(base.Add(time.Duration(i) * time.Minute)),
		})
	}

	// The failed jobs, the one that ended last first, two per page.
	q := jobdb.Query{
		Filter:     jobdb.Filter{Status: "failed"},
		OrderBy:    jobdb.ByEndedAt,
		Descending: true,
		Limit:      2,
	}
	for {
		page, err := db.Query(q)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("page:")
		for _, job := range page.Jobs {
			fmt.Println(" ", job.SelfID, *job.ExitCode, *job.Command, job.EndedAt.Format(time.Kitchen))
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}

	n, _ := db.Count(jobdb.Filter{ExitCode: jobdb.Gt[int64](1)})
	fmt.Println("exit code above 1:", n)
	// Output:
	// page:
	//   build-4 137 make target-4 12:04PM
	//   build-3 1 make target-3 12:03PM
	// page:
	//   build-1 2 make target-1 12:01PM
	// exit code above 1: 2
}

func ExampleDB_Iterate() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	now := time.Now()
	db.UpdateStatus(jobdb.Update{SelfID: "hung", Status: "running", LastUpdate: now.Add(-time.Hour)})
	db.UpdateStatus(jobdb.Update{SelfID: "slow", Status: "starting", LastUpdate: now.Add(-15 * time.Minute)})
	db.UpdateStatus(jobdb.Update{SelfID: "busy", Status: "running"})
	db.UpdateStatus(jobdb.Update{SelfID: "old", Status: "finished", LastUpdate: now.Add(-time.Hour)})

	// Jobs that claim to run but have not been updated for ten minutes,
	// oldest first, fetched a page of 100 at a time.
	it := db.Iterate(jobdb.Query{
		Filter: jobdb.Filter{
			StatusIs:   jobdb.In("running", "starting"),
			LastUpdate: jobdb.Lt(now.Add(-10 * time.Minute)),
		},
		OrderBy: jobdb.ByLastUpdate,
		Limit:   100,
	})
	for it.Next() {
		fmt.Println(it.Job().SelfID, it.Job().Status)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hung running
	// slow starting
}

func ExampleDB_UpdateStatusIf() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	db.UpdateStatus(jobdb.Update{SelfID: "build", Status: "starting"})
	// Another process stops the job before it is marked running.
	db.UpdateStatus(jobdb.Update{SelfID: "build", Status: "stopped"})

	// Mark it running only if it is still starting.
	_, err = db.UpdateStatusIf(jobdb.Update{SelfID: "build", Status: "running"},
		jobdb.Filter{Status: "starting"})
	var e *jobdb.Error
	if errors.Is(err, jobdb.ErrConflict) && errors.As(err, &e) {
		fmt.Println("not written; build is", e.Current.Status)
	}
	// Output:
	// not written; build is stopped
}

func ExampleDB_UpdateMany() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	jobs, err := db.UpdateMany([]jobdb.Update{
		{SelfID: "a", Status: "queued"},
		{SelfID: "b", Status: "queued"},
	})
	fmt.Println(len(jobs), err)

	// All or nothing: "c" is new and has no status, so "a" is not
	// written either.
	_, err = db.UpdateMany([]jobdb.Update{
		{SelfID: "a", Status: "running"},
		{SelfID: "c"},
	})
	var e *jobdb.Error
	if errors.As(err, &e) {
		fmt.Println("refused record", e.Index, e.Field)
	}
	a, _ := db.GetStatus("a")
	fmt.Println(a.Status)
	// Output:
	// 2 <nil>
	// refused record 1 status
	// queued
}

func ExampleDB_Delete() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	week := 7 * 24 * time.Hour
	for i, age := range []time.Duration{3 * week, 2 * week, week + time.Hour, time.Hour} {
		db.UpdateStatus(jobdb.Update{SelfID: fmt.Sprintf("job-%d", i), Status: "finished",
			LastUpdate: time.Now().Add(-age)})
	}

	// Finished jobs older than a week, but the newest of them; first a
	// dry run.
	request := jobdb.DeleteRequest{
		Filter:     jobdb.Filter{Status: "finished", LastUpdate: jobdb.Lt(time.Now().Add(-week))},
		KeepNewest: 1,
		DryRun:     true,
	}
	would, _ := db.Delete(request)
	fmt.Println("would delete", would.Deleted)
	request.DryRun = false
	done, _ := db.Delete(request)
	fmt.Println("deleted", done.Deleted)

	// Every job, only when asked for explicitly.
	_, err = db.Delete(jobdb.DeleteRequest{})
	fmt.Println(errors.Is(err, jobdb.ErrSchema))
	all, _ := db.Delete(jobdb.DeleteRequest{All: true})
	fmt.Println("deleted", all.Deleted)
	// Output:
	// would delete [job-1 job-0]
	// deleted [job-1 job-0]
	// true
	// deleted [job-3 job-2]
}

func ExampleDB_ReadLog() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	path := filepath.Join(folder, "build_out.txt")
	os.WriteFile(path, []byte("step 1\nstep 2\n"), 0o644)
	db.UpdateStatus(jobdb.Update{SelfID: "build", Status: "running",
		Logdir: jobdb.Set(folder), Logfile: jobdb.Set("build")})

	// Follow the log: each read continues where the last one ended.
	r := jobdb.LogRequest{SelfID: "build", Stream: jobdb.Stdout}
	part, _ := db.ReadLog(r)
	fmt.Printf("%q next at %d\n", part.Data, part.NextOffset)

	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("step 3\n")
	f.Close()
	r.Offset = part.NextOffset
	part, _ = db.ReadLog(r)
	fmt.Printf("%q next at %d\n", part.Data, part.NextOffset)

	// The log is rotated: the read starts again from 0.
	os.WriteFile(path, []byte("new\n"), 0o644)
	r.Offset = part.NextOffset
	part, _ = db.ReadLog(r)
	fmt.Printf("%q restarted %v\n", part.Data, part.Restarted)
	// Output:
	// "step 1\nstep 2\n" next at 14
	// "step 3\n" next at 21
	// "new\n" restarted true
}

func ExampleDB_Tail() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	os.WriteFile(filepath.Join(folder, "build_errors.txt"),
		[]byte("warning: one\nwarning: two\nerror: three\n"), 0o644)
	db.UpdateStatus(jobdb.Update{SelfID: "build", Status: "failed",
		Logdir: jobdb.Set(folder), Logfile: jobdb.Set("build")})

	last, err := db.Tail("build", jobdb.Stderr, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(last)
	// Output:
	// warning: two
	// error: three
}

func ExampleDB_Changes() {
	folder, err := os.MkdirTemp("", "jobdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(folder)
	db, err := jobdb.Open(filepath.Join(folder, "db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	show := func(set jobdb.ChangeSet) {
		for _, c := range set.Changes {
			if c.Job == nil {
				fmt.Println(" ", c.SelfID, "deleted")
			} else {
				fmt.Println(" ", c.SelfID, c.Job.Status)
			}
		}
	}

	db.UpdateStatus(jobdb.Update{SelfID: "a", Status: "running"})
	db.UpdateStatus(jobdb.Update{SelfID: "b", Status: "running"})
	// The empty cursor: every job.
	set, _ := db.Changes("", 0)
	fmt.Println("first poll:")
	show(set)

	db.UpdateStatus(jobdb.Update{SelfID: "b", Status: "finished"})
	db.Delete(jobdb.DeleteRequest{Filter: jobdb.Filter{SelfID: "a"}})
	// Only what changed since.
	set, _ = db.Changes(set.NextCursor, 0)
	fmt.Println("next poll:")
	show(set)
	// Output:
	// first poll:
	//   a running
	//   b running
	// next poll:
	//   b finished
	//   a deleted
}
