package jobdb

/*
#include <stdlib.h>
#include <jobdb.h>
*/
import "C"

import (
	"encoding/base64"
	"strconv"
	"unsafe"
)

// Stream names one of a job's two logs.
type Stream string

const (
	// Stdout is the log {logdir}/{logfile}_out.txt.
	Stdout Stream = "stdout"
	// Stderr is the log {logdir}/{logfile}_errors.txt.
	Stderr Stream = "stderr"
)

// MaxLogBytes is the most one ReadLog returns, and the largest log file
// JobLogs reads: 16 MiB.
const MaxLogBytes = 16 << 20

// LogTail asks ReadLog for the end of a log rather than a part from an
// offset. Make one with LastBytes or LastLines; the zero LogTail asks for
// none.
type LogTail struct {
	name string // "tail_bytes" or "tail_lines"; "" for none
	n    int64
}

// LastBytes asks for the last n bytes of a log. LastBytes(0) reads
// nothing and gives the log's end as NextOffset: where to start following
// it from now on.
func LastBytes(n int64) LogTail { return LogTail{name: "tail_bytes", n: n} }

// LastLines asks for the last n lines of a log. A newline that ends the
// file ends the last line; it does not start another.
func LastLines(n int64) LogTail { return LogTail{name: "tail_lines", n: n} }

// LogRequest asks ReadLog for part of one log of one job: from Offset, or
// its Tail, at most MaxBytes. Time and memory do not grow with the file.
type LogRequest struct {
	// SelfID names the job; an empty one is refused (ErrSchema, Field
	// "self_id").
	SelfID string
	// Stream is Stdout or Stderr; anything else is refused (ErrSchema,
	// Field "stream").
	Stream Stream
	// Offset is where the read starts, in bytes from the start of the
	// file; 0 for the start. Pass the NextOffset of the previous read to
	// follow a growing log. When the file is now shorter than Offset, as
	// after a rotation, the read starts at 0 and the LogRange says
	// Restarted.
	Offset int64
	// Tail, when set, reads the end of the log instead; Offset must then
	// be 0 (ErrSchema otherwise).
	Tail LogTail
	// MaxBytes is the most the read returns, 1 to MaxLogBytes; 0 means
	// jobdb's default, 1 MiB. A tail longer than that is cut to its last
	// MaxBytes.
	MaxBytes int
}

// MarshalJSON writes the request as jobdb_read_log takes it, asking for
// the exact bytes (base64).
func (r LogRequest) MarshalJSON() ([]byte, error) {
	var o object
	o.field("self_id", r.SelfID)
	if r.Stream != "" {
		o.field("stream", string(r.Stream))
	}
	if r.Offset != 0 {
		o.field("offset", r.Offset)
	}
	if r.Tail.name != "" {
		o.field(r.Tail.name, r.Tail.n)
	}
	if r.MaxBytes != 0 {
		o.field("max_bytes", int64(r.MaxBytes))
	}
	o.field("encoding", "base64")
	return o.finish()
}

// LogRange is the part of a log that ReadLog read: the bytes of the file
// from Offset up to NextOffset.
type LogRange struct {
	SelfID string
	Stream Stream
	// Path is the file read (bytes of the path that are not UTF-8
	// replaced).
	Path string
	// Size is the file's length when it was opened.
	Size int64
	// Offset is where Data starts in the file.
	Offset int64
	// NextOffset is where the next read continues: Offset + len(Data).
	NextOffset int64
	// EOF is true when the read reached the end of the file as it was
	// when opened (NextOffset == Size).
	EOF bool
	// Restarted is true when the file was shorter than the Offset asked
	// for, as after a rotation or truncation, so the read started again
	// from 0.
	Restarted bool
	// Data are the file's exact bytes, never replaced: a log that is not
	// UTF-8, or a cut inside a character, comes back as it is. Empty, not
	// nil, when nothing was read.
	Data []byte
}

// ReadLog reads part of one log of a job: from an offset, to follow a
// growing log, or its last bytes or lines. See LogRequest. It fails with
// ErrNotFound for an unknown job or a missing file, ErrNoLogs for a job
// without Logdir or Logfile, and ErrIO for a file that is not a regular
// file or cannot be read.
//
// To follow a log as tail -f does, read from the last NextOffset until
// EOF, then wait and read again:
//
//	r := jobdb.LogRequest{SelfID: "build", Stream: jobdb.Stdout}
//	for {
//		part, err := db.ReadLog(r)
//		if err != nil {
//			return err
//		}
//		os.Stdout.Write(part.Data)
//		r.Offset = part.NextOffset
//		if part.EOF {
//			time.Sleep(time.Second)
//		}
//	}
func (db *DB) ReadLog(r LogRequest) (LogRange, error) {
	request, err := r.MarshalJSON()
	if err != nil {
		return LogRange{}, err
	}
	crequest := C.CString(string(request)) // built by us: no NUL
	defer C.free(unsafe.Pointer(crequest))

	reply, err := db.call(func(h *C.JobDb, out **C.char) C.int {
		return C.jobdb_read_log(h, crequest, out)
	})
	if err != nil {
		return LogRange{}, err
	}
	var w struct {
		SelfID     string  `json:"self_id"`
		Stream     Stream  `json:"stream"`
		Path       string  `json:"path"`
		Size       int64   `json:"size"`
		Offset     int64   `json:"offset"`
		NextOffset int64   `json:"next_offset"`
		EOF        bool    `json:"eof"`
		Restarted  bool    `json:"restarted"`
		Base64     *string `json:"base64"`
	}
	if err := decode(reply, &w); err != nil {
		return LogRange{}, err
	}
	if w.Base64 == nil {
		return LogRange{}, newError(CodeInternal, "", "jobdb_read_log's reply has no base64: "+strconv.Quote(truncate(reply)))
	}
	data, err := base64.StdEncoding.DecodeString(*w.Base64)
	if err != nil {
		return LogRange{}, newError(CodeInternal, "", "jobdb_read_log's base64 does not decode: "+err.Error())
	}
	return LogRange{
		SelfID:     w.SelfID,
		Stream:     w.Stream,
		Path:       w.Path,
		Size:       w.Size,
		Offset:     w.Offset,
		NextOffset: w.NextOffset,
		EOF:        w.EOF,
		Restarted:  w.Restarted,
		Data:       nonNil(data),
	}, nil
}

// Tail returns the last lines of a job's log (a newline that ends the
// file ends the last line), at most 1 MiB of them: the last MiB when the
// lines are longer. The text is the file's bytes as they are, which may
// not all be UTF-8 (strings.ToValidUTF8 replaces what is not). It fails
// as ReadLog does.
func (db *DB) Tail(selfID string, stream Stream, lines int) (string, error) {
	part, err := db.ReadLog(LogRequest{SelfID: selfID, Stream: stream, Tail: LastLines(int64(lines))})
	if err != nil {
		return "", err
	}
	return string(part.Data), nil
}
