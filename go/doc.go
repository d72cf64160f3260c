// Package jobdb is the Go binding of jobdb, a library that keeps track of
// jobs other programs start: each job's id, status, last update time, last
// pid, working directory and where its stdout and stderr logs live, in a
// SQLite file that every process opening the same folder shares.
//
// The package calls jobdb's C ABI through cgo and finds the library with
// pkg-config (the package "jobdb", as `make install` provides it). Records
// travel as JSON between Go and the library; this package hides that
// behind typed structs.
//
// # Usage
//
//	db, err := jobdb.Open("state")
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer db.Close()
//
//	// Record a new job. Fields left out of an Update keep their stored
//	// value (none yet, for a new job); Null clears a field.
//	job, err := db.UpdateStatus(jobdb.Update{
//		SelfID:  "backup",
//		Status:  "running",
//		LastPID: jobdb.Set[int64](4242),
//		Cwd:     jobdb.Set("/srv"),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(job.Status, job.LastUpdate)
//
//	// Later, from any process: look it up, or list jobs by status.
//	job, err = db.GetStatus("backup")
//	if errors.Is(err, jobdb.ErrNotFound) {
//		fmt.Println("no such job")
//	}
//	running, err := db.ListStatus(jobdb.Filter{Status: "running"})
//
// # Updates and filters
//
// An Update is partial: fields it leaves out keep their stored value. The
// nullable fields (LastPID, Dirname, Cwd, Logdir, Logfile) are Field
// values with three states: left out (the zero value), null ([Null], which
// clears the field) or a value ([Set]). Status is a plain string, empty
// meaning "leave unchanged", since jobdb never stores an empty or null
// status; LastUpdate is a time.Time, zero meaning "now". A Filter uses the
// same types: a zero field does not filter, [Null] matches jobs where the
// field is null or unset.
//
// # Errors
//
// Every failure the library reports is an [*Error] carrying jobdb's code,
// its name, a message and, when one record field is at fault, the field's
// name. Compare with errors.Is against the sentinels: ErrNotFound,
// ErrSchema, ErrBusy and one per code. The package also refuses, before
// calling the library and with the code of ErrInvalidArgument, strings it
// could not pass faithfully: a folder, self_id argument or raw JSON record
// with a NUL byte (C would cut it short), and record text that is not
// UTF-8 (encoding/json would silently replace it). After Close every
// method fails with an error that matches both ErrClosed and
// ErrInvalidArgument.
//
// # Concurrency
//
// A DB is safe for concurrent use by any number of goroutines. The library
// runs the calls on one handle one at a time; open several DBs on the same
// folder for parallel reads. Close waits for calls in progress to return.
// Any number of processes may open the same folder too.
package jobdb
