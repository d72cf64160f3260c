package jobdb

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayout is how this package sends times: RFC 3339 in UTC with
// microseconds, the precision jobdb stores. jobdb returns the same form.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// fieldState says which of its three states a Field is in.
type fieldState uint8

const (
	fieldUnset fieldState = iota
	fieldNull
	fieldValue
)

// Field is a nullable record field in an Update. Its zero value leaves
// the field out; Null gives it as null; Set gives it a value.
//
// In an Update, a field left out keeps its stored value, and null clears
// it. A Field is also a [Cond] for a Filter: the zero Field does not
// filter, Null matches jobs where the field is null or unset, and Set(v)
// matches jobs with exactly that value, as Eq(v) does.
type Field[T any] struct {
	value T
	state fieldState
}

// Set returns a Field holding v.
func Set[T any](v T) Field[T] {
	return Field[T]{value: v, state: fieldValue}
}

// Null returns a Field that is null.
func Null[T any]() Field[T] {
	return Field[T]{state: fieldNull}
}

// SetOrNull returns Set(*p), or Null when p is nil. It turns a Job's
// pointer fields into Update or Filter fields.
func SetOrNull[T any](p *T) Field[T] {
	if p == nil {
		return Null[T]()
	}
	return Set(*p)
}

// IsSet reports whether the field is given, as null or as a value.
func (f Field[T]) IsSet() bool { return f.state != fieldUnset }

// IsNull reports whether the field is given as null.
func (f Field[T]) IsNull() bool { return f.state == fieldNull }

// Get returns the field's value and true, or the zero value and false
// when the field is left out or null.
func (f Field[T]) Get() (T, bool) { return f.value, f.state == fieldValue }

// String describes the field: "(unset)", "null" or its value.
func (f Field[T]) String() string {
	switch f.state {
	case fieldNull:
		return "null"
	case fieldValue:
		return fmt.Sprint(f.value)
	default:
		return "(unset)"
	}
}

// Job is a job record as jobdb returns it. The pointer fields are nil
// when the record holds null or nothing for them.
type Job struct {
	// SelfID is the job's identity, never empty.
	SelfID string `json:"self_id"`
	// Status is the job's status, never empty; nodejobs uses starting,
	// running, stopping, stopped, finished, failed and failed_start.
	Status string `json:"status"`
	// LastUpdate is when the record was last written, in UTC to the
	// microsecond; the zero time when another program stored none.
	LastUpdate time.Time `json:"last_update"`
	// LastPID is the job's last process id.
	LastPID *int64 `json:"last_pid"`
	// Dirname, Cwd, Logdir and Logfile are free text to jobdb. The logs
	// are read from Logdir/Logfile_out.txt and Logdir/Logfile_errors.txt.
	Dirname *string `json:"dirname"`
	Cwd     *string `json:"cwd"`
	Logdir  *string `json:"logdir"`
	Logfile *string `json:"logfile"`
	// ExitCode is the exit status the job's owner recorded.
	ExitCode *int64 `json:"exit_code"`
	// Command is the command line the job's owner recorded, as free text.
	Command *string `json:"command"`
	// CreatedAt is when jobdb first wrote the job, in UTC to the
	// microsecond. jobdb sets it and no update changes it; nil for a job
	// that another program (nodejobs, say) created.
	CreatedAt *time.Time `json:"created_at"`
	// StartedAt and EndedAt are the times the job's owner recorded, in
	// UTC to the microsecond.
	StartedAt *time.Time `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	// Metadata is the caller's own JSON object, as last given in an
	// Update; nil when none was. Values are decoded as encoding/json
	// decodes into an any, except numbers, which are json.Number so that
	// integers come back exact (use its Int64 or Float64 method).
	Metadata map[string]any `json:"metadata"`
	// Extra holds the fields that another program (nodejobs, say) stored
	// in the record and that jobdb does not know, as their raw JSON
	// values. jobdb keeps them through updates; this package cannot set
	// them (jobdb refuses unknown fields in an update). Nil when there
	// are none.
	Extra map[string]json.RawMessage `json:"-"`
}

// UnmarshalJSON reads a record as jobdb writes it. Keys are matched
// exactly (not case-insensitively, as encoding/json would), so an extra
// field such as "STATUS" lands in Extra rather than over Status.
func (j *Job) UnmarshalJSON(data []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	var job Job
	targets := map[string]any{
		"self_id":     &job.SelfID,
		"status":      &job.Status,
		"last_update": &job.LastUpdate,
		"last_pid":    &job.LastPID,
		"dirname":     &job.Dirname,
		"cwd":         &job.Cwd,
		"logdir":      &job.Logdir,
		"logfile":     &job.Logfile,
		"exit_code":   &job.ExitCode,
		"command":     &job.Command,
		"created_at":  &job.CreatedAt,
		"started_at":  &job.StartedAt,
		"ended_at":    &job.EndedAt,
		"metadata":    &job.Metadata,
	}
	for name, raw := range fields {
		target, known := targets[name]
		if !known {
			if job.Extra == nil {
				job.Extra = make(map[string]json.RawMessage)
			}
			job.Extra[name] = raw
			continue
		}
		// UseNumber keeps metadata's integers exact; the other fields
		// are typed and decode the same either way.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(target); err != nil {
			return fmt.Errorf("jobdb: field %s of a job record: %w", name, err)
		}
	}
	*j = job
	return nil
}

// MarshalJSON writes the record as jobdb returns it: the fourteen fields
// in order, null where unset (a zero LastUpdate included), then Extra
// sorted by name.
func (j Job) MarshalJSON() ([]byte, error) {
	var o object
	o.field("self_id", j.SelfID)
	o.field("status", j.Status)
	if j.LastUpdate.IsZero() {
		o.field("last_update", nil)
	} else {
		o.field("last_update", j.LastUpdate)
	}
	o.field("last_pid", j.LastPID)
	o.field("dirname", j.Dirname)
	o.field("cwd", j.Cwd)
	o.field("logdir", j.Logdir)
	o.field("logfile", j.Logfile)
	o.field("exit_code", j.ExitCode)
	o.field("command", j.Command)
	o.field("created_at", j.CreatedAt)
	o.field("started_at", j.StartedAt)
	o.field("ended_at", j.EndedAt)
	if j.Metadata == nil {
		o.field("metadata", nil)
	} else {
		o.field("metadata", j.Metadata)
	}
	names := make([]string, 0, len(j.Extra))
	for name := range j.Extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		o.field(name, j.Extra[name])
	}
	return o.finish()
}

// Update is a change to one job, for UpdateStatus. Only the fields it
// gives are written; the others keep their stored value.
type Update struct {
	// SelfID names the job; required. An empty one is refused by jobdb
	// (ErrSchema).
	SelfID string
	// Status is the new status; empty leaves it unchanged. A new job
	// needs one (ErrSchema otherwise).
	Status string
	// LastUpdate is the time to record; the zero time records the time
	// of the update. jobdb keeps it to the microsecond and refuses years
	// outside 1 to 9999 (ErrSchema).
	LastUpdate time.Time
	// The nullable fields: left out, cleared with Null, or Set.
	LastPID  Field[int64]
	Dirname  Field[string]
	Cwd      Field[string]
	Logdir   Field[string]
	Logfile  Field[string]
	ExitCode Field[int64]
	Command  Field[string]
	// StartedAt and EndedAt are kept to the microsecond, in UTC; years
	// outside 1 to 9999 are refused (ErrSchema). There is no CreatedAt:
	// jobdb sets it when it first writes the job.
	StartedAt Field[time.Time]
	EndedAt   Field[time.Time]
	// Metadata replaces the whole stored object; Null removes it. A nil
	// map given with Set is stored as {}. The values are encoded with
	// encoding/json (so a json.RawMessage goes in as it is); text that is
	// not UTF-8 is refused with ErrInvalidArgument rather than replaced.
	Metadata Field[map[string]any]
}

// MarshalJSON writes the update as the record jobdb_update_status takes:
// self_id always, the other fields only when given.
func (u Update) MarshalJSON() ([]byte, error) {
	var o object
	o.field("self_id", u.SelfID)
	if u.Status != "" {
		o.field("status", u.Status)
	}
	if !u.LastUpdate.IsZero() {
		o.field("last_update", u.LastUpdate)
	}
	addField(&o, "last_pid", u.LastPID)
	addField(&o, "dirname", u.Dirname)
	addField(&o, "cwd", u.Cwd)
	addField(&o, "logdir", u.Logdir)
	addField(&o, "logfile", u.Logfile)
	addField(&o, "exit_code", u.ExitCode)
	addField(&o, "command", u.Command)
	addField(&o, "started_at", u.StartedAt)
	addField(&o, "ended_at", u.EndedAt)
	if m, ok := u.Metadata.Get(); ok && m == nil {
		o.field("metadata", builtJSON("{}"))
	} else {
		addField(&o, "metadata", u.Metadata)
	}
	return o.finish()
}

// Filter selects jobs for ListStatus, Query, Count and Delete, and is the
// condition of UpdateStatusIf: a job matches when every condition the
// filter gives holds. The zero Filter matches every
// job. Metadata cannot be filtered on.
//
// Each field takes a [Cond]: Eq, Ne, In, Gt, Gte, Lt, Lte, Between,
// NotNull, And, or a Field (Set, Null). For example, the jobs running or
// starting that have not been updated for ten minutes:
//
//	jobdb.Filter{
//		StatusIs:   jobdb.In("running", "starting"),
//		LastUpdate: jobdb.Lt(time.Now().Add(-10 * time.Minute)),
//	}
type Filter struct {
	// SelfID and Status are shorthands for equality, Eq(s); empty does
	// not filter.
	SelfID string
	Status string
	// SelfIDIs and StatusIs take any condition on those fields. Both
	// fields are never null, so Null matches nothing and is refused
	// (ErrSchema). When Status and StatusIs are both given, both apply.
	SelfIDIs Cond[string]
	StatusIs Cond[string]
	// The other fields; Null matches a field that is null or unset.
	// Times compare as instants, in any time zone.
	LastUpdate Cond[time.Time]
	LastPID    Cond[int64]
	Dirname    Cond[string]
	Cwd        Cond[string]
	Logdir     Cond[string]
	Logfile    Cond[string]
	ExitCode   Cond[int64]
	Command    Cond[string]
	CreatedAt  Cond[time.Time]
	StartedAt  Cond[time.Time]
	EndedAt    Cond[time.Time]
}

// MarshalJSON writes the filter as jobdb_list_status takes it. A filter
// that uses one operator twice on a field is refused with ErrSchema.
func (f Filter) MarshalJSON() ([]byte, error) {
	var o object
	textField := func(name, shorthand string, c Cond[string]) {
		var terms []term
		if shorthand != "" {
			terms = Eq(shorthand).filterTerms(nil)
		}
		if c != nil {
			terms = append(terms, c.filterTerms(nil)...)
		}
		addTerms(&o, name, terms)
	}
	textField("self_id", f.SelfID, f.SelfIDIs)
	textField("status", f.Status, f.StatusIs)
	filterField(&o, "last_update", f.LastUpdate)
	filterField(&o, "last_pid", f.LastPID)
	filterField(&o, "dirname", f.Dirname)
	filterField(&o, "cwd", f.Cwd)
	filterField(&o, "logdir", f.Logdir)
	filterField(&o, "logfile", f.Logfile)
	filterField(&o, "exit_code", f.ExitCode)
	filterField(&o, "command", f.Command)
	filterField(&o, "created_at", f.CreatedAt)
	filterField(&o, "started_at", f.StartedAt)
	filterField(&o, "ended_at", f.EndedAt)
	return o.finish()
}

// Logs are a job's stdout and stderr logs, from JobLogs.
type Logs struct {
	// SelfID is the job's id.
	SelfID string
	// Stdout is {logdir}/{logfile}_out.txt, Stderr
	// {logdir}/{logfile}_errors.txt.
	Stdout Log
	Stderr Log
}

// Log is one log file: its text, or why it could not be read.
type Log struct {
	// Path is the file jobdb read (bytes that are not UTF-8 replaced).
	Path string
	// Text is the file's content, "" for an empty file or one not read;
	// bytes that are not UTF-8 are replaced with U+FFFD.
	Text string
	// Size is the file's length in bytes, before any replacement; 0 when
	// it was not read.
	Size int64
	// InvalidUTF8 is true when bytes were replaced in Text.
	InvalidUTF8 bool
	// Err is nil when the file was read. Otherwise it is an *Error:
	// ErrNotFound for a missing file, ErrTooLarge for one over 16 MiB,
	// ErrIO for anything else (unreadable, a directory, a FIFO).
	Err error
}

// wireLogs is jobdb_job_logs' reply.
type wireLogs struct {
	SelfID string  `json:"self_id"`
	Stdout wireLog `json:"stdout"`
	Stderr wireLog `json:"stderr"`
}

type wireLog struct {
	Path        string     `json:"path"`
	Text        *string    `json:"text"`
	Size        *int64     `json:"size"`
	InvalidUTF8 bool       `json:"invalid_utf8"`
	Error       *wireError `json:"error"`
}

func (w wireLog) toLog() Log {
	log := Log{Path: w.Path, InvalidUTF8: w.InvalidUTF8}
	if w.Text != nil {
		log.Text = *w.Text
	}
	if w.Size != nil {
		log.Size = *w.Size
	}
	if w.Error != nil {
		log.Err = w.Error.toError()
	}
	return log
}

// addField adds a Field to an object when it is given.
func addField[T any](o *object, name string, f Field[T]) {
	switch f.state {
	case fieldNull:
		o.field(name, nil)
	case fieldValue:
		o.field(name, f.value)
	}
}

// object builds a JSON object with its keys in the order they are added.
// It refuses text that is not UTF-8, which encoding/json would silently
// replace with U+FFFD, with ErrInvalidArgument as jobdb does. A NUL
// character goes through, escaped, for jobdb to refuse (ErrSchema).
type object struct {
	buf bytes.Buffer
	err error
	// owner, when set, is the record field that errors name instead of
	// the key (for the operator objects of a filter).
	owner string
}

// builtJSON is JSON text this package built, written as it is.
type builtJSON []byte

func (o *object) field(name string, value any) {
	if o.err != nil {
		return
	}
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	o.buf.WriteString(quoteJSON(name))
	o.buf.WriteByte(':')
	if o.owner != "" {
		name = o.owner
	}
	o.value(name, value)
}

// value writes one JSON value; name is the field it belongs to, for
// errors.
func (o *object) value(name string, value any) {
	if o.err != nil {
		return
	}
	switch v := value.(type) {
	case nil:
		o.buf.WriteString("null")
	case string:
		o.text(name, v)
	case *string:
		if v == nil {
			o.buf.WriteString("null")
		} else {
			o.text(name, *v)
		}
	case time.Time:
		o.buf.WriteString(quoteJSON(v.UTC().Format(timeLayout)))
	case *time.Time:
		if v == nil {
			o.buf.WriteString("null")
		} else {
			o.value(name, *v)
		}
	case int64:
		fmt.Fprintf(&o.buf, "%d", v)
	case *int64:
		if v == nil {
			o.buf.WriteString("null")
		} else {
			fmt.Fprintf(&o.buf, "%d", *v)
		}
	case []any:
		o.buf.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				o.buf.WriteByte(',')
			}
			o.value(name, item)
		}
		o.buf.WriteByte(']')
	case map[string]any:
		o.anyJSON(name, v)
	case builtJSON:
		o.buf.Write(v)
	case json.RawMessage:
		if !json.Valid(v) {
			o.err = newError(CodeMalformedJSON, name, fmt.Sprintf("%s holds JSON that does not parse", name))
			return
		}
		o.buf.Write(v)
	default:
		o.err = newError(CodeInternal, name, fmt.Sprintf("cannot encode %s of type %T", name, value))
	}
}

func (o *object) text(name, s string) {
	if !utf8.ValidString(s) {
		o.err = newError(CodeInvalidArgument, name, fmt.Sprintf("%s is not valid UTF-8: %q", name, s))
		return
	}
	o.buf.WriteString(quoteJSON(s))
}

// anyJSON writes a caller's value (metadata) with encoding/json, after
// checking that its text is UTF-8.
func (o *object) anyJSON(name string, v any) {
	if bad, ok := invalidUTF8(reflect.ValueOf(v), 0); ok {
		o.err = newError(CodeInvalidArgument, name, fmt.Sprintf("%s holds text that is not valid UTF-8: %q", name, bad))
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		o.err = newError(CodeInvalidArgument, name, fmt.Sprintf("%s cannot be encoded as JSON: %v", name, err))
		return
	}
	o.buf.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

var (
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

// invalidUTF8 finds a string that is not UTF-8 among the strings
// encoding/json would write for v: strings, map keys, and what slices,
// arrays, pointers, interfaces and exported struct fields hold. Values
// that marshal themselves are not looked into (jobdb refuses text that is
// not UTF-8 anyway; it is only encoding/json's silent replacement that
// must not happen).
func invalidUTF8(v reflect.Value, depth int) (string, bool) {
	if !v.IsValid() || depth > 1000 {
		return "", false
	}
	t := v.Type()
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		if t.Kind() != reflect.String {
			return "", false
		}
	}
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			return s, true
		}
	case reflect.Pointer, reflect.Interface:
		return invalidUTF8(v.Elem(), depth+1)
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if s, bad := invalidUTF8(iter.Key(), depth+1); bad {
				return s, true
			}
			if s, bad := invalidUTF8(iter.Value(), depth+1); bad {
				return s, true
			}
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "", false // bytes are written in base64
		}
		for i := 0; i < v.Len(); i++ {
			if s, bad := invalidUTF8(v.Index(i), depth+1); bad {
				return s, true
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				if s, bad := invalidUTF8(v.Field(i), depth+1); bad {
					return s, true
				}
			}
		}
	}
	return "", false
}

func (o *object) finish() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	if o.buf.Len() == 0 {
		return []byte("{}"), nil
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes(), nil
}

// quoteJSON quotes valid UTF-8 text as a JSON string, without the HTML
// escaping of json.Marshal.
func quoteJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}
