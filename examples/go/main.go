// trackjobs is jobdb's demo in Go, the counterpart of
// examples/track_jobs.c. It runs three real shell commands, records the
// life of each in a jobdb database, then lists the jobs by status and
// prints their logs.
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

	fmt.Printf("\n== Running %d jobs ==\n", len(demoJobs))
	for _, job := range demoJobs {
		if err := runJob(db, job, p); err != nil {
			return err
		}
	}

	for _, status := range []string{"finished", "failed"} {
		if err := showJobsWithStatus(db, status); err != nil {
			return err
		}
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
// starting (with its pid and places), running, then finished or failed.
func runJob(db *jobdb.DB, job demoJob, p places) error {
	cmd, err := startJob(job, p.logdir)
	if err != nil {
		return err
	}
	pid := int64(cmd.Process.Pid)

	_, recordErr := db.UpdateStatus(jobdb.Update{
		SelfID:  job.id,
		Status:  "starting",
		LastPID: jobdb.Set(pid),
		Cwd:     jobdb.Set(p.cwd),
		Logdir:  jobdb.Set(p.logdir),
		Logfile: jobdb.Set(job.id),
	})
	if recordErr == nil {
		_, recordErr = db.UpdateStatus(jobdb.Update{SelfID: job.id, Status: "running"})
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
	stored, err := db.UpdateStatus(jobdb.Update{SelfID: job.id, Status: status})
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

func howEnded(state *os.ProcessState) string {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("(killed by signal %d)", ws.Signal())
	}
	return fmt.Sprintf("(exit status %d)", state.ExitCode())
}

// ---- Reading back -------------------------------------------------------

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
	if !job.LastUpdate.IsZero() {
		fmt.Fprintf(&b, " updated=%s", job.LastUpdate.Format("2006-01-02T15:04:05.000000Z07:00"))
	}
	if job.Cwd != nil {
		fmt.Fprintf(&b, " cwd=%s", *job.Cwd)
	}
	if job.Logdir != nil && job.Logfile != nil {
		fmt.Fprintf(&b, " logs=%s/%s_{out,errors}.txt", *job.Logdir, *job.Logfile)
	}
	return b.String()
}
