package jobdb

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ---- helpers ------------------------------------------------------------

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func mustUpdate(t *testing.T, db *DB, u Update) Job {
	t.Helper()
	job, err := db.UpdateStatus(u)
	if err != nil {
		t.Fatalf("UpdateStatus(%+v): %v", u, err)
	}
	return job
}

func mustGet(t *testing.T, db *DB, id string) Job {
	t.Helper()
	job, err := db.GetStatus(id)
	if err != nil {
		t.Fatalf("GetStatus(%q): %v", id, err)
	}
	return job
}

// wantErr checks that err matches sentinel and, when field is not empty,
// that it names that field. It returns the *Error.
func wantErr(t *testing.T, err error, sentinel *Error, field string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", sentinel.Name)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %s", err, sentinel.Name)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not an *Error", err, err)
	}
	if e.Name != sentinel.Name || e.Message == "" {
		t.Errorf("error %#v: want name %s and a message", e, sentinel.Name)
	}
	if field != "" && e.Field != field {
		t.Errorf("error %v names field %q, want %q", e, e.Field, field)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

func strp(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// sqlite runs SQL on jobs.db in folder dir with the sqlite3 tool.
func sqlite(t *testing.T, dir, sql string) string {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 command-line tool is not installed")
	}
	out, err := exec.Command("sqlite3", filepath.Join(dir, "jobs.db"), sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %q: %v: %s", sql, err, out)
	}
	return string(out)
}

// ---- library basics -----------------------------------------------------

func TestVersionAndCodeNames(t *testing.T) {
	if v := Version(); v == "" || strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q, want x.y.z", v)
	}
	for code := -1; code <= CodeConflict+1; code++ {
		if got, want := CodeName(code), libraryCodeName(code); got != want {
			t.Errorf("CodeName(%d) = %q, library says %q", code, got, want)
		}
	}
	sentinels := []*Error{nil, ErrInvalidArgument, ErrMalformedJSON, ErrSchema,
		ErrNotFound, ErrBusy, ErrIO, ErrDatabase, ErrCorrupt, ErrNoLogs,
		ErrTooLarge, ErrInternal, ErrConflict}
	for code, s := range sentinels {
		if s != nil && (s.Code != code || s.Name != libraryCodeName(code)) {
			t.Errorf("sentinel %v has code %d, want %d", s, s.Code, code)
		}
	}
}

func TestErrorsIsComparesCodes(t *testing.T) {
	err := error(&Error{Code: CodeNotFound, Name: "JOBDB_ERR_NOT_FOUND", Message: "no job"})
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrBusy) || errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is on %v is wrong", err)
	}
	wrapped := fmt.Errorf("context: %w", err)
	if !errors.Is(wrapped, ErrNotFound) {
		t.Errorf("a wrapped not-found error does not match ErrNotFound")
	}
	if got := err.Error(); got != "jobdb: JOBDB_ERR_NOT_FOUND: no job" {
		t.Errorf("Error() = %q", got)
	}
}

// ---- happy path ---------------------------------------------------------

func TestUpdateAndGet(t *testing.T) {
	db, _ := openTemp(t)

	before := time.Now().Add(-time.Second)
	job := mustUpdate(t, db, Update{
		SelfID:  "build-42",
		Status:  "running",
		LastPID: Set[int64](4242),
		Dirname: Set("build"),
		Cwd:     Set("/srv/ci"),
		Logdir:  Set("/srv/ci/logs"),
		Logfile: Set("build-42"),
	})
	after := time.Now().Add(time.Second)

	if job.SelfID != "build-42" || job.Status != "running" {
		t.Errorf("stored %+v", job)
	}
	if job.LastPID == nil || *job.LastPID != 4242 {
		t.Errorf("LastPID = %v, want 4242", job.LastPID)
	}
	if strp(job.Dirname) != "build" || strp(job.Cwd) != "/srv/ci" ||
		strp(job.Logdir) != "/srv/ci/logs" || strp(job.Logfile) != "build-42" {
		t.Errorf("text fields %s %s %s %s", strp(job.Dirname), strp(job.Cwd),
			strp(job.Logdir), strp(job.Logfile))
	}
	if job.LastUpdate.Before(before) || job.LastUpdate.After(after) {
		t.Errorf("LastUpdate %v is not about now", job.LastUpdate)
	}
	if job.LastUpdate.Location() != time.UTC {
		t.Errorf("LastUpdate %v is not in UTC", job.LastUpdate)
	}
	if job.Extra != nil {
		t.Errorf("Extra = %v, want nil", job.Extra)
	}

	got := mustGet(t, db, "build-42")
	if !jobsEqual(got, job) {
		t.Errorf("GetStatus = %+v, want %+v", got, job)
	}
}

func jobsEqual(a, b Job) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestTimestampsAreUTCMicroseconds(t *testing.T) {
	db, _ := openTemp(t)

	// 14:00:00.123456789 at +02:00 is 12:00:00.123456 UTC, nanoseconds
	// dropped.
	paris := time.FixedZone("+02", 2*60*60)
	sent := time.Date(2024, 5, 1, 14, 0, 0, 123456789, paris)
	job := mustUpdate(t, db, Update{SelfID: "t", Status: "running", LastUpdate: sent})
	want := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	if !job.LastUpdate.Equal(want) || job.LastUpdate.Location() != time.UTC {
		t.Errorf("LastUpdate = %v, want %v", job.LastUpdate, want)
	}

	text, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), `"last_update":"2024-05-01T12:00:00.123456Z"`) {
		t.Errorf("Job JSON %s lacks jobdb's timestamp form", text)
	}

	// A whole second comes back with six zero digits.
	job = mustUpdate(t, db, Update{SelfID: "t", LastUpdate: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)})
	if got := job.LastUpdate.Format(timeLayout); got != "2030-01-02T03:04:05.000000Z" {
		t.Errorf("LastUpdate = %s", got)
	}
}

func TestPartialUpdatesAndNull(t *testing.T) {
	db, _ := openTemp(t)

	mustUpdate(t, db, Update{
		SelfID: "j", Status: "starting", LastPID: Set[int64](10),
		Cwd: Set("/a"), Logdir: Set("/logs"), Logfile: Set("j"),
	})

	// Status alone: everything else kept.
	job := mustUpdate(t, db, Update{SelfID: "j", Status: "running"})
	if job.Status != "running" || job.LastPID == nil || *job.LastPID != 10 ||
		strp(job.Cwd) != "/a" || strp(job.Logdir) != "/logs" || strp(job.Logfile) != "j" {
		t.Errorf("after a status update: %+v", job)
	}

	// A field alone, without a status: the status is kept.
	job = mustUpdate(t, db, Update{SelfID: "j", LastPID: Set[int64](-7)})
	if job.Status != "running" || *job.LastPID != -7 {
		t.Errorf("after a pid update: %+v", job)
	}

	// Null clears; the others stay.
	job = mustUpdate(t, db, Update{SelfID: "j", LastPID: Null[int64](), Cwd: Null[string]()})
	if job.LastPID != nil || job.Cwd != nil || strp(job.Logdir) != "/logs" {
		t.Errorf("after clearing: pid %v cwd %v logdir %v", job.LastPID, job.Cwd, strp(job.Logdir))
	}
	got := mustGet(t, db, "j")
	if !jobsEqual(got, job) {
		t.Errorf("GetStatus = %+v, want %+v", got, job)
	}

	// The extremes of int64 pass unrounded; an empty string is a value.
	job = mustUpdate(t, db, Update{SelfID: "j", LastPID: Set[int64](-1 << 63), Dirname: Set("")})
	if *job.LastPID != -1<<63 || job.Dirname == nil || *job.Dirname != "" {
		t.Errorf("pid %d dirname %v", *job.LastPID, job.Dirname)
	}
	job = mustUpdate(t, db, Update{SelfID: "j", LastPID: Set[int64](1<<63 - 1)})
	if *job.LastPID != 1<<63-1 {
		t.Errorf("pid %d", *job.LastPID)
	}

	// Copying a record's fields with SetOrNull.
	job = mustUpdate(t, db, Update{SelfID: "copy", Status: job.Status,
		Cwd: SetOrNull(job.Cwd), Logdir: SetOrNull(job.Logdir)})
	if job.Cwd != nil || strp(job.Logdir) != "/logs" {
		t.Errorf("copy: %+v", job)
	}

	// Text beyond ASCII, quotes and control characters round-trip.
	odd := "naïve \"quoted\" \\ back\nslash <&> \u2603 \U0001F600 \x01"
	job = mustUpdate(t, db, Update{SelfID: odd, Status: odd, Cwd: Set(odd)})
	if job.SelfID != odd || job.Status != odd || strp(job.Cwd) != odd {
		t.Errorf("odd text came back as %q %q %q", job.SelfID, job.Status, strp(job.Cwd))
	}
	if got := mustGet(t, db, odd); got.SelfID != odd {
		t.Errorf("GetStatus(odd) = %q", got.SelfID)
	}
}

func TestListStatusFilters(t *testing.T) {
	db, _ := openTemp(t)

	t0 := time.Date(2024, 5, 1, 12, 0, 0, 250000000, time.UTC)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running", LastPID: Set[int64](1), Cwd: Set("/srv"), LastUpdate: t0})
	mustUpdate(t, db, Update{SelfID: "b", Status: "running", LastPID: Set[int64](2), Cwd: Set("/tmp")})
	mustUpdate(t, db, Update{SelfID: "c", Status: "failed", Cwd: Set("/srv"), Logdir: Set("/logs")})
	mustUpdate(t, db, Update{SelfID: "d", Status: "finished", LastPID: Set[int64](1)})

	cases := []struct {
		name   string
		filter Filter
		want   string
	}{
		{"everything", Filter{}, "a b c d"},
		{"status", Filter{Status: "running"}, "a b"},
		{"status and cwd", Filter{Status: "running", Cwd: Set("/srv")}, "a"},
		{"cwd", Filter{Cwd: Set("/srv")}, "a c"},
		{"pid", Filter{LastPID: Set[int64](1)}, "a d"},
		{"pid null", Filter{LastPID: Null[int64]()}, "c"},
		{"logdir null", Filter{Logdir: Null[string]()}, "a b d"},
		{"dirname null", Filter{Dirname: Null[string]()}, "a b c d"},
		{"self_id", Filter{SelfID: "c"}, "c"},
		{"last_update in another zone", Filter{LastUpdate: Set(t0.In(time.FixedZone("-5", -5*3600)))}, "a"},
		{"no match", Filter{Status: "stopped"}, ""},
	}
	for _, c := range cases {
		jobs, err := db.ListStatus(c.filter)
		if err != nil {
			t.Errorf("%s: ListStatus: %v", c.name, err)
			continue
		}
		if jobs == nil {
			t.Errorf("%s: nil map", c.name)
		}
		var ids []string
		for id, job := range jobs {
			if id != job.SelfID {
				t.Errorf("%s: key %q holds job %q", c.name, id, job.SelfID)
			}
			ids = append(ids, id)
		}
		sortStrings(ids)
		if got := strings.Join(ids, " "); got != c.want {
			t.Errorf("%s: got [%s], want [%s]", c.name, got, c.want)
		}
	}

	all, _ := db.ListStatus(Filter{})
	if a := all["a"]; !a.LastUpdate.Equal(t0) || *a.LastPID != 1 || strp(a.Cwd) != "/srv" {
		t.Errorf("listed a = %+v", a)
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestJobLogs(t *testing.T) {
	db, _ := openTemp(t)
	logdir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(logdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Text on stdout; no stderr file at all.
	write("text_out.txt", []byte("line one\nline two\n"))
	mustUpdate(t, db, Update{SelfID: "text", Status: "finished", Logdir: Set(logdir), Logfile: Set("text")})
	logs, err := db.JobLogs("text")
	if err != nil {
		t.Fatal(err)
	}
	if logs.SelfID != "text" {
		t.Errorf("SelfID = %q", logs.SelfID)
	}
	out := logs.Stdout
	if out.Err != nil || out.Text != "line one\nline two\n" || out.Size != 18 || out.InvalidUTF8 ||
		out.Path != filepath.Join(logdir, "text_out.txt") {
		t.Errorf("stdout = %+v", out)
	}
	errLog := logs.Stderr
	wantErr(t, errLog.Err, ErrNotFound, "")
	if errLog.Text != "" || errLog.Size != 0 || errLog.Path != filepath.Join(logdir, "text_errors.txt") {
		t.Errorf("missing stderr = %+v", errLog)
	}

	// An empty file is read, as "".
	write("empty_out.txt", nil)
	write("empty_errors.txt", nil)
	mustUpdate(t, db, Update{SelfID: "empty", Status: "finished", Logdir: Set(logdir), Logfile: Set("empty")})
	logs, err = db.JobLogs("empty")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Log{logs.Stdout, logs.Stderr} {
		if l.Err != nil || l.Text != "" || l.Size != 0 || l.InvalidUTF8 {
			t.Errorf("empty log = %+v", l)
		}
	}

	// Bytes that are not UTF-8 are replaced and flagged.
	write("bin_out.txt", []byte("Not UTF-8: \xff\xfe (end)\n"))
	write("bin_errors.txt", []byte("ok\x00nul\n"))
	mustUpdate(t, db, Update{SelfID: "bin", Status: "finished", Logdir: Set(logdir), Logfile: Set("bin")})
	logs, err = db.JobLogs("bin")
	if err != nil {
		t.Fatal(err)
	}
	if l := logs.Stdout; l.Err != nil || !l.InvalidUTF8 || l.Size != 20 ||
		l.Text != "Not UTF-8: \uFFFD\uFFFD (end)\n" {
		t.Errorf("invalid UTF-8 log = %+v", l)
	}
	if l := logs.Stderr; l.Err != nil || l.InvalidUTF8 || l.Text != "ok\x00nul\n" {
		t.Errorf("log with NUL = %+v", l)
	}

	// Too large (a sparse file), and a directory where a file should be.
	big, err := os.Create(filepath.Join(logdir, "big_out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(16<<20 + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	if err := os.Mkdir(filepath.Join(logdir, "big_errors.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "big", Status: "finished", Logdir: Set(logdir), Logfile: Set("big")})
	logs, err = db.JobLogs("big")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, logs.Stdout.Err, ErrTooLarge, "")
	wantErr(t, logs.Stderr.Err, ErrIO, "")

	// A job without log places, and no job at all.
	mustUpdate(t, db, Update{SelfID: "nologs", Status: "running", Logdir: Set(logdir)})
	_, err = db.JobLogs("nologs")
	wantErr(t, err, ErrNoLogs, "logfile")
	_, err = db.JobLogs("nobody")
	wantErr(t, err, ErrNotFound, "")
	_, err = db.JobLogs("")
	wantErr(t, err, ErrInvalidArgument, "")
}

// Fields that another program stored are kept and returned in Extra, and
// a key that differs from a known field only in case does not shadow it.
func TestExtraFieldsFromOtherPrograms(t *testing.T) {
	db, dir := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "x", Status: "running"})
	sqlite(t, dir, `UPDATE process_status SET value = json_set(value,
		'$.owner', 'ops', '$.STATUS', 'shadow', '$.tags', json('[1,"two"]'))
		WHERE json_extract(value, '$.self_id') = 'x';`)

	job := mustGet(t, db, "x")
	if job.Status != "running" {
		t.Errorf("Status = %q: an extra field shadowed it", job.Status)
	}
	want := map[string]string{"owner": `"ops"`, "STATUS": `"shadow"`, "tags": `[1,"two"]`}
	if len(job.Extra) != len(want) {
		t.Errorf("Extra = %v, want %v", job.Extra, want)
	}
	for k, v := range want {
		if string(job.Extra[k]) != v {
			t.Errorf("Extra[%q] = %s, want %s", k, job.Extra[k], v)
		}
	}

	job = mustUpdate(t, db, Update{SelfID: "x", Status: "finished"})
	if string(job.Extra["owner"]) != `"ops"` || job.Status != "finished" {
		t.Errorf("after an update: %+v", job)
	}

	text, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var back Job
	if err := json.Unmarshal(text, &back); err != nil || !jobsEqual(back, job) {
		t.Errorf("round trip of %s: %+v, %v", text, back, err)
	}
	if !strings.HasPrefix(string(text), `{"self_id":"x","status":"finished","last_update":"`) ||
		!strings.HasSuffix(string(text), `"logfile":null,"exit_code":null,"command":null,"created_at":"`+
			job.CreatedAt.Format(timeLayout)+`","started_at":null,"ended_at":null,"metadata":null,`+
			`"STATUS":"shadow","owner":"ops","tags":[1,"two"]}`) {
		t.Errorf("Job JSON = %s", text)
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{}, `{}`},
		{Options{BusyTimeout: 1500 * time.Millisecond}, `{"busy_timeout_ms":1500}`},
		{Options{BusyTimeout: time.Microsecond}, `{"busy_timeout_ms":1}`},
		{Options{BusyTimeout: -1}, `{"busy_timeout_ms":0}`},
		{Options{Synchronous: SyncFull}, `{"synchronous":"full"}`},
		{Options{BusyTimeout: time.Second, Synchronous: SyncNormal}, `{"busy_timeout_ms":1000,"synchronous":"normal"}`},
	}
	for _, c := range cases {
		got, err := c.opts.MarshalJSON()
		if err != nil || string(got) != c.want {
			t.Errorf("%+v: %s, %v; want %s", c.opts, got, err, c.want)
		}
	}

	dir := filepath.Join(t.TempDir(), "db")
	db, err := OpenWithOptions(dir, Options{BusyTimeout: 250 * time.Millisecond, Synchronous: SyncFull})
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})
	db.Close()

	_, err = OpenWithOptions(dir, Options{Synchronous: "fast"})
	wantErr(t, err, ErrSchema, "synchronous")
	_, err = OpenWithOptions(dir, Options{BusyTimeout: 1000 * time.Hour})
	wantErr(t, err, ErrSchema, "busy_timeout_ms")
}

// Two handles, even in one process, see each other's writes.
func TestTwoHandlesShareOneFolder(t *testing.T) {
	a, dir := openTemp(t)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mustUpdate(t, a, Update{SelfID: "shared", Status: "running", Cwd: Set("/a")})
	mustUpdate(t, b, Update{SelfID: "shared", LastPID: Set[int64](5)})
	job := mustGet(t, a, "shared")
	if strp(job.Cwd) != "/a" || job.LastPID == nil || *job.LastPID != 5 {
		t.Errorf("merged record %+v", job)
	}
}

// ---- every error kind that can be provoked --------------------------------

func TestErrorNotFound(t *testing.T) {
	db, _ := openTemp(t)
	_, err := db.GetStatus("nobody")
	e := wantErr(t, err, ErrNotFound, "")
	if !strings.Contains(e.Message, "nobody") {
		t.Errorf("message %q does not name the job", e.Message)
	}
}

func TestErrorInvalidArgument(t *testing.T) {
	db, dir := openTemp(t)

	// Found by the library.
	_, err := db.GetStatus("")
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = db.GetStatus("\xff\xfe")
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = Open("")
	wantErr(t, err, ErrInvalidArgument, "")

	// Found here: C would cut a string at its NUL and ask about another
	// job or folder; encoding/json would replace bytes that are not UTF-8.
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})
	_, err = db.GetStatus("a\x00b")
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = db.JobLogs("a\x00")
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = Open(dir + "\x00/elsewhere")
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"a","status":"x"}` + "\x00garbage"))
	wantErr(t, err, ErrInvalidArgument, "")
	_, err = db.UpdateStatus(Update{SelfID: "a", Cwd: Set("bad \xff")})
	wantErr(t, err, ErrInvalidArgument, "cwd")
	_, err = db.ListStatus(Filter{Status: "\xc3"})
	wantErr(t, err, ErrInvalidArgument, "status")

	if job := mustGet(t, db, "a"); job.Status != "running" || job.Cwd != nil {
		t.Errorf("a refused update changed the job: %+v", job)
	}
}

func TestErrorSchema(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})

	_, err := db.UpdateStatus(Update{Status: "running"})
	wantErr(t, err, ErrSchema, "self_id")
	_, err = db.UpdateStatus(Update{SelfID: "new"})
	wantErr(t, err, ErrSchema, "status")
	_, err = db.UpdateStatus(Update{SelfID: "a", LastUpdate: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)})
	wantErr(t, err, ErrSchema, "last_update")
	_, err = db.UpdateStatus(Update{SelfID: "a", LastUpdate: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	wantErr(t, err, ErrSchema, "last_update")
	_, err = db.UpdateStatus(Update{SelfID: "a", Cwd: Set("nul\x00inside")})
	wantErr(t, err, ErrSchema, "cwd")
	_, err = db.ListStatus(Filter{LastUpdate: Set(time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC))})
	wantErr(t, err, ErrSchema, "last_update")

	// Through the raw escape hatch.
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"a","stauts":"running"}`))
	wantErr(t, err, ErrSchema, "stauts")
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"a","status":"x","status":"y"}`))
	wantErr(t, err, ErrSchema, "status")
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"a","last_pid":1.5}`))
	wantErr(t, err, ErrSchema, "last_pid")
	_, err = db.UpdateStatusJSON([]byte(`["self_id"]`))
	wantErr(t, err, ErrSchema, "")

	// The raw hatch works for valid records too.
	job, err := db.UpdateStatusJSON([]byte(`{"self_id":"a","last_pid":77,"cwd":null}`))
	if err != nil || *job.LastPID != 77 || job.Status != "running" {
		t.Errorf("raw update: %+v, %v", job, err)
	}
}

func TestErrorMalformedJSON(t *testing.T) {
	db, _ := openTemp(t)
	for _, bad := range []string{``, `{"self_id":`, `{"self_id" "a"}`, `{'self_id': 'a'}`,
		strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)} {
		_, err := db.UpdateStatusJSON([]byte(bad))
		wantErr(t, err, ErrMalformedJSON, "")
	}
}

func TestErrorTooLargeInput(t *testing.T) {
	db, _ := openTemp(t)
	huge := make([]byte, 64<<20+1)
	copy(huge, `{"self_id":"a","status":"`)
	for i := 25; i < len(huge); i++ {
		huge[i] = 'x'
	}
	_, err := db.UpdateStatusJSON(huge)
	wantErr(t, err, ErrTooLarge, "")
}

// Another process holds the write lock (sqlite3's BEGIN IMMEDIATE) for
// longer than the busy timeout: writes fail with ErrBusy, reads go on.
func TestErrorBusy(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 command-line tool is not installed")
	}
	dir := filepath.Join(t.TempDir(), "db")
	db, err := OpenWithOptions(dir, Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})

	cmd := exec.Command("sqlite3", filepath.Join(dir, "jobs.db"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Write([]byte("ROLLBACK;\n"))
		stdin.Close()
		cmd.Wait()
	}()
	if _, err := stdin.Write([]byte("BEGIN IMMEDIATE;\nSELECT 'locked';\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("sqlite3 answered %q, %v", line, err)
	}

	start := time.Now()
	_, err = db.UpdateStatus(Update{SelfID: "a", Status: "stopped"})
	waited := time.Since(start)
	wantErr(t, err, ErrBusy, "")
	if waited < 90*time.Millisecond || waited > 5*time.Second {
		t.Errorf("gave up after %v with a 100ms busy timeout", waited)
	}

	noWait, err := OpenWithOptions(dir, Options{BusyTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer noWait.Close()
	start = time.Now()
	_, err = noWait.UpdateStatus(Update{SelfID: "a", Status: "stopped"})
	wantErr(t, err, ErrBusy, "")
	if waited := time.Since(start); waited > 80*time.Millisecond {
		t.Errorf("a zero busy timeout waited %v", waited)
	}

	// WAL: readers do not wait for the writer.
	if job := mustGet(t, db, "a"); job.Status != "running" {
		t.Errorf("status = %q, want the committed running", job.Status)
	}
}

func TestErrorCorrupt(t *testing.T) {
	// A jobs.db that is not SQLite.
	dir := t.TempDir()
	junk := []byte(strings.Repeat("this is not a SQLite database\n", 200))
	if err := os.WriteFile(filepath.Join(dir, "jobs.db"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	wantErr(t, err, ErrCorrupt, "")

	// A row that is not a job record: listing everything fails, naming
	// the row; the other job can still be read.
	db, dbdir := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "good", Status: "running"})
	sqlite(t, dbdir, `INSERT INTO process_status VALUES ('bad', '{"self_id": "bad", "last_pid": "many"}');`)
	_, err = db.ListStatus(Filter{})
	e := wantErr(t, err, ErrCorrupt, "")
	if !strings.Contains(e.Message, "bad") {
		t.Errorf("message %q does not name the row", e.Message)
	}
	mustGet(t, db, "good")
}

func TestErrorIO(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(filepath.Join(file, "db"))
	wantErr(t, err, ErrIO, "")
}

// ErrDatabase and ErrInternal cannot be provoked from outside: the first
// is "any other SQLite error", the second a bug in jobdb. ErrNoLogs and
// ErrTooLarge for logs are in TestJobLogs.

func TestClosed(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	var nilDB *DB
	for _, d := range []*DB{db, nilDB} {
		_, err1 := d.GetStatus("a")
		_, err2 := d.UpdateStatus(Update{SelfID: "a", Status: "x"})
		_, err3 := d.ListStatus(Filter{})
		_, err4 := d.JobLogs("a")
		_, err5 := d.UpdateStatusJSON([]byte(`{}`))
		_, err6 := d.Query(Query{})
		_, err7 := d.Count(Filter{})
		it := d.Iterate(Query{})
		if it.Next() {
			t.Errorf("an iterator on a closed DB returned %+v", it.Job())
		}
		err8 := it.Err()
		_, err9 := d.UpdateStatusIf(Update{SelfID: "a", Status: "x"}, Filter{})
		_, err10 := d.UpdateMany([]Update{{SelfID: "a", Status: "x"}})
		_, err11 := d.Delete(DeleteRequest{All: true})
		_, err12 := d.ReadLog(LogRequest{SelfID: "a", Stream: Stdout})
		_, err13 := d.Tail("a", Stdout, 10)
		_, err14 := d.Changes("", 0)
		for i, err := range []error{err1, err2, err3, err4, err5, err6, err7, err8,
			err9, err10, err11, err12, err13, err14} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("call %d on a closed DB: %v, want ErrClosed", i, err)
			}
			wantErr(t, err, ErrInvalidArgument, "")
		}
	}
	if err := nilDB.Close(); err != nil {
		t.Errorf("Close on a nil DB: %v", err)
	}
	if _, err := db.GetStatus(""); errors.Is(err, ErrNotFound) {
		t.Errorf("a closed DB reached the library: %v", err)
	}

	// Other invalid-argument errors are not ErrClosed.
	db2, _ := openTemp(t)
	if _, err := db2.GetStatus(""); errors.Is(err, ErrClosed) {
		t.Errorf("%v matches ErrClosed", err)
	}
}
