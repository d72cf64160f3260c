package jobdb

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The result codes of jobdb's C ABI (JOBDB_OK and the JOBDB_ERR_*
// constants of jobdb.h). Codes never change meaning.
const (
	CodeOK              = 0  // success
	CodeInvalidArgument = 1  // bad argument: closed handle, NUL byte, not UTF-8, empty folder or self_id
	CodeMalformedJSON   = 2  // JSON that does not parse
	CodeSchema          = 3  // valid JSON that is not a valid record, filter or options object
	CodeNotFound        = 4  // no job has that self_id; for a log stream, no such file
	CodeBusy            = 5  // the database stayed locked for the whole busy timeout; retry
	CodeIO              = 6  // the file system refused
	CodeDatabase        = 7  // any other SQLite error
	CodeCorrupt         = 8  // jobs.db is not SQLite, is damaged, or holds a row that is not a job
	CodeNoLogs          = 9  // the job's record has no logdir or no logfile
	CodeTooLarge        = 10 // JSON input over 64 MiB, or a log file over 16 MiB
	CodeInternal        = 11 // a bug in jobdb
	CodeConflict        = 12 // a precondition (jobdb_update_status_if) did not hold
)

// Error is a failure reported by jobdb, or found by this package before
// it called jobdb (then with the code jobdb would have used).
//
// Compare errors with errors.Is against the sentinel values (ErrNotFound,
// ErrBusy, ...): two *Error values match when their codes are equal.
type Error struct {
	// Code is one of the Code* constants.
	Code int
	// Name is the code's name in jobdb.h, such as "JOBDB_ERR_SCHEMA".
	Name string
	// Message says what went wrong, for a person.
	Message string
	// Field names the record field at fault, or is empty.
	Field string
	// Index is, for an error about one record of an UpdateMany batch,
	// that record's position in the batch, from 0; -1 otherwise. (Only
	// errors this package makes set it: an Error literal has 0.)
	Index int
	// Current is, for an ErrConflict from UpdateStatusIf, the job's
	// record as it stands, which the update was not written over; nil
	// otherwise.
	Current *Job

	// wrapped is returned by Unwrap; it lets a closed-handle error match
	// ErrClosed as well as ErrInvalidArgument.
	wrapped error
}

// Error returns "jobdb: NAME: message".
func (e *Error) Error() string {
	return fmt.Sprintf("jobdb: %s: %s", e.Name, e.Message)
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrNotFound) holds for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Unwrap returns the error this one wraps, if any (ErrClosed for calls on
// a closed DB).
func (e *Error) Unwrap() error {
	return e.wrapped
}

// Sentinel errors, one per code, for errors.Is. They match any *Error with
// the same code, whatever its message.
var (
	ErrInvalidArgument = sentinel(CodeInvalidArgument, "invalid argument")
	ErrMalformedJSON   = sentinel(CodeMalformedJSON, "malformed JSON")
	ErrSchema          = sentinel(CodeSchema, "not a valid record, filter or options object")
	ErrNotFound        = sentinel(CodeNotFound, "not found")
	ErrBusy            = sentinel(CodeBusy, "database busy")
	ErrIO              = sentinel(CodeIO, "input/output error")
	ErrDatabase        = sentinel(CodeDatabase, "database error")
	ErrCorrupt         = sentinel(CodeCorrupt, "database corrupt")
	ErrNoLogs          = sentinel(CodeNoLogs, "job has no logs")
	ErrTooLarge        = sentinel(CodeTooLarge, "too large")
	ErrInternal        = sentinel(CodeInternal, "internal error in jobdb")
	ErrConflict        = sentinel(CodeConflict, "precondition did not hold")
)

// ErrClosed is matched (through errors.Is) by the error every method of a
// closed DB returns. That error is an *Error with CodeInvalidArgument, as
// the library itself reports a closed handle.
var ErrClosed = errors.New("jobdb: database is closed")

// codeNames are the names of the codes, as jobdb_code_name returns them
// (a test checks that they agree).
var codeNames = [...]string{
	CodeOK:              "JOBDB_OK",
	CodeInvalidArgument: "JOBDB_ERR_INVALID_ARGUMENT",
	CodeMalformedJSON:   "JOBDB_ERR_MALFORMED_JSON",
	CodeSchema:          "JOBDB_ERR_SCHEMA",
	CodeNotFound:        "JOBDB_ERR_NOT_FOUND",
	CodeBusy:            "JOBDB_ERR_BUSY",
	CodeIO:              "JOBDB_ERR_IO",
	CodeDatabase:        "JOBDB_ERR_DATABASE",
	CodeCorrupt:         "JOBDB_ERR_CORRUPT",
	CodeNoLogs:          "JOBDB_ERR_NO_LOGS",
	CodeTooLarge:        "JOBDB_ERR_TOO_LARGE",
	CodeInternal:        "JOBDB_ERR_INTERNAL",
	CodeConflict:        "JOBDB_ERR_CONFLICT",
}

// CodeName returns the name of a code, such as "JOBDB_ERR_BUSY", or
// "JOBDB_ERR_UNKNOWN" for a number that is no code.
func CodeName(code int) string {
	if code >= 0 && code < len(codeNames) {
		return codeNames[code]
	}
	return "JOBDB_ERR_UNKNOWN"
}

func sentinel(code int, message string) *Error {
	return &Error{Code: code, Name: CodeName(code), Message: message, Index: -1}
}

// newError makes an error found on the Go side.
func newError(code int, field, message string) *Error {
	return &Error{Code: code, Name: CodeName(code), Message: message, Field: field, Index: -1}
}

func errClosed() error {
	return &Error{
		Code:    CodeInvalidArgument,
		Name:    CodeName(CodeInvalidArgument),
		Message: "the database is closed",
		Index:   -1,
		wrapped: ErrClosed,
	}
}

// atIndex marks an error found on the Go side in record index of a
// batch, as jobdb marks its own.
func atIndex(err error, index int) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	marked := *e
	marked.Message = fmt.Sprintf("record %d of the batch: %s", index, e.Message)
	marked.Index = index
	return &marked
}

// wireError is an error object as jobdb writes it:
// {"code": 3, "name": "JOBDB_ERR_SCHEMA", "message": "...", "field": "last_pid"},
// with "index" for a record of a batch and "current" for a conflict.
type wireError struct {
	Code    int             `json:"code"`
	Name    string          `json:"name"`
	Message string          `json:"message"`
	Field   string          `json:"field"`
	Index   *int            `json:"index"`
	Current json.RawMessage `json:"current"`
}

func (w *wireError) toError() *Error {
	name := w.Name
	if name == "" {
		name = CodeName(w.Code)
	}
	e := &Error{Code: w.Code, Name: name, Message: w.Message, Field: w.Field, Index: -1}
	if w.Index != nil {
		e.Index = *w.Index
	}
	if len(w.Current) > 0 && string(w.Current) != "null" {
		var job Job
		if err := json.Unmarshal(w.Current, &job); err != nil {
			e.Message += fmt.Sprintf(" (and its current record could not be read: %v)", err)
		} else {
			e.Current = &job
		}
	}
	return e
}

// parseError turns the error document of a failed call into an *Error.
// code is the call's return value, which wins over the document's.
func parseError(code int, doc []byte) *Error {
	var w wireError
	if err := json.Unmarshal(doc, &w); err != nil || w.Code != code {
		return &Error{
			Code:    code,
			Name:    CodeName(code),
			Message: fmt.Sprintf("jobdb returned code %d with an unreadable error document: %q", code, doc),
			Index:   -1,
		}
	}
	return w.toError()
}
