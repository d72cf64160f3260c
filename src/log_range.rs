//! Reading part of one log: from an offset, or its tail.
//!
//! Each read is bounded by `max_bytes`, so following a growing log, or
//! taking the last lines of a huge one, costs time and memory in
//! proportion to what is returned, never to the file's size.

use std::io::{Read, Seek, SeekFrom};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::error::{Code, Error, Result};
use crate::logs::{MAX_LOG_BYTES, log_location, log_paths, open_regular, read_error};
use crate::record::{Job, parse_pairs, unknown_member, wrong_value};

/// How much a read returns when the request does not say.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

/// How far back a tail read looks at a time.
const TAIL_CHUNK: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At this byte; past the end of a file that shrank, at 0.
    Offset(u64),
    /// This many bytes before the end.
    TailBytes(u64),
    /// At the start of the last this-many lines.
    TailLines(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub self_id: String,
    pub stream: Stream,
    pub start: Start,
    pub max_bytes: u64,
    pub base64: bool,
}

impl LogRequest {
    /// Parses `{"self_id": "j", "stream": "stdout", "offset": 0,
    /// "max_bytes": 65536, "encoding": "text"}`; `offset` may be replaced
    /// by `tail_bytes` or `tail_lines`.
    pub fn parse(json: &str) -> Result<LogRequest> {
        let mut self_id = None;
        let mut stream = None;
        let mut start = None;
        let mut max_bytes = DEFAULT_MAX_BYTES;
        let mut base64 = false;

        for (name, value) in parse_pairs(json, "log request")? {
            let wrong = |expected: &str| wrong_value(&name, expected, &value);
            let count = || value.as_u64().ok_or_else(|| wrong("a whole number"));
            match name.as_str() {
                "self_id" => match value.as_str() {
                    Some(id) if !id.is_empty() => self_id = Some(id.to_owned()),
                    _ => return Err(wrong("a non-empty string")),
                },
                "stream" => {
                    stream = Some(match value.as_str() {
                        Some("stdout") => Stream::Stdout,
                        Some("stderr") => Stream::Stderr,
                        _ => return Err(wrong("\"stdout\" or \"stderr\"")),
                    })
                }
                "offset" | "tail_bytes" | "tail_lines" => {
                    if start.is_some() {
                        return Err(Error::field(
                            Code::Schema,
                            &name,
                            "give one of offset, tail_bytes and tail_lines",
                        ));
                    }
                    let n = count()?;
                    start = Some(match name.as_str() {
                        "offset" => Start::Offset(n),
                        "tail_bytes" => Start::TailBytes(n),
                        _ => Start::TailLines(n),
                    });
                }
                "max_bytes" => {
                    max_bytes = value
                        .as_u64()
                        .filter(|n| (1..=MAX_LOG_BYTES).contains(n))
                        .ok_or_else(|| wrong("a whole number from 1 to 16777216"))?;
                }
                "encoding" => {
                    base64 = match value.as_str() {
                        Some("text") => false,
                        Some("base64") => true,
                        _ => return Err(wrong("\"text\" or \"base64\"")),
                    }
                }
                _ => {
                    return Err(unknown_member(
                        &name,
                        "a log request",
                        "self_id, stream, offset, tail_bytes, tail_lines, max_bytes and encoding",
                    ));
                }
            }
        }

        let missing =
            |field: &str| Error::field(Code::Schema, field, format!("a log request needs {field}"));
        Ok(LogRequest {
            self_id: self_id.ok_or_else(|| missing("self_id"))?,
            stream: stream.ok_or_else(|| missing("stream"))?,
            start: start.unwrap_or(Start::Offset(0)),
            max_bytes,
            base64,
        })
    }
}

/// The part of a log that was read.
#[derive(Debug, Serialize)]
pub struct LogRange {
    pub self_id: String,
    pub stream: &'static str,
    pub path: String,
    /// The file's size when it was opened.
    pub size: u64,
    /// Where the returned bytes start.
    pub offset: u64,
    /// Where the next read should start to continue.
    pub next_offset: u64,
    /// Whether the read reached the end of the file as it was opened.
    pub eof: bool,
    /// Whether the file was shorter than the offset asked for, as after a
    /// rotation or truncation, so the read started again from 0.
    pub restarted: bool,
    /// The bytes as text, U+FFFD replacing what is not UTF-8; null with
    /// the base64 encoding.
    pub text: Option<String>,
    /// The exact bytes in base64, with the base64 encoding.
    pub base64: Option<String>,
    pub invalid_utf8: bool,
}

/// Reads the part of a job's log that the request names.
pub fn read_log(job: &Job, request: &LogRequest) -> Result<LogRange> {
    let (logdir, logfile) = log_location(job)?;
    let [stdout, stderr] = log_paths(logdir, logfile);
    let (path, stream) = match request.stream {
        Stream::Stdout => (stdout, "stdout"),
        Stream::Stderr => (stderr, "stderr"),
    };

    let (mut file, size) = open_regular(&path)?;
    let (offset, restarted) = match request.start {
        Start::Offset(offset) if offset > size => (0, true),
        Start::Offset(offset) => (offset, false),
        Start::TailBytes(n) => (size - n.min(size).min(request.max_bytes), false),
        Start::TailLines(n) => (
            tail_start(&mut file, &path, size, n, request.max_bytes)?,
            false,
        ),
    };
    let length = (size - offset).min(request.max_bytes);

    let mut bytes = Vec::with_capacity(length as usize);
    file.seek(SeekFrom::Start(offset))
        .map_err(|err| read_error(&path, err))?;
    file.take(length)
        .read_to_end(&mut bytes)
        .map_err(|err| read_error(&path, err))?;
    let next_offset = offset + bytes.len() as u64;

    let (text, base64, invalid_utf8) = if request.base64 {
        (None, Some(STANDARD.encode(&bytes)), false)
    } else {
        match String::from_utf8(bytes) {
            Ok(text) => (Some(text), None, false),
            Err(err) => (
                Some(String::from_utf8_lossy(err.as_bytes()).into_owned()),
                None,
                true,
            ),
        }
    };
    Ok(LogRange {
        self_id: job.self_id.clone(),
        stream,
        path,
        size,
        offset,
        next_offset,
        eof: next_offset >= size,
        restarted,
        text,
        base64,
        invalid_utf8,
    })
}

/// Where the last `lines` lines of the file start, looking back at most
/// `max_bytes` from the end. A newline that ends the file ends the last
/// line; it does not start another.
fn tail_start(
    file: &mut std::fs::File,
    path: &str,
    size: u64,
    lines: u64,
    max_bytes: u64,
) -> Result<u64> {
    let floor = size.saturating_sub(max_bytes);
    if lines == 0 {
        return Ok(size);
    }
    let mut newlines_wanted = lines;
    let mut end = size;
    let mut buffer = vec![0; TAIL_CHUNK as usize];

    while end > floor {
        let start = end.saturating_sub(TAIL_CHUNK).max(floor);
        let chunk = &mut buffer[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .map_err(|err| read_error(path, err))?;
        file.read_exact(chunk)
            .map_err(|err| read_error(path, err))?;

        for (index, byte) in chunk.iter().enumerate().rev() {
            let position = start + index as u64;
            if *byte != b'\n' || position + 1 == size {
                continue;
            }
            newlines_wanted -= 1;
            if newlines_wanted == 0 {
                return Ok(position + 1);
            }
        }
        end = start;
    }
    Ok(floor)
}
