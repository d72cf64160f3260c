package jobdb

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// ---- helpers ------------------------------------------------------------

// ids lists the self_ids of jobs, in their order.
func ids(jobs []Job) string {
	out := make([]string, len(jobs))
	for i, job := range jobs {
		out[i] = job.SelfID
	}
	return strings.Join(out, " ")
}

// listed lists the self_ids ListStatus returns for f, sorted.
func listed(t *testing.T, db *DB, f Filter) (string, error) {
	t.Helper()
	jobs, err := db.ListStatus(f)
	if err != nil {
		return "", err
	}
	out := make([]string, 0, len(jobs))
	for id := range jobs {
		out = append(out, id)
	}
	sort.Strings(out)
	return strings.Join(out, " "), nil
}

func mustQuery(t *testing.T, db *DB, q Query) Page {
	t.Helper()
	page, err := db.Query(q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return page
}

// allPages follows the cursors of q from its first page to its last and
// returns every job, checking that only the last page lacks a cursor.
func allPages(t *testing.T, db *DB, q Query) []Job {
	t.Helper()
	var all []Job
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("more than 1000 pages")
		}
		page := mustQuery(t, db, q)
		if q.Limit > 0 && len(page.Jobs) > q.Limit {
			t.Fatalf("a page of %d jobs with limit %d", len(page.Jobs), q.Limit)
		}
		all = append(all, page.Jobs...)
		if page.NextCursor == "" {
			return all
		}
		if len(page.Jobs) != q.Limit {
			t.Fatalf("a page of %d jobs, not the limit %d, has a next cursor", len(page.Jobs), q.Limit)
		}
		q.Cursor = page.NextCursor
	}
}

// ---- the new record fields ------------------------------------------------

func TestNewFieldsRoundTrip(t *testing.T) {
	db, _ := openTemp(t)

	zone := time.FixedZone("+05:30", 5*3600+1800)
	started := time.Date(2024, 5, 1, 17, 30, 0, 123456789, zone) // 12:00:00.123456Z
	ended := time.Date(2024, 5, 1, 12, 5, 0, 0, time.UTC)
	before := time.Now().Add(-time.Second)
	job := mustUpdate(t, db, Update{
		SelfID:    "j",
		Status:    "running",
		ExitCode:  Set[int64](-1),
		Command:   Set("make test ARGS='a \"b\"'"),
		StartedAt: Set(started),
		EndedAt:   Set(ended),
		Metadata: Set(map[string]any{
			"owner":   "ops",
			"retries": 3,
			"big":     int64(1<<62 + 1),
			"nested":  map[string]any{"list": []any{1, "two", nil, true}},
			"html":    "<&>",
		}),
	})
	after := time.Now().Add(time.Second)

	if job.ExitCode == nil || *job.ExitCode != -1 || strp(job.Command) != "make test ARGS='a \"b\"'" {
		t.Errorf("exit code %v, command %s", job.ExitCode, strp(job.Command))
	}
	wantStarted := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	if job.StartedAt == nil || !job.StartedAt.Equal(wantStarted) || job.StartedAt.Location() != time.UTC {
		t.Errorf("StartedAt = %v, want %v in UTC", job.StartedAt, wantStarted)
	}
	if job.EndedAt == nil || !job.EndedAt.Equal(ended) {
		t.Errorf("EndedAt = %v, want %v", job.EndedAt, ended)
	}
	if job.CreatedAt == nil || job.CreatedAt.Before(before) || job.CreatedAt.After(after) ||
		job.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt = %v, not about now in UTC", job.CreatedAt)
	}
	if job.Extra != nil {
		t.Errorf("Extra = %v, want nil: a new field landed there", job.Extra)
	}
	wantMeta := map[string]any{
		"owner":   "ops",
		"retries": json.Number("3"),
		"big":     json.Number("4611686018427387905"),
		"nested":  map[string]any{"list": []any{json.Number("1"), "two", nil, true}},
		"html":    "<&>",
	}
	if !reflect.DeepEqual(job.Metadata, wantMeta) {
		t.Errorf("Metadata = %#v, want %#v", job.Metadata, wantMeta)
	}
	if n, err := job.Metadata["big"].(json.Number).Int64(); err != nil || n != 1<<62+1 {
		t.Errorf("big = %d, %v: not exact", n, err)
	}
	if got := mustGet(t, db, "j"); !jobsEqual(got, job) {
		t.Errorf("GetStatus = %+v, want %+v", got, job)
	}
	created := *job.CreatedAt

	// Later updates change last_update, never created_at; fields left out
	// are kept.
	time.Sleep(5 * time.Millisecond)
	job = mustUpdate(t, db, Update{SelfID: "j", Status: "finished", ExitCode: Set[int64](0)})
	if !job.CreatedAt.Equal(created) || !job.LastUpdate.After(created) {
		t.Errorf("after an update: created %v (was %v), updated %v", job.CreatedAt, created, job.LastUpdate)
	}
	if *job.ExitCode != 0 || strp(job.Command) == "<nil>" || job.StartedAt == nil ||
		!reflect.DeepEqual(job.Metadata, wantMeta) {
		t.Errorf("an update lost fields: %+v", job)
	}

	// Metadata is replaced as a whole, not merged.
	job = mustUpdate(t, db, Update{SelfID: "j", Metadata: Set(map[string]any{"owner": "dev"})})
	if !reflect.DeepEqual(job.Metadata, map[string]any{"owner": "dev"}) {
		t.Errorf("replaced Metadata = %v", job.Metadata)
	}
	// A json.RawMessage goes in as it is; a nil map is {}.
	job = mustUpdate(t, db, Update{SelfID: "j", Metadata: Set(map[string]any{"raw": json.RawMessage(`[1.5e3, "x"]`)})})
	raw, _ := job.Metadata["raw"].([]any)
	if len(raw) != 2 || raw[1] != "x" {
		t.Fatalf("raw Metadata = %#v", job.Metadata)
	}
	if f, err := raw[0].(json.Number).Float64(); err != nil || f != 1500 {
		t.Errorf("raw Metadata number = %v, %v", raw[0], err)
	}
	job = mustUpdate(t, db, Update{SelfID: "j", Metadata: Set[map[string]any](nil)})
	if job.Metadata == nil || len(job.Metadata) != 0 {
		t.Errorf("Set(nil) Metadata = %#v, want an empty map", job.Metadata)
	}

	// Null clears every nullable new field.
	job = mustUpdate(t, db, Update{SelfID: "j", ExitCode: Null[int64](), Command: Null[string](),
		StartedAt: Null[time.Time](), EndedAt: Null[time.Time](), Metadata: Null[map[string]any]()})
	if job.ExitCode != nil || job.Command != nil || job.StartedAt != nil || job.EndedAt != nil ||
		job.Metadata != nil || !job.CreatedAt.Equal(created) {
		t.Errorf("after clearing: %+v", job)
	}
	if got := mustGet(t, db, "j"); !jobsEqual(got, job) {
		t.Errorf("GetStatus = %+v, want %+v", got, job)
	}

	// A Job goes through JSON unchanged, new fields in place.
	job = mustUpdate(t, db, Update{SelfID: "j", Command: Set("x"), Metadata: Set(map[string]any{"n": 1})})
	text, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	wantTail := `"logfile":null,"exit_code":null,"command":"x","created_at":"` +
		created.Format(timeLayout) + `","started_at":null,"ended_at":null,"metadata":{"n":1}}`
	if !strings.HasSuffix(string(text), wantTail) {
		t.Errorf("Job JSON = %s, want it to end with %s", text, wantTail)
	}
	var back Job
	if err := json.Unmarshal(text, &back); err != nil || !jobsEqual(back, job) ||
		!reflect.DeepEqual(back.Metadata, job.Metadata) {
		t.Errorf("round trip of %s: %+v, %v", text, back, err)
	}
}

func TestNewFieldsRefused(t *testing.T) {
	db, dir := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "j", Status: "running"})

	// created_at is jobdb's: refused on input, even through raw JSON.
	_, err := db.UpdateStatusJSON([]byte(`{"self_id":"j","created_at":"2024-05-01T00:00:00Z"}`))
	wantErr(t, err, ErrSchema, "created_at")
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"j","metadata":[1]}`))
	wantErr(t, err, ErrSchema, "metadata")
	_, err = db.UpdateStatusJSON([]byte(`{"self_id":"j","exit_code":"3"}`))
	wantErr(t, err, ErrSchema, "exit_code")
	_, err = db.UpdateStatus(Update{SelfID: "j", StartedAt: Set(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))})
	wantErr(t, err, ErrSchema, "started_at")

	// Text that is not UTF-8, anywhere in the metadata, is refused here
	// rather than replaced by encoding/json; so is what cannot be JSON.
	for _, meta := range []map[string]any{
		{"bad": "\xff"},
		{"bad\xfe": 1},
		{"deep": []any{map[string]any{"x": []string{"ok", "\xc3"}}}},
		{"struct": struct{ Name string }{"\xff"}},
	} {
		_, err = db.UpdateStatus(Update{SelfID: "j", Metadata: Set(meta)})
		wantErr(t, err, ErrInvalidArgument, "metadata")
	}
	_, err = db.UpdateStatus(Update{SelfID: "j", Metadata: Set(map[string]any{"nan": math.NaN()})})
	wantErr(t, err, ErrInvalidArgument, "metadata")
	_, err = db.UpdateStatus(Update{SelfID: "j", Command: Set("\xff")})
	wantErr(t, err, ErrInvalidArgument, "command")
	// U+FFFD itself is fine.
	job := mustUpdate(t, db, Update{SelfID: "j", Metadata: Set(map[string]any{"r": "\uFFFD"})})
	if job.Metadata["r"] != "\uFFFD" {
		t.Errorf("Metadata = %v", job.Metadata)
	}

	// A job another program created has no created_at; jobdb does not
	// invent one when it later updates the job.
	sqlite(t, dir, `INSERT INTO process_status VALUES ('old', '{"self_id":"old","status":"finished"}');`)
	if old := mustGet(t, db, "old"); old.CreatedAt != nil || old.Extra != nil {
		t.Errorf("old job: %+v", old)
	}
	if old := mustUpdate(t, db, Update{SelfID: "old", ExitCode: Set[int64](2)}); old.CreatedAt != nil {
		t.Errorf("an update of an old job set CreatedAt %v", old.CreatedAt)
	}
}

// ---- filters --------------------------------------------------------------

func TestFilterOperators(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running", LastPID: Set[int64](1), Command: Set("make"), Cwd: Set("/srv")})
	mustUpdate(t, db, Update{SelfID: "b", Status: "starting", LastPID: Set[int64](2), ExitCode: Set[int64](0), Command: Set("make test")})
	mustUpdate(t, db, Update{SelfID: "c", Status: "failed", LastPID: Set[int64](3), ExitCode: Set[int64](3), Cwd: Set("/tmp")})
	mustUpdate(t, db, Update{SelfID: "d", Status: "finished", ExitCode: Set[int64](0)})

	cases := []struct {
		name   string
		filter Filter
		want   string
	}{
		{"everything", Filter{}, "a b c d"},
		{"status shorthand", Filter{Status: "running"}, "a"},
		{"status Eq", Filter{StatusIs: Eq("running")}, "a"},
		{"status $in", Filter{StatusIs: In("running", "starting")}, "a b"},
		{"status $in none", Filter{StatusIs: In[string]()}, ""},
		{"status $ne", Filter{StatusIs: Ne("failed")}, "a b d"},
		{"status and status $in", Filter{Status: "running", StatusIs: In("running", "failed")}, "a"},
		{"status range", Filter{StatusIs: Between("f", "g")}, "c d"},
		{"self_id $in", Filter{SelfIDIs: In("a", "c", "zz")}, "a c"},
		{"self_id $gt", Filter{SelfIDIs: Gt("b")}, "c d"},
		{"self_id shorthand and $ne", Filter{SelfID: "a", SelfIDIs: Ne("a")}, ""},
		{"pid $ne counts null as a value", Filter{LastPID: Ne[int64](2)}, "a c d"},
		{"pid not null", Filter{LastPID: NotNull[int64]()}, "a b c"},
		{"pid null", Filter{LastPID: Null[int64]()}, "d"},
		{"pid Set", Filter{LastPID: Set[int64](2)}, "b"},
		{"pid $gt", Filter{LastPID: Gt[int64](1)}, "b c"},
		{"pid $gte", Filter{LastPID: Gte[int64](2)}, "b c"},
		{"pid $lt", Filter{LastPID: Lt[int64](3)}, "a b"},
		{"pid $lte", Filter{LastPID: Lte[int64](1)}, "a"},
		{"pid $gt and $lt", Filter{LastPID: And(Gt[int64](1), Lt[int64](3))}, "b"},
		{"pid $in and $ne", Filter{LastPID: And(In[int64](1, 2, 3), Ne[int64](2))}, "a c"},
		{"pid Eq and $lte", Filter{LastPID: And(Eq[int64](2), Lte[int64](2))}, "b"},
		{"pid And with nil", Filter{LastPID: And(nil, Gte[int64](3))}, "c"},
		{"exit_code Eq", Filter{ExitCode: Eq[int64](0)}, "b d"},
		{"exit_code null", Filter{ExitCode: Null[int64]()}, "a"},
		{"exit_code failed", Filter{ExitCode: And(NotNull[int64](), Ne[int64](0))}, "c"},
		{"exit_code $in", Filter{ExitCode: In[int64](0, 3)}, "b c d"},
		{"command $gte", Filter{Command: Gte("make")}, "a b"},
		{"command null", Filter{Command: Null[string]()}, "c d"},
		{"command set and not make", Filter{Command: And(NotNull[string](), Ne("make"))}, "b"},
		{"started_at set and not now", Filter{StartedAt: And(NotNull[time.Time](), Ne(time.Now()))}, ""},
		{"cwd Set", Filter{Cwd: Set("/srv")}, "a"},
		{"cwd $ne", Filter{Cwd: Ne("/srv")}, "b c d"},
		{"fields combined", Filter{StatusIs: Ne("running"), ExitCode: Eq[int64](0), LastPID: NotNull[int64]()}, "b"},
		{"created_at set", Filter{CreatedAt: NotNull[time.Time]()}, "a b c d"},
		{"started_at null", Filter{StartedAt: Null[time.Time](), EndedAt: Null[time.Time]()}, "a b c d"},
	}
	for _, c := range cases {
		got, err := listed(t, db, c.filter)
		if err != nil {
			t.Errorf("%s: ListStatus: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: ListStatus got [%s], want [%s]", c.name, got, c.want)
		}
		n, err := db.Count(c.filter)
		if want := int64(len(strings.Fields(c.want))); err != nil || n != want {
			t.Errorf("%s: Count = %d, %v; want %d", c.name, n, err, want)
		}
		page := mustQuery(t, db, Query{Filter: c.filter})
		if got := ids(page.Jobs); got != c.want {
			t.Errorf("%s: Query got [%s], want [%s]", c.name, got, c.want)
		}
	}
}

func TestFilterJSON(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("+02", 7200))
	cases := []struct {
		filter Filter
		want   string
	}{
		{Filter{}, `{}`},
		{Filter{Status: "running", LastPID: Null[int64]()}, `{"status":"running","last_pid":null}`},
		{Filter{StatusIs: In("a", "b")}, `{"status":{"$in":["a","b"]}}`},
		{Filter{Status: "a", StatusIs: Ne("b")}, `{"status":{"$in":["a"],"$ne":"b"}}`},
		{Filter{LastUpdate: Between(t0, t0.Add(time.Hour))},
			`{"last_update":{"$gte":"2024-05-01T12:00:00.000000Z","$lt":"2024-05-01T13:00:00.000000Z"}}`},
		{Filter{ExitCode: NotNull[int64]()}, `{"exit_code":{"$ne":null}}`},
		{Filter{ExitCode: In[int64]()}, `{"exit_code":{"$in":[]}}`},
		{Filter{ExitCode: And(NotNull[int64](), Ne[int64](0))}, `{"exit_code":{"$gte":-9223372036854775808,"$ne":0}}`},
		{Filter{StartedAt: And(NotNull[time.Time](), Ne(t0))},
			`{"started_at":{"$gte":"0001-01-01T00:00:00.000000Z","$ne":"2024-05-01T12:00:00.000000Z"}}`},
		{Filter{ExitCode: And(NotNull[int64](), Gt[int64](1))}, `{"exit_code":{"$gt":1}}`},
		{Filter{ExitCode: And(NotNull[int64](), Eq[int64](2), NotNull[int64]())}, `{"exit_code":2}`},
		{Filter{ExitCode: And(In[int64](1, 2), NotNull[int64](), In[int64](1, 2))}, `{"exit_code":{"$in":[1,2]}}`},
		{Filter{Status: "a", StatusIs: Eq("a")}, `{"status":"a"}`},
		{Filter{Status: "a", StatusIs: Eq("b")}, `{"status":{"$in":[]}}`},
		{Filter{Status: "a", StatusIs: In("a", "b")}, `{"status":"a"}`},
		{Filter{StatusIs: And(In("a", "b", "c"), Ne("x"), In("c", "b", "d"))}, `{"status":{"$in":["b","c"],"$ne":"x"}}`},
		{Filter{StatusIs: In("a")}, `{"status":{"$in":["a"]}}`},
		{Filter{LastPID: And(Ne[int64](1), Ne[int64](1))}, `{"last_pid":{"$ne":1}}`},
		{Filter{LastPID: And(Gt[int64](5), Gte[int64](3), Gt[int64](1), Lt[int64](9), Lte[int64](7), Lt[int64](8))},
			`{"last_pid":{"$gt":5,"$gte":3,"$lt":8,"$lte":7}}`},
		{Filter{LastUpdate: And(Lt(t0.Add(time.Hour)), Lt(t0), Gte(t0.Add(-time.Hour)), Gte(t0.Add(-2*time.Hour)))},
			`{"last_update":{"$lt":"2024-05-01T12:00:00.000000Z","$gte":"2024-05-01T11:00:00.000000Z"}}`},
		{Filter{LastPID: And[int64](Null[int64](), In[int64](1))}, `{"last_pid":{"$in":[]}}`},
		{Filter{LastPID: And[int64](Null[int64](), Null[int64]())}, `{"last_pid":null}`},
		{Filter{Cwd: Field[string]{}}, `{}`},
		{Filter{Cwd: And[string]()}, `{}`},
	}
	for _, c := range cases {
		got, err := c.filter.MarshalJSON()
		if err != nil || string(got) != c.want {
			t.Errorf("%+v: %s, %v; want %s", c.filter, got, err, c.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	db, _ := openTemp(t)
	mustUpdate(t, db, Update{SelfID: "a", Status: "running"})

	// Found here: jobdb takes one $ne per field.
	for _, f := range []Filter{
		{LastPID: And(Ne[int64](1), Ne[int64](2))},
		{StatusIs: And(Ne("a"), Eq("b"), Ne("c"))},
	} {
		field := "last_pid"
		if f.StatusIs != nil {
			field = "status"
		}
		_, err := db.ListStatus(f)
		wantErr(t, err, ErrSchema, field)
		_, err = db.Count(f)
		wantErr(t, err, ErrSchema, field)
		_, err = db.Query(Query{Filter: f})
		wantErr(t, err, ErrSchema, field)
	}
	_, err := db.Count(Filter{StatusIs: In("ok", "\xff")})
	wantErr(t, err, ErrInvalidArgument, "status")
	_, err = db.Count(Filter{Cwd: And(Ne("ok"), Lt("\xff"))})
	wantErr(t, err, ErrInvalidArgument, "cwd")

	// Found by jobdb.
	_, err = db.Count(Filter{StatusIs: Null[string]()})
	wantErr(t, err, ErrSchema, "status")
	_, err = db.Count(Filter{SelfIDIs: Null[string]()})
	wantErr(t, err, ErrSchema, "self_id")
	_, err = db.Count(Filter{StartedAt: Gte(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))})
	wantErr(t, err, ErrSchema, "started_at")
}

// Time bounds compare as instants, whatever the offset they are stored or
// given with.
func TestTimeWindowWithOffsets(t *testing.T) {
	db, _ := openTemp(t)
	// Stored through raw JSON with offsets, and from Go in other zones.
	for _, rec := range []string{
		`{"self_id":"early","status":"finished","started_at":"2024-05-01T13:59:59.999999+02:00"}`, // 11:59:59.999999Z
		`{"self_id":"edge","status":"finished","started_at":"2024-05-01T07:00:00-05:00"}`,         // 12:00:00Z
		`{"self_id":"mid","status":"finished","started_at":"2024-05-01T12:30:00"}`,                // no offset: UTC
	} {
		if _, err := db.UpdateStatusJSON([]byte(rec)); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
	}
	tokyo := time.FixedZone("+09", 9*3600)
	mustUpdate(t, db, Update{SelfID: "end", Status: "finished",
		StartedAt: Set(time.Date(2024, 5, 1, 22, 0, 0, 0, tokyo))}) // 13:00:00Z
	mustUpdate(t, db, Update{SelfID: "late", Status: "finished",
		StartedAt: Set(time.Date(2024, 5, 1, 13, 0, 0, 1000, time.UTC))})
	mustUpdate(t, db, Update{SelfID: "never", Status: "starting"})

	if job := mustGet(t, db, "edge"); !job.StartedAt.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("edge started at %v", job.StartedAt)
	}

	// The window 12:00Z to 13:00Z, given at +05:30 and -07:00.
	from := time.Date(2024, 5, 1, 17, 30, 0, 0, time.FixedZone("+05:30", 5*3600+1800))
	to := time.Date(2024, 5, 1, 6, 0, 0, 0, time.FixedZone("-07", -7*3600))
	cases := []struct {
		name string
		cond Cond[time.Time]
		want string
	}{
		{"between is half-open", Between(from, to), "edge mid"},
		{"closed window", And(Gte(from), Lte(to)), "edge end mid"},
		{"open window", And(Gt(from), Lt(to)), "mid"},
		{"before", Lt(from), "early"},
		{"after", Gt(to), "late"},
		{"exact instant", Eq(to), "end"},
		{"not that instant", Ne(from), "early end late mid never"},
		{"in", In(from, to, to.Add(time.Second)), "edge end"},
		{"null", Null[time.Time](), "never"},
	}
	for _, c := range cases {
		got, err := listed(t, db, Filter{StartedAt: c.cond})
		if err != nil || got != c.want {
			t.Errorf("%s: [%s], %v; want [%s]", c.name, got, err, c.want)
		}
	}

	// created_at filters like any time.
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	mustUpdate(t, db, Update{SelfID: "newest", Status: "starting"})
	got, err := listed(t, db, Filter{CreatedAt: Gte(mid.In(tokyo))})
	if err != nil || got != "newest" {
		t.Errorf("created after %v: [%s], %v", mid, got, err)
	}
}

// The query a supervisor runs: jobs that claim to run but have not been
// updated for ten minutes.
func TestRunningButStale(t *testing.T) {
	db, _ := openTemp(t)
	now := time.Now()
	for _, j := range []struct {
		id     string
		status string
		ago    time.Duration
	}{
		{"hung", "running", time.Hour},
		{"stuck-start", "starting", 11 * time.Minute},
		{"busy", "running", 9 * time.Minute},
		{"fresh", "starting", 0},
		{"done-long-ago", "finished", 2 * time.Hour},
		{"stopping", "stopping", 20 * time.Minute},
		{"also-hung", "running", 30 * time.Minute},
	} {
		mustUpdate(t, db, Update{SelfID: j.id, Status: j.status, LastUpdate: now.Add(-j.ago)})
	}

	stale := Filter{
		StatusIs:   In("running", "starting"),
		LastUpdate: Lt(now.Add(-10 * time.Minute)),
	}
	page := mustQuery(t, db, Query{Filter: stale, OrderBy: ByLastUpdate})
	if got := ids(page.Jobs); got != "hung also-hung stuck-start" || page.NextCursor != "" {
		t.Errorf("stale jobs, oldest first: [%s], cursor %q", got, page.NextCursor)
	}
	if n, err := db.Count(stale); err != nil || n != 3 {
		t.Errorf("Count = %d, %v", n, err)
	}
}

// ---- queries and pages ----------------------------------------------------

func TestQueryOrderAndPages(t *testing.T) {
	db, _ := openTemp(t)
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// last_update: j1 and j4 tie, as do j2 and j6. started_at: null for
	// j3 and j5.
	for i, minutes := range []int{30, 10, 50, 30, 20, 10, 40} {
		u := Update{SelfID: fmt.Sprintf("j%d", i+1), Status: "finished",
			LastUpdate: base.Add(time.Duration(minutes) * time.Minute)}
		if i != 2 && i != 4 {
			u.StartedAt = Set(base.Add(-time.Duration(i) * time.Hour))
		}
		mustUpdate(t, db, u)
	}

	cases := []struct {
		name string
		q    Query
		want string
	}{
		{"default", Query{}, "j1 j2 j3 j4 j5 j6 j7"},
		{"self_id descending", Query{OrderBy: BySelfID, Descending: true}, "j7 j6 j5 j4 j3 j2 j1"},
		{"last_update, ties by self_id", Query{OrderBy: ByLastUpdate}, "j2 j6 j5 j1 j4 j7 j3"},
		{"last_update descending", Query{OrderBy: ByLastUpdate, Descending: true}, "j3 j7 j4 j1 j5 j6 j2"},
		{"started_at, nulls first", Query{OrderBy: ByStartedAt}, "j3 j5 j7 j6 j4 j2 j1"},
		{"started_at descending, nulls last", Query{OrderBy: ByStartedAt, Descending: true}, "j1 j2 j4 j6 j7 j5 j3"},
		{"ended_at, all null", Query{OrderBy: ByEndedAt, Descending: true}, "j7 j6 j5 j4 j3 j2 j1"},
		{"created_at", Query{OrderBy: ByCreatedAt}, "j1 j2 j3 j4 j5 j6 j7"},
		{"filtered", Query{Filter: Filter{SelfIDIs: Ne("j4")}, OrderBy: ByLastUpdate}, "j2 j6 j5 j1 j7 j3"},
	}
	for _, c := range cases {
		page := mustQuery(t, db, c.q)
		if got := ids(page.Jobs); got != c.want || page.NextCursor != "" {
			t.Errorf("%s: one page [%s] cursor %q; want [%s]", c.name, got, page.NextCursor, c.want)
		}
		// Every page size gives the same jobs in the same order,
		// across ties and across the nulls.
		for _, limit := range []int{1, 2, 3, 6, 7, 8} {
			q := c.q
			q.Limit = limit
			if got := ids(allPages(t, db, q)); got != c.want {
				t.Errorf("%s, pages of %d: [%s], want [%s]", c.name, limit, got, c.want)
			}
			var viaIterator []Job
			it := db.Iterate(q)
			for it.Next() {
				viaIterator = append(viaIterator, it.Job())
			}
			if err := it.Err(); err != nil || ids(viaIterator) != c.want {
				t.Errorf("%s, iterated by %d: [%s], %v", c.name, limit, ids(viaIterator), err)
			}
		}
	}

	// Pages of 3 over 7 jobs: 3, 3, then 1 without a cursor. Pages of
	// 7: one page, and no cursor, since there is nothing after it.
	page := mustQuery(t, db, Query{Limit: 3})
	if ids(page.Jobs) != "j1 j2 j3" || page.NextCursor == "" {
		t.Fatalf("first page [%s] cursor %q", ids(page.Jobs), page.NextCursor)
	}
	// A cursor may go on with another page size.
	page = mustQuery(t, db, Query{Limit: 2, Cursor: page.NextCursor})
	if ids(page.Jobs) != "j4 j5" || page.NextCursor == "" {
		t.Fatalf("second page [%s] cursor %q", ids(page.Jobs), page.NextCursor)
	}
	page = mustQuery(t, db, Query{Limit: 5, Cursor: page.NextCursor})
	if ids(page.Jobs) != "j6 j7" || page.NextCursor != "" {
		t.Errorf("last page [%s] cursor %q", ids(page.Jobs), page.NextCursor)
	}
	if page = mustQuery(t, db, Query{Limit: 7}); len(page.Jobs) != 7 || page.NextCursor != "" {
		t.Errorf("a page of exactly every job: %d jobs, cursor %q", len(page.Jobs), page.NextCursor)
	}
	if page = mustQuery(t, db, Query{Limit: MaxLimit}); len(page.Jobs) != 7 {
		t.Errorf("MaxLimit: %d jobs", len(page.Jobs))
	}

	// No match: an empty page, not nil, and no cursor.
	page = mustQuery(t, db, Query{Filter: Filter{Status: "running"}, Limit: 5})
	if page.Jobs == nil || len(page.Jobs) != 0 || page.NextCursor != "" {
		t.Errorf("empty result: %#v", page)
	}
	it := db.Iterate(Query{Filter: Filter{Status: "running"}})
	if it.Next() || it.Err() != nil {
		t.Errorf("iterating nothing: %v", it.Err())
	}

	// The records of a page are whole records.
	page = mustQuery(t, db, Query{Filter: Filter{SelfID: "j2"}})
	if len(page.Jobs) != 1 || !jobsEqual(page.Jobs[0], mustGet(t, db, "j2")) {
		t.Errorf("queried j2 = %+v", page.Jobs)
	}
}

// A cursor holds where the previous page ended, not an offset: jobs added
// or deleted between pages never make a later page skip or repeat a job
// that stayed.
func TestCursorSurvivesInsertsAndDeletes(t *testing.T) {
	db, dir := openTemp(t)
	for i := 1; i <= 10; i++ {
		mustUpdate(t, db, Update{SelfID: fmt.Sprintf("j%02d", i), Status: "running"})
	}
	del := func(id string) {
		t.Helper()
		sqlite(t, dir, fmt.Sprintf(`DELETE FROM process_status WHERE json_extract(value,'$.self_id')='%s'`, id))
	}

	q := Query{Filter: Filter{Status: "running"}, Limit: 4}
	page := mustQuery(t, db, q)
	if ids(page.Jobs) != "j01 j02 j03 j04" {
		t.Fatalf("first page [%s]", ids(page.Jobs))
	}

	del("j05") // the next one in line
	del("j02") // one already returned
	del("j04") // the one the cursor points after

	mustUpdate(t, db, Update{SelfID: "j00", Status: "running"})  // before the cursor
	mustUpdate(t, db, Update{SelfID: "j045", Status: "running"}) // after it
	mustUpdate(t, db, Update{SelfID: "j06", Status: "failed"})   // no longer matches
	mustUpdate(t, db, Update{SelfID: "j07", LastPID: Set[int64](7)})

	q.Cursor = page.NextCursor
	page = mustQuery(t, db, q)
	if ids(page.Jobs) != "j045 j07 j08 j09" || page.NextCursor == "" {
		t.Fatalf("second page [%s] cursor %q", ids(page.Jobs), page.NextCursor)
	}
	if *page.Jobs[1].LastPID != 7 {
		t.Errorf("j07 is not its current record: %+v", page.Jobs[1])
	}

	del("j10") // everything that was left
	q.Cursor = page.NextCursor
	page = mustQuery(t, db, q)
	if len(page.Jobs) != 0 || page.NextCursor != "" {
		t.Errorf("last page [%s] cursor %q", ids(page.Jobs), page.NextCursor)
	}

	// The same, newest first by last_update, through an Iterator: a job
	// deleted ahead is not returned, one inserted at the front is not
	// either, and none is repeated.
	db2, dir2 := openTemp(t)
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 6; i++ {
		mustUpdate(t, db2, Update{SelfID: fmt.Sprintf("k%d", i), Status: "running",
			LastUpdate: base.Add(time.Duration(i) * time.Minute)})
	}
	it := db2.Iterate(Query{OrderBy: ByLastUpdate, Descending: true, Limit: 2})
	var seen []string
	for it.Next() {
		seen = append(seen, it.Job().SelfID)
		if len(seen) == 2 {
			sqlite(t, dir2, `DELETE FROM process_status WHERE json_extract(value,'$.self_id')='k3'`)
			mustUpdate(t, db2, Update{SelfID: "k7", Status: "running", LastUpdate: base.Add(time.Hour)})
			mustUpdate(t, db2, Update{SelfID: "k35", Status: "running", LastUpdate: base.Add(210 * time.Second)})
		}
	}
	if err := it.Err(); err != nil || strings.Join(seen, " ") != "k6 k5 k4 k35 k2 k1" {
		t.Errorf("iterated [%s], %v", strings.Join(seen, " "), err)
	}
}

func TestQueryErrors(t *testing.T) {
	db, _ := openTemp(t)
	for i := 0; i < 3; i++ {
		mustUpdate(t, db, Update{SelfID: fmt.Sprintf("j%d", i), Status: "running"})
	}

	for _, limit := range []int{-1, MaxLimit + 1} {
		_, err := db.Query(Query{Limit: limit})
		wantErr(t, err, ErrSchema, "limit")
	}
	_, err := db.Query(Query{OrderBy: "status"})
	wantErr(t, err, ErrSchema, "order_by")

	q := Query{Filter: Filter{Status: "running"}, OrderBy: ByLastUpdate, Limit: 1}
	page := mustQuery(t, db, q)
	cursor := page.NextCursor
	if cursor == "" {
		t.Fatal("no cursor")
	}

	// A cursor only continues its own query.
	foreign := []Query{
		{Filter: Filter{Status: "failed"}, OrderBy: ByLastUpdate, Cursor: cursor},
		{Filter: Filter{Status: "running"}, OrderBy: ByCreatedAt, Cursor: cursor},
		{Filter: Filter{Status: "running"}, OrderBy: ByLastUpdate, Descending: true, Cursor: cursor},
		{OrderBy: ByLastUpdate, Cursor: cursor},
		{Filter: Filter{Status: "running"}, OrderBy: ByLastUpdate, Cursor: "not-a-cursor"},
		{Filter: Filter{Status: "running"}, OrderBy: ByLastUpdate, Cursor: cursor[:len(cursor)-3]},
		{Filter: Filter{Status: "running"}, OrderBy: ByLastUpdate, Cursor: "eyJ2IjoxfQ"}, // {"v":1}
	}
	for _, f := range foreign {
		_, err := db.Query(f)
		wantErr(t, err, ErrSchema, "cursor")
	}
	_, err = db.Query(Query{Cursor: "bad \xff"})
	wantErr(t, err, ErrInvalidArgument, "cursor")

	// An Iterator stops at the error and reports it.
	it := db.Iterate(Query{Cursor: "not-a-cursor"})
	if it.Next() {
		t.Errorf("Next after a bad cursor returned %+v", it.Job())
	}
	wantErr(t, it.Err(), ErrSchema, "cursor")
	if it.Next() {
		t.Error("Next went on after an error")
	}

	// The same query with the cursor still works, with any limit.
	q.Cursor, q.Limit = cursor, 10
	if page = mustQuery(t, db, q); len(page.Jobs) != 2 {
		t.Errorf("resumed: [%s]", ids(page.Jobs))
	}
}

func TestQueryJSON(t *testing.T) {
	cases := []struct {
		q    Query
		want string
	}{
		{Query{}, `{"filter":{}}`},
		{Query{Filter: Filter{Status: "failed"}, OrderBy: ByEndedAt, Descending: true, Limit: 20, Cursor: "abc"},
			`{"filter":{"status":"failed"},"order_by":"ended_at","descending":true,"limit":20,"cursor":"abc"}`},
	}
	for _, c := range cases {
		got, err := c.q.MarshalJSON()
		if err != nil || string(got) != c.want {
			t.Errorf("%+v: %s, %v; want %s", c.q, got, err, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	db, _ := openTemp(t)
	if n, err := db.Count(Filter{}); err != nil || n != 0 {
		t.Errorf("empty database: %d, %v", n, err)
	}
	for i := 0; i < 25; i++ {
		status := "running"
		if i%5 == 0 {
			status = "failed"
		}
		mustUpdate(t, db, Update{SelfID: fmt.Sprintf("j%02d", i), Status: status, ExitCode: Set(int64(i % 3))})
	}
	checks := []struct {
		f    Filter
		want int64
	}{
		{Filter{}, 25},
		{Filter{Status: "failed"}, 5},
		{Filter{StatusIs: Ne("failed"), ExitCode: Eq[int64](0)}, 7}, // 3 6 9 12 18 21 24
		{Filter{SelfIDIs: Between("j10", "j20")}, 10},
		{Filter{Status: "stopped"}, 0},
	}
	for _, c := range checks {
		if n, err := db.Count(c.f); err != nil || n != c.want {
			t.Errorf("Count(%+v) = %d, %v; want %d", c.f, n, err, c.want)
		}
		jobs, _ := db.ListStatus(c.f)
		if int64(len(jobs)) != c.want {
			t.Errorf("ListStatus(%+v) has %d jobs, Count says %d", c.f, len(jobs), c.want)
		}
	}
}
