package jobdb_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

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
