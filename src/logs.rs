//! Reading a job's stdout and stderr logs.
//!
//! The files are where nodejobs puts them: `{logdir}/{logfile}_out.txt` and
//! `{logdir}/{logfile}_errors.txt`. Each stream is read on its own, so one
//! missing or unreadable file never hides the other, and its failure is
//! reported beside the text rather than in place of it.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use serde::Serialize;

use crate::error::{Code, Error, Result, quoted};
use crate::record::Job;

/// The largest log file read whole, in bytes. A larger file is reported
/// with `JOBDB_ERR_TOO_LARGE` instead of being loaded into memory.
///
/// The reply costs more than the file: JSON writes a control byte as six
/// (`\u0000`), so two logs of NUL bytes at this size make a reply of about
/// 200 MiB. The limit is kept that low for this reason.
pub const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

/// Both logs of one job.
#[derive(Debug, Serialize)]
pub struct JobLogs {
    pub self_id: String,
    pub stdout: LogStream,
    pub stderr: LogStream,
}

/// One log file: its text, or why it could not be read.
#[derive(Debug, Serialize)]
pub struct LogStream {
    /// The path jobdb read, as text (bytes that are not UTF-8 replaced).
    pub path: String,
    /// The file's content, or None when it could not be read.
    pub text: Option<String>,
    /// How many bytes were read, before any replacement.
    pub size: Option<u64>,
    /// Whether bytes that are not UTF-8 were replaced with U+FFFD.
    pub invalid_utf8: bool,
    /// Why the file could not be read: `JOBDB_ERR_NOT_FOUND` when it does
    /// not exist, `JOBDB_ERR_TOO_LARGE` past [`MAX_LOG_BYTES`], otherwise
    /// `JOBDB_ERR_IO`.
    pub error: Option<Error>,
}

/// Reads both logs of a job. Fails only when the record names no log
/// location; problems with the files are reported per stream.
pub fn read_job_logs(job: &Job) -> Result<JobLogs> {
    let (logdir, logfile) = log_location(job)?;
    let [stdout, stderr] = log_paths(logdir, logfile);
    Ok(JobLogs {
        self_id: job.self_id.clone(),
        stdout: read_stream(&stdout),
        stderr: read_stream(&stderr),
    })
}

/// The job's `logdir` and `logfile`, or `NoLogs` naming the one missing.
pub(crate) fn log_location(job: &Job) -> Result<(&str, &str)> {
    let missing = |field: &str| {
        Error::field(
            Code::NoLogs,
            field,
            format!(
                "job {} records no {field}, so it has no logs to read",
                quoted(&job.self_id)
            ),
        )
    };
    let logdir = job.logdir.as_deref().ok_or_else(|| missing("logdir"))?;
    let logfile = job.logfile.as_deref().ok_or_else(|| missing("logfile"))?;
    Ok((logdir, logfile))
}

/// The stdout and stderr files of a job, joined as nodejobs joins them.
pub fn log_paths(logdir: &str, logfile: &str) -> [String; 2] {
    [
        format!("{logdir}/{logfile}_out.txt"),
        format!("{logdir}/{logfile}_errors.txt"),
    ]
}

fn read_stream(path: &str) -> LogStream {
    match read_bounded(path) {
        Ok(bytes) => {
            let size = Some(bytes.len() as u64);
            let (text, invalid_utf8) = match String::from_utf8(bytes) {
                Ok(text) => (text, false),
                Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), true),
            };
            LogStream {
                path: path.to_owned(),
                text: Some(text),
                size,
                invalid_utf8,
                error: None,
            }
        }
        Err(error) => LogStream {
            path: path.to_owned(),
            text: None,
            size: None,
            invalid_utf8: false,
            error: Some(error),
        },
    }
}

/// Reads a regular file of at most [`MAX_LOG_BYTES`], also when it grows
/// while being read.
fn read_bounded(path: &str) -> Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    let too_large = || {
        Error::new(
            Code::TooLarge,
            format!(
                "log file {path} is larger than {MAX_LOG_BYTES} bytes, the most jobdb \
                 reads whole; read it in parts with jobdb_read_log"
            ),
        )
    };
    if size > MAX_LOG_BYTES {
        return Err(too_large());
    }

    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_LOG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| read_error(path, err))?;
    if bytes.len() as u64 > MAX_LOG_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Opens a log file that must be a regular file, and returns its size.
pub(crate) fn open_regular(path: &str) -> Result<(File, u64)> {
    let file = open_without_blocking(path)?;
    let meta = file
        .metadata()
        .map_err(|err| Error::new(Code::Io, format!("cannot stat log file {path}: {err}")))?;

    let file_type = meta.file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_dir() {
            "a directory"
        } else if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(Error::new(
            Code::Io,
            format!("log file {path} is {kind}, not a regular file"),
        ));
    }
    Ok((file, meta.len()))
}

pub(crate) fn read_error(path: &str, err: std::io::Error) -> Error {
    Error::new(Code::Io, format!("cannot read log file {path}: {err}"))
}

/// Opening a FIFO for reading would wait for a writer; O_NONBLOCK makes it
/// return at once so the type check can refuse it. Regular files ignore
/// the flag.
fn open_without_blocking(path: &str) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                Error::new(Code::NotFound, format!("log file {path} does not exist"))
            } else {
                Error::new(Code::Io, format!("cannot open log file {path}: {err}"))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn job_with_logs(dir: &std::path::Path) -> Job {
        let mut object = Map::new();
        object.insert("self_id".into(), "j".into());
        object.insert("status".into(), "finished".into());
        object.insert("logdir".into(), dir.to_str().unwrap().into());
        object.insert("logfile".into(), "j".into());
        Job::from_stored(object).unwrap()
    }

    #[test]
    fn reads_each_stream_and_reports_a_missing_one_beside_the_other() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("j_out.txt"), b"hello\n").unwrap();

        let logs = read_job_logs(&job_with_logs(dir)).unwrap();
        assert_eq!(logs.stdout.text.as_deref(), Some("hello\n"));
        assert_eq!(logs.stdout.size, Some(6));
        assert!(logs.stdout.error.is_none());
        assert_eq!(logs.stderr.text, None);
        assert_eq!(logs.stderr.error.as_ref().unwrap().code, Code::NotFound);
    }

    #[test]
    fn empty_log_is_empty_text_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("j_out.txt"), b"").unwrap();
        std::fs::write(dir.join("j_errors.txt"), b"").unwrap();

        let logs = read_job_logs(&job_with_logs(dir)).unwrap();
        assert_eq!(logs.stdout.text.as_deref(), Some(""));
        assert!(logs.stdout.error.is_none());
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("j_out.txt"), b"ok \xff\xfe end").unwrap();
        std::fs::write(dir.join("j_errors.txt"), b"fine").unwrap();

        let logs = read_job_logs(&job_with_logs(dir)).unwrap();
        assert_eq!(logs.stdout.text.as_deref(), Some("ok \u{fffd}\u{fffd} end"));
        assert!(logs.stdout.invalid_utf8);
        assert_eq!(logs.stdout.size, Some(9));
        assert!(!logs.stderr.invalid_utf8);
    }

    #[test]
    fn directories_and_fifos_are_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir(dir.join("j_out.txt")).unwrap();
        let fifo = std::ffi::CString::new(dir.join("j_errors.txt").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let logs = read_job_logs(&job_with_logs(dir)).unwrap();
        let stdout_error = logs.stdout.error.unwrap();
        assert_eq!(stdout_error.code, Code::Io);
        assert!(
            stdout_error.message.contains("a directory"),
            "{stdout_error}"
        );
        let stderr_error = logs.stderr.error.unwrap();
        assert!(stderr_error.message.contains("a FIFO"), "{stderr_error}");
    }

    #[test]
    fn a_record_without_log_location_is_no_logs() {
        let mut job = job_with_logs(std::path::Path::new("/tmp"));
        job.logfile = None;
        let err = read_job_logs(&job).unwrap_err();
        assert_eq!(err.code, Code::NoLogs);
        assert_eq!(err.field.as_deref(), Some("logfile"));
    }
}
