package jobdb

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func mustReadLog(t *testing.T, db *DB, r LogRequest) LogRange {
	t.Helper()
	part, err := db.ReadLog(r)
	if err != nil {
		t.Fatalf("ReadLog(%+v): %v", r, err)
	}
	return part
}

// logJob stores job id with its logs in a new folder, writes its stdout
// log, and returns the log's path.
func logJob(t *testing.T, db *DB, id string, stdout []byte) string {
	t.Helper()
	logdir := t.TempDir()
	path := filepath.Join(logdir, id+"_out.txt")
	if err := os.WriteFile(path, stdout, 0o644); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, Update{SelfID: id, Status: "running", Logdir: Set(logdir), Logfile: Set(id)})
	return path
}

func TestReadLogOffsets(t *testing.T) {
	db, _ := openTemp(t)
	// Bytes that are not UTF-8, a NUL, and a character of three bytes
	// (€) that a small read cuts in the middle.
	content := []byte("first \xff\xfe line\nsecond\x00 €uro\nthird\n")
	path := logJob(t, db, "j", content)

	whole := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout})
	if whole.SelfID != "j" || whole.Stream != Stdout || whole.Path != path ||
		whole.Size != int64(len(content)) || whole.Offset != 0 || whole.NextOffset != int64(len(content)) ||
		!whole.EOF || whole.Restarted || !bytes.Equal(whole.Data, content) {
		t.Errorf("whole log = %+v", whole)
	}

	// Five bytes at a time, from each NextOffset: the exact bytes.
	var got []byte
	r := LogRequest{SelfID: "j", Stream: Stdout, MaxBytes: 5}
	for reads := 0; ; reads++ {
		if reads > len(content) {
			t.Fatal("reading never reached EOF")
		}
		part := mustReadLog(t, db, r)
		if part.Offset != r.Offset || part.NextOffset != part.Offset+int64(len(part.Data)) || len(part.Data) > 5 {
			t.Fatalf("read at %d = %+v", r.Offset, part)
		}
		if part.EOF != (part.NextOffset == part.Size) {
			t.Fatalf("EOF %v at %d of %d", part.EOF, part.NextOffset, part.Size)
		}
		got = append(got, part.Data...)
		r.Offset = part.NextOffset
		if part.EOF {
			break
		}
	}
	if !bytes.Equal(got, content) {
		t.Errorf("read in parts %q, want %q", got, content)
	}

	// At the end: nothing, and EOF; a cut inside € gives its first byte.
	end := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Offset: int64(len(content))})
	if end.Data == nil || len(end.Data) != 0 || !end.EOF || end.Restarted || end.NextOffset != int64(len(content)) {
		t.Errorf("read at the end = %#v", end)
	}
	euro := int64(bytes.Index(content, []byte("€")))
	cut := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Offset: euro, MaxBytes: 1})
	if !bytes.Equal(cut.Data, []byte{0xe2}) || cut.EOF {
		t.Errorf("a cut inside a character = %+v", cut)
	}

	// The log grows: the next read has only the new bytes.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("fourth\n"))
	f.Close()
	more := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Offset: whole.NextOffset})
	if string(more.Data) != "fourth\n" || !more.EOF || more.Restarted || more.Offset != whole.NextOffset {
		t.Errorf("read after growth = %+v", more)
	}

	// Truncated, as a rotation does: the read starts again from 0.
	if err := os.WriteFile(path, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Offset: more.NextOffset})
	if !again.Restarted || again.Offset != 0 || string(again.Data) != "new\n" || again.NextOffset != 4 ||
		again.Size != 4 || !again.EOF {
		t.Errorf("read after truncation = %+v", again)
	}
	// An offset equal to the size is not a restart.
	if at := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Offset: 4}); at.Restarted || len(at.Data) != 0 {
		t.Errorf("read at the size = %+v", at)
	}
}

func TestReadLogTails(t *testing.T) {
	db, _ := openTemp(t)
	content := []byte("one\ntwo\nthree \xff\nfour\n")
	logJob(t, db, "j", content)
	size := int64(len(content))

	tests := []struct {
		tail     LogTail
		maxBytes int
		want     string
	}{
		{LastBytes(5), 0, "four\n"},
		{LastBytes(0), 0, ""},
		{LastBytes(1000), 0, string(content)},
		{LastBytes(1000), 3, "ur\n"},
		{LastLines(1), 0, "four\n"},
		{LastLines(2), 0, "three \xff\nfour\n"},
		{LastLines(0), 0, ""},
		{LastLines(100), 0, string(content)},
		{LastLines(2), 7, "\xff\nfour\n"}, // cut to the last max_bytes
	}
	for _, tt := range tests {
		part := mustReadLog(t, db, LogRequest{SelfID: "j", Stream: Stdout, Tail: tt.tail, MaxBytes: tt.maxBytes})
		if string(part.Data) != tt.want || part.NextOffset != size || !part.EOF ||
			part.Offset != size-int64(len(tt.want)) || part.Restarted {
			t.Errorf("tail %+v max %d = %+v, want %q", tt.tail, tt.maxBytes, part, tt.want)
		}
	}

	// Tail: the last lines as they are.
	if text, err := db.Tail("j", Stdout, 2); err != nil || text != "three \xff\nfour\n" {
		t.Errorf("Tail(2) = %q, %v", text, err)
	}
	if text, err := db.Tail("j", Stdout, 0); err != nil || text != "" {
		t.Errorf("Tail(0) = %q, %v", text, err)
	}
	// No newline at the end: the last line is the unfinished one.
	logJob(t, db, "partial", []byte("a\nb\nunfinished"))
	if text, err := db.Tail("partial", Stdout, 2); err != nil || text != "b\nunfinished" {
		t.Errorf("Tail of a partial line = %q, %v", text, err)
	}
}

func TestReadLogErrors(t *testing.T) {
	db, _ := openTemp(t)
	path := logJob(t, db, "j", []byte("out\n"))
	logdir := filepath.Dir(path)

	// The stderr log is missing; then a directory.
	_, err := db.ReadLog(LogRequest{SelfID: "j", Stream: Stderr})
	wantErr(t, err, ErrNotFound, "")
	_, err = db.Tail("j", Stderr, 10)
	wantErr(t, err, ErrNotFound, "")
	if err := os.Mkdir(filepath.Join(logdir, "j_errors.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = db.ReadLog(LogRequest{SelfID: "j", Stream: Stderr})
	wantErr(t, err, ErrIO, "")

	mustUpdate(t, db, Update{SelfID: "nologs", Status: "running", Logdir: Set(logdir)})
	_, err = db.ReadLog(LogRequest{SelfID: "nologs", Stream: Stdout})
	wantErr(t, err, ErrNoLogs, "logfile")
	_, err = db.ReadLog(LogRequest{SelfID: "nobody", Stream: Stdout})
	wantErr(t, err, ErrNotFound, "")

	for _, tt := range []struct {
		r     LogRequest
		field string
	}{
		{LogRequest{Stream: Stdout}, "self_id"},
		{LogRequest{SelfID: "j"}, "stream"},
		{LogRequest{SelfID: "j", Stream: "both"}, "stream"},
		{LogRequest{SelfID: "j", Stream: Stdout, Offset: -1}, "offset"},
		{LogRequest{SelfID: "j", Stream: Stdout, Offset: 1, Tail: LastLines(1)}, "tail_lines"},
		{LogRequest{SelfID: "j", Stream: Stdout, Tail: LastBytes(-1)}, "tail_bytes"},
		{LogRequest{SelfID: "j", Stream: Stdout, MaxBytes: -1}, "max_bytes"},
		{LogRequest{SelfID: "j", Stream: Stdout, MaxBytes: MaxLogBytes + 1}, "max_bytes"},
	} {
		_, err := db.ReadLog(tt.r)
		wantErr(t, err, ErrSchema, tt.field)
	}
	_, err = db.Tail("j", Stdout, -1)
	wantErr(t, err, ErrSchema, "tail_lines")
	_, err = db.ReadLog(LogRequest{SelfID: "bad \xff", Stream: Stdout})
	wantErr(t, err, ErrInvalidArgument, "self_id")

	// The largest MaxBytes is taken.
	if part, err := db.ReadLog(LogRequest{SelfID: "j", Stream: Stdout, MaxBytes: MaxLogBytes}); err != nil ||
		string(part.Data) != "out\n" {
		t.Errorf("MaxLogBytes: %+v, %v", part, err)
	}
}

func TestLogRequestJSON(t *testing.T) {
	for _, tt := range []struct {
		r    LogRequest
		want string
	}{
		{LogRequest{SelfID: "j", Stream: Stdout},
			`{"self_id":"j","stream":"stdout","encoding":"base64"}`},
		{LogRequest{SelfID: "j", Stream: Stderr, Offset: 10, MaxBytes: 4},
			`{"self_id":"j","stream":"stderr","offset":10,"max_bytes":4,"encoding":"base64"}`},
		{LogRequest{SelfID: "j", Stream: Stdout, Tail: LastBytes(0)},
			`{"self_id":"j","stream":"stdout","tail_bytes":0,"encoding":"base64"}`},
		{LogRequest{SelfID: "j", Stream: Stdout, Tail: LastLines(3)},
			`{"self_id":"j","stream":"stdout","tail_lines":3,"encoding":"base64"}`},
	} {
		got, err := json.Marshal(tt.r)
		if err != nil || string(got) != tt.want {
			t.Errorf("%+v: %s, %v; want %s", tt.r, got, err, tt.want)
		}
	}
}
