// trackjobs is jobdb's demo in Go, the counterpart of
// examples/track_jobs.c. It runs three real shell commands, records the
// life of each in a jobdb database (command, pid, start and end times,
// exit code and some metadata of its own; "running" only if the job is
// still "starting"), then shows what changed through the change feed,
// lists the jobs by status, queries the failed ones (with the last line
// of their stderr) and those that ended in a time window, newest first,
// and prints their logs.
//
//	trackjobs [FOLDER]          FOLDER defaults to "jobdb-demo-go"
//
// The database lives in FOLDER/db and the logs in FOLDER/logs. The job ids
// are fixed names, so running the demo again updates the same jobs.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"jobdb"
)

const (
	program       = "trackjobs"
	defaultFolder = "jobdb-demo-go"
)

// demoJob is one demo job: a stable id, which also names its log files,
// and the command /bin/sh runs for it.
type demoJob struct {
	id      string
	command string
}

var demoJobs = []demoJob{
	{"greet", "echo 'Hello from a jobdb demo job.'; " +
		"echo \"I ran as process $$.\"; " +
		"echo 'Goodbye.'"},
	{"fail", "echo 'Reading the input...'; " +
		"echo 'error: no such file: missing-input.csv' >&2; " +
		"exit 3"},
	// printf turns \377\376 into two bytes that are not UTF-8, which
	// jobdb replaces and flags when it reads the log.
	{"binary", `printf 'Not UTF-8: \377\376 (end)\n'`},
}

// places are where the jobs run and where their logs go, as absolute
// paths, so the records mean the same to any process that reads them.
type places struct {
	cwd    string
	logdir string
}

func main() {
	if len(os.Args) > 2 {
		fmt.Fprintf(os.Stderr, "usage: %s [FOLDER]\n", program)
		os.Exit(2)
	}
	folder := defaultFolder
	if len(os.Args) == 2 {
		folder = os.Args[1]
	}
	if err := run(folder); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(1)
	}
}

func run(folder string) error {
	p, err := preparePlaces(folder)
	if err != nil {
		return err
	}

	dbDir := filepath.Join(folder, "db")
	db, err := jobdb.Open(dbDir)
	if err != nil {
		return fmt.Errorf("cannot open the database in %s: %w", dbDir, err)
	}
	defer db.Close()
	fmt.Printf("jobdb %s: database in %s\n", jobdb.Version(), filepath.Join(dbDir, "jobs.db"))
	fmt.Printf("logs in %s\n", p.logdir)

	// Where the change feed stands now, so that what the jobs change can
	// be shown afterwards, as a monitor polling the database would see it.
	cursor, err := db.ChangesCursorNow()
	if err != nil {
		return err
	}

	began := time.Now()
	fmt.Printf("\n== Running %d jobs ==\n", len(demoJobs))
	for _, job := range demoJobs {
		if err := runJob(db, job, p); err != nil {
			return err
		}
	}

	if err := showChanges(db, cursor); err != nil {
		return err
	}

	for _, status := range []string{"finished", "failed"} {
		if err := showJobsWithStatus(db, status); err != nil {
			return err
		}
	}
	if err := showFailedJobs(db); err != nil {
		return err
	}
	if err := showRecentJobs(db, began); err != nil {
		return err
	}
	for _, job := range demoJobs {
		if err := showJobLogs(db, job.id); err != nil {
			return err
		}
	}
	return nil
}

// preparePlaces creates the demo folders and finds the absolute cwd and
// log folder.
func preparePlaces(folder string) (places, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return places{}, fmt.Errorf("cannot find the current folder: %w", err)
	}
	logdir := filepath.Join(folder, "logs")
	if !filepath.IsAbs(logdir) {
		logdir = filepath.Join(cwd, logdir)
	}
	if err := os.MkdirAll(logdir, 0o755); err != nil {
		return places{}, fmt.Errorf("cannot create the folder: %w", err)
	}
	return places{cwd: cwd, logdir: logdir}, nil
}

// ---- Running a job ------------------------------------------------------

// runJob runs one job to its end, recording each step of its life:
// starting (with its pid, places, command, start time and metadata),
// running, then finished or failed with its end time and exit code.
func runJob(db *jobdb.DB, job demoJob, p places) error {
	cmd, err := startJob(job, p.logdir)
	if err != nil {
		return err
	}
	pid := int64(cmd.Process.Pid)

	_, recordErr := db.UpdateStatus(jobdb.Update{
		SelfID:    job.id,
		Status:    "starting",
		LastPID:   jobdb.Set(pid),
		Cwd:       jobdb.Set(p.cwd),
		Logdir:    jobdb.Set(p.logdir),
		Logfile:   jobdb.Set(job.id),
		Command:   jobdb.Set(job.command),
		StartedAt: jobdb.Set(time.Now()),
		// A new run clears what the last one recorded.
		EndedAt:  jobdb.Null[time.Time](),
		ExitCode: jobdb.Null[int64](),
		// The caller's own JSON object; an update replaces it whole.
		Metadata: jobdb.Set(map[string]any{"program": program, "shell": "/bin/sh"}),
	})
	if recordErr == nil {
		// "running" only if the job is still "starting": had another
		// process recorded something else meanwhile (say, "stopped"), it
		// would be kept, and the conflict would say what it is.
		_, recordErr = db.UpdateStatusIf(jobdb.Update{SelfID: job.id, Status: "running"},
			jobdb.Filter{Status: "starting"})
		var e *jobdb.Error
		if errors.Is(recordErr, jobdb.ErrConflict) && errors.As(recordErr, &e) && e.Current != nil {
			fmt.Printf("%-7s was %s already; not marked running\n", job.id, e.Current.Status)
			recordErr = nil
		}
	}
	// Wait even when recording failed, so no child is left behind.
	waitErr := cmd.Wait()
	if recordErr != nil {
		return fmt.Errorf("cannot record job %s: %w", job.id, recordErr)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return fmt.Errorf("cannot wait for job %s: %w", job.id, waitErr)
	}

	status := finalStatus(cmd.ProcessState)
	stored, err := db.UpdateStatus(jobdb.Update{
		SelfID:   job.id,
		Status:   status,
		ExitCode: jobdb.Set(exitCode(cmd.ProcessState)),
		EndedAt:  jobdb.Set(time.Now()),
	})
	if err != nil {
		return fmt.Errorf("cannot record job %s as %s: %w", job.id, status, err)
	}
	fmt.Printf("%-7s pid %-7d %-9s%s\n", job.id, pid, status, howEnded(cmd.ProcessState))
	fmt.Printf("        stored: %s\n", describe(stored))
	return nil
}

// startJob starts a job's command with stdout and stderr in the files
// jobdb reads: <logdir>/<id>_out.txt and <logdir>/<id>_errors.txt.
func startJob(job demoJob, logdir string) (*exec.Cmd, error) {
	open := func(suffix string) (*os.File, error) {
		path := filepath.Join(logdir, job.id+suffix)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot open the log file: %w", err)
		}
		return f, nil
	}
	stdout, err := open("_out.txt")
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := open("_errors.txt")
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	// Files, not writers: the child writes to them directly.
	cmd := exec.Command("/bin/sh", "-c", job.command)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start job %s: %w", job.id, err)
	}
	return cmd, nil
}

// finalStatus is "finished" for exit status 0, "failed" for any other or
// a signal.
func finalStatus(state *os.ProcessState) string {
	if state.Success() {
		return "finished"
	}
	return "failed"
}

// exitCode is the exit status, or -N when signal N killed the job (as
// Python's returncode, which the Python demo records).
func exitCode(state *os.ProcessState) int64 {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int64(ws.Signal())
	}
	return int64(state.ExitCode())
}

func howEnded(state *os.ProcessState) string {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("(killed by signal %d)", ws.Signal())
	}
	return fmt.Sprintf("(exit status %d)", state.ExitCode())
}

// ---- Reading back -------------------------------------------------------

// showChanges shows the jobs that changed since cursor, each once, with
// its record as it is now: what a monitor polling with Changes sees.
func showChanges(db *jobdb.DB, cursor string) error {
	fmt.Println("\n== Changed since the demo started (the change feed) ==")
	n := 0
	for {
		set, err := db.Changes(cursor, 100)
		if err != nil {
			return fmt.Errorf("cannot read the change feed: %w", err)
		}
		for _, c := range set.Changes {
			n++
			if c.Job == nil {
				fmt.Printf("%-7s deleted\n", c.SelfID)
			} else {
				fmt.Printf("%-7s now %s\n", c.SelfID, c.Job.Status)
			}
		}
		cursor = set.NextCursor
		if !set.More {
			break
		}
	}
	if n == 0 {
		fmt.Println("(none)")
	}
	return nil
}

func showJobsWithStatus(db *jobdb.DB, status string) error {
	jobs, err := db.ListStatus(jobdb.Filter{Status: status})
	if err != nil {
		return fmt.Errorf("cannot list the jobs with status %s: %w", status, err)
	}
	fmt.Printf("\n== Jobs with status %q ==\n", status)
	if len(jobs) == 0 {
		fmt.Println("(none)")
	}
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Printf("%-7s %s\n", id, describe(jobs[id]))
	}
	return nil
}

// showFailedJobs is a query: the failed jobs, the most recently ended
// first, a page of at most ten, with how they ended and what they ran.
func showFailedJobs(db *jobdb.DB) error {
	failed := jobdb.Filter{Status: "failed"}
	page, err := db.Query(jobdb.Query{
		Filter:     failed,
		OrderBy:    jobdb.ByEndedAt,
		Descending: true,
		Limit:      10,
	})
	if err != nil {
		return fmt.Errorf("cannot query the failed jobs: %w", err)
	}
	nFailed, err := db.Count(failed)
	if err != nil {
		return fmt.Errorf("cannot count the failed jobs: %w", err)
	}
	nAll, err := db.Count(jobdb.Filter{})
	if err != nil {
		return fmt.Errorf("cannot count the jobs: %w", err)
	}
	fmt.Printf("\n== Failed jobs, newest first (%d of %d jobs) ==\n", nFailed, nAll)
	if len(page.Jobs) == 0 {
		fmt.Println("(none)")
	}
	for _, job := range page.Jobs {
		took := "?"
		if job.StartedAt != nil && job.EndedAt != nil {
			took = job.EndedAt.Sub(*job.StartedAt).Round(time.Microsecond).String()
		}
		fmt.Printf("%-7s exit code %s, ended %s after %s\n", job.SelfID,
			optional(job.ExitCode), optionalTime(job.EndedAt), took)
		fmt.Printf("        command: %s\n", optional(job.Command))
		// The last line of its stderr, which usually says why.
		last, err := db.Tail(job.SelfID, jobdb.Stderr, 1)
		switch {
		case errors.Is(err, jobdb.ErrNotFound) || errors.Is(err, jobdb.ErrNoLogs):
			fmt.Println("        no stderr log")
		case err != nil:
			return fmt.Errorf("cannot read the stderr of job %s: %w", job.SelfID, err)
		case last == "":
			fmt.Println("        stderr is empty")
		default:
			fmt.Printf("        last stderr line: %s\n", strings.ToValidUTF8(strings.TrimSuffix(last, "\n"), "\uFFFD"))
		}
	}
	if page.NextCursor != "" {
		fmt.Println("(more: set page.NextCursor as the Query's Cursor for the next page)")
	}
	return nil
}

// showRecentJobs lists every job that ended since `since`, newest first,
// read two at a time by an Iterator: a time window on ended_at.
func showRecentJobs(db *jobdb.DB, since time.Time) error {
	fmt.Printf("\n== Jobs ended since %s, newest first ==\n", since.UTC().Format(timeFormat))
	it := db.Iterate(jobdb.Query{
		Filter:     jobdb.Filter{EndedAt: jobdb.Gte(since)},
		OrderBy:    jobdb.ByEndedAt,
		Descending: true,
		Limit:      2, // jobs per page; the iterator fetches the next pages
	})
	for it.Next() {
		job := it.Job()
		fmt.Printf("%-7s %-9s exit code %s, created %s\n", job.SelfID, job.Status,
			optional(job.ExitCode), optionalTime(job.CreatedAt))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("cannot query the recent jobs: %w", err)
	}
	return nil
}

// timeFormat shows times as jobdb stores them: UTC, to the microsecond.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// optional shows a nullable field's value, or "none".
func optional[T any](p *T) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(timeFormat)
}

func showJobLogs(db *jobdb.DB, id string) error {
	logs, err := db.JobLogs(id)
	if err != nil {
		return fmt.Errorf("cannot read the logs of job %s: %w", id, err)
	}
	fmt.Printf("\n== Logs of job %q ==\n", id)
	showLog("stdout", logs.Stdout)
	showLog("stderr", logs.Stderr)
	return nil
}

func showLog(name string, log jobdb.Log) {
	switch {
	case log.Err != nil:
		fmt.Printf("%s: %s: not read: %v\n", name, log.Path, log.Err)
		return
	case log.Size == 0:
		fmt.Printf("%s: %s: empty\n", name, log.Path)
		return
	}
	note := ""
	if log.InvalidUTF8 {
		note = ", bytes that are not UTF-8 shown as \uFFFD"
	}
	fmt.Printf("%s: %s: %d bytes%s\n", name, log.Path, log.Size, note)
	for _, line := range strings.SplitAfter(log.Text, "\n") {
		if line != "" {
			fmt.Printf("    | %s", strings.TrimSuffix(line, "\n")+"\n")
		}
	}
}

// describe is a job record on one line.
func describe(job jobdb.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status=%s", job.Status)
	if job.LastPID != nil {
		fmt.Fprintf(&b, " pid=%d", *job.LastPID)
	}
	if job.ExitCode != nil {
		fmt.Fprintf(&b, " exit=%d", *job.ExitCode)
	}
	if job.StartedAt != nil && job.EndedAt != nil {
		fmt.Fprintf(&b, " ran=%s", job.EndedAt.Sub(*job.StartedAt).Round(time.Millisecond))
	}
	if !job.LastUpdate.IsZero() {
		fmt.Fprintf(&b, " updated=%s", job.LastUpdate.Format(timeFormat))
	}
	if job.Cwd != nil {
		fmt.Fprintf(&b, " cwd=%s", *job.Cwd)
	}
	if job.Logdir != nil && job.Logfile != nil {
		fmt.Fprintf(&b, " logs=%s/%s_{out,errors}.txt", *job.Logdir, *job.Logfile)
	}
	return b.String()
}
