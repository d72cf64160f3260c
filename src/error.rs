//! The error type every jobdb operation returns, and its stable codes.
//!
//! The numeric codes are part of the C ABI: they never change meaning, and
//! new ones are only ever appended.

use std::fmt;

use serde::Serialize;

/// What went wrong, as a stable number a host can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// A NULL pointer, a closed handle, invalid UTF-8 or a bad option.
    InvalidArgument = 1,
    /// The JSON text does not parse (syntax, truncation, nesting depth).
    MalformedJson = 2,
    /// The JSON parses but is not a valid record or filter.
    Schema = 3,
    /// No job has the requested `self_id`, or a log file does not exist.
    NotFound = 4,
    /// Another connection held a lock for longer than the busy timeout.
    Busy = 5,
    /// The file system refused: permissions, a full disk, a missing folder.
    Io = 6,
    /// SQLite reported an error that fits none of the other codes.
    Database = 7,
    /// The database file, or a row in it, is not what jobdb can read.
    Corrupt = 8,
    /// The job exists but records no `logdir` or no `logfile`.
    NoLogs = 9,
    /// An input or a log file is larger than the documented limit.
    TooLarge = 10,
    /// A bug in jobdb, such as a caught panic.
    Internal = 11,
    /// An update's precondition did not hold; nothing was written.
    Conflict = 12,
}

impl Code {
    /// The numeric value used at the C boundary.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The name of the C constant for this code, such as `JOBDB_ERR_BUSY`.
    pub fn name(self) -> &'static str {
        match self {
            Code::InvalidArgument => "JOBDB_ERR_INVALID_ARGUMENT",
            Code::MalformedJson => "JOBDB_ERR_MALFORMED_JSON",
            Code::Schema => "JOBDB_ERR_SCHEMA",
            Code::NotFound => "JOBDB_ERR_NOT_FOUND",
            Code::Busy => "JOBDB_ERR_BUSY",
            Code::Io => "JOBDB_ERR_IO",
            Code::Database => "JOBDB_ERR_DATABASE",
            Code::Corrupt => "JOBDB_ERR_CORRUPT",
            Code::NoLogs => "JOBDB_ERR_NO_LOGS",
            Code::TooLarge => "JOBDB_ERR_TOO_LARGE",
            Code::Internal => "JOBDB_ERR_INTERNAL",
            Code::Conflict => "JOBDB_ERR_CONFLICT",
        }
    }

    /// Every code, in numeric order.
    pub const ALL: [Code; 12] = [
        Code::InvalidArgument,
        Code::MalformedJson,
        Code::Schema,
        Code::NotFound,
        Code::Busy,
        Code::Io,
        Code::Database,
        Code::Corrupt,
        Code::NoLogs,
        Code::TooLarge,
        Code::Internal,
        Code::Conflict,
    ];

    /// The code with this numeric value, if there is one.
    pub fn from_i32(value: i32) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_i32() == value)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_i32(self.as_i32())
    }
}

/// An error with a code, a message for a person, and where it applies, the
/// name of the record field at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Error {
    pub code: Code,
    pub name: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// In a batch, the position of the record at fault, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// With `Conflict`, the job's record as it stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<serde_json::Value>>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            name: code.name(),
            message: message.into(),
            field: None,
            index: None,
            current: None,
        }
    }

    /// An error about one named field of a record or filter.
    pub fn field(code: Code, field: &str, message: impl Into<String>) -> Error {
        Error {
            field: Some(field.to_owned()),
            ..Error::new(code, message)
        }
    }

    /// The error as the JSON object handed to hosts.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Error {
    /// Marks the error as belonging to the record at `index` of a batch.
    pub fn at_index(mut self, index: usize) -> Error {
        self.message = format!("record {index} of the batch: {}", self.message);
        self.index = Some(index);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A caller's text quoted for a message, cut short when long, so that an
/// error about a huge argument is not itself huge.
pub fn quoted(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(MAX_CHARS).collect();
    format!("{head:?}... ({} bytes)", text.len())
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode as E;

        let code = match err.sqlite_error_code() {
            Some(E::DatabaseBusy | E::DatabaseLocked) => Code::Busy,
            Some(E::DatabaseCorrupt | E::NotADatabase) => Code::Corrupt,
            Some(
                E::CannotOpen
                | E::SystemIoFailure
                | E::DiskFull
                | E::ReadOnly
                | E::PermissionDenied,
            ) => Code::Io,
            _ => Code::Database,
        };
        let hint = match err.sqlite_error_code() {
            Some(E::DatabaseBusy | E::DatabaseLocked) => {
                "; another connection held the lock for the whole busy \
                 timeout; nothing was written and the call may be retried"
            }
            Some(E::CannotOpen | E::ReadOnly | E::PermissionDenied) => {
                "; this process must be able to read and write the folder, \
                 and jobs.db, jobs.db-wal and jobs.db-shm in it"
            }
            Some(E::DiskFull) => "; nothing was written",
            _ => "",
        };
        Error::new(code, format!("SQLite: {err}{hint}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::new(Code::Io, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (index, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_i32(), index as i32 + 1);
            assert_eq!(Code::from_i32(code.as_i32()), Some(*code));
        }
        assert_eq!(Code::from_i32(0), None);
        assert_eq!(Code::from_i32(13), None);
    }

    #[test]
    fn long_text_is_quoted_short() {
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        let long = "x".repeat(1000);
        let short = quoted(&long);
        assert!(
            short.len() < 120 && short.ends_with("... (1000 bytes)"),
            "{short}"
        );
    }

    #[test]
    fn error_json_carries_code_name_message_and_field() {
        let err = Error::field(Code::Schema, "last_pid", "must be an integer");
        let value: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(value["code"], 3);
        assert_eq!(value["name"], "JOBDB_ERR_SCHEMA");
        assert_eq!(value["message"], "must be an integer");
        assert_eq!(value["field"], "last_pid");
    }
}
