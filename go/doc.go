// Package jobdb is the Go binding of jobdb, a library that keeps track of
// jobs other programs start: each job's id, status, last update time, last
// pid, working directory, where its stdout and stderr logs live, its
// command, start and end times, exit code and a JSON object of the
// caller's own, in a SQLite file that every process opening the same
// folder shares.
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
//	// Or query: the failed jobs, the one that ended last first, a page
//	// at a time.
//	page, err := db.Query(jobdb.Query{
//		Filter:     jobdb.Filter{Status: "failed", ExitCode: jobdb.NotNull[int64]()},
//		OrderBy:    jobdb.ByEndedAt,
//		Descending: true,
//		Limit:      50,
//	})
//	for _, job := range page.Jobs {
//		fmt.Println(job.SelfID, *job.ExitCode, *job.Command)
//	}
//	// page.NextCursor, set as the Query's Cursor, gives the next page.
//
// # Records
//
// A [Job] has pointers for its nullable fields, nil when null: LastPID,
// Dirname, Cwd, Logdir, Logfile, ExitCode, Command, and the times
// CreatedAt, StartedAt and EndedAt (*time.Time, in UTC to the
// microsecond). CreatedAt is set by jobdb when it first writes the job and
// never changes. Metadata is the caller's own JSON object as a
// map[string]any (numbers as json.Number, so integers stay exact), nil
// when there is none. Fields that other programs stored and jobdb does not
// know are kept in Extra.
//
// # Updates
//
// An Update is partial: fields it leaves out keep their stored value. The
// nullable fields (LastPID, Dirname, Cwd, Logdir, Logfile, ExitCode,
// Command, StartedAt, EndedAt, Metadata) are Field values with three
// states: left out (the zero value), null ([Null], which clears the field)
// or a value ([Set]). Status is a plain string, empty meaning "leave
// unchanged", since jobdb never stores an empty or null status; LastUpdate
// is a time.Time, zero meaning "now". Metadata is replaced as a whole,
// never merged. An Update has no CreatedAt: jobdb refuses to be told it.
//
// # Filters
//
// A [Filter] has one condition per field, all of which must hold; the
// zero Filter matches every job. A condition is a [Cond], typed by the
// field: [Eq] (or [Set]), [Null], [Ne], [NotNull], [In], [Gt], [Gte], [Lt],
// [Lte], [Between], and [And] to join several on one field. Times compare
// as instants in any time zone, so the jobs that claim to run but have not
// been updated for ten minutes are
//
//	stale := jobdb.Filter{
//		StatusIs:   jobdb.In("running", "starting"),
//		LastUpdate: jobdb.Lt(time.Now().Add(-10 * time.Minute)),
//	}
//
// Status and SelfID are plain strings, shorthands for equality; StatusIs
// and SelfIDIs take any condition on them. Metadata cannot be filtered on.
//
// # Queries
//
// [DB.ListStatus] returns every match at once, by self_id. [DB.Query] adds
// an order (by self_id, last_update, created_at, started_at or ended_at,
// ascending or descending, ties broken by self_id) and pages: with a
// Limit, each [Page] has a NextCursor that continues the same query, and
// is "" on the last page. A cursor holds where its page ended, not an
// offset, so jobs added or deleted between pages never make a later page
// skip or repeat a job that stayed. [DB.Iterate] walks through every page
// for you, and [DB.Count] counts the matches without reading them.
//
// # Conditional and batch updates
//
// [DB.UpdateStatusIf] writes an Update only if the job's current record
// matches a Filter, in one transaction: "mark it running only if it is
// still starting", so that a late writer cannot undo what another process
// recorded. When the record does not match, nothing is written and the
// error matches ErrConflict, with the record as it stands in its Current:
//
//	_, err := db.UpdateStatusIf(jobdb.Update{SelfID: "backup", Status: "running"},
//		jobdb.Filter{Status: "starting"})
//	var e *jobdb.Error
//	if errors.Is(err, jobdb.ErrConflict) && errors.As(err, &e) {
//		fmt.Println("backup is already", e.Current.Status)
//	}
//
// It never creates a job (ErrNotFound). [DB.UpdateMany] writes many
// Updates in one transaction, all or none; when one is refused, the
// error's Index is its position in the batch.
//
// # Deleting
//
// [DB.Delete] deletes the jobs a [DeleteRequest]'s Filter matches, except
// the KeepNewest of them (by LastUpdate), and with RemoveLogs their two
// log files and no other file. DryRun reports what would go and changes
// nothing. A Filter that sets no condition matches every job, so Delete
// refuses it unless All is set:
//
//	// Finished jobs older than a week, but the newest 100, and their logs.
//	gone, err := db.Delete(jobdb.DeleteRequest{
//		Filter:     jobdb.Filter{Status: "finished", LastUpdate: jobdb.Lt(time.Now().AddDate(0, 0, -7))},
//		KeepNewest: 100,
//		RemoveLogs: true,
//	})
//	fmt.Println(len(gone.Deleted), "deleted;", len(gone.LogsRemoved), "log files removed")
//
// # Reading logs
//
// [DB.JobLogs] reads both logs of a job whole, as text. [DB.ReadLog] reads
// part of one log, in time and memory that do not grow with the file:
// from an Offset (pass the previous NextOffset to follow a growing log;
// after a truncation the read starts again from 0 and says Restarted), or
// its end ([LastBytes], [LastLines]), at most MaxBytes. Its Data are the
// file's exact bytes. [DB.Tail] returns the last lines as a string:
//
//	last, err := db.Tail("backup", jobdb.Stderr, 20)
//
// # Following changes
//
// [DB.Changes] returns the jobs that changed since a cursor, each once
// with its record now, or a nil Job once deleted; it sees every writer,
// nodejobs included. Start with the empty cursor (every job stored comes
// back) and pass each NextCursor to the next call, so that a monitor
// polls cheaply instead of listing every job:
//
//	cursor := ""
//	for range time.Tick(time.Second) {
//		set, err := db.Changes(cursor, 0)
//		if err != nil {
//			log.Fatal(err)
//		}
//		for _, c := range set.Changes {
//			if c.Job == nil {
//				fmt.Println(c.SelfID, "deleted")
//			} else {
//				fmt.Println(c.SelfID, c.Job.Status)
//			}
//		}
//		cursor = set.NextCursor
//	}
//
// # Errors
//
// Every failure the library reports is an [*Error] carrying jobdb's code,
// its name, a message and, when one record field is at fault, the field's
// name; for UpdateMany, the Index of the record at fault (-1 otherwise);
// for a conflict, the Current record. Compare with errors.Is against the
// sentinels: ErrNotFound, ErrSchema, ErrBusy, ErrConflict and one per
// code. The package also refuses, before
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
