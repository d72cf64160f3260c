//! Deleting jobs that match a filter, and optionally their log files.

use serde::Serialize;

use crate::error::{Code, Error, Result};
use crate::filter::JobFilter;
use crate::logs::log_paths;
use crate::record::{Job, parse_pairs, unknown_member, wrong_value};

/// What to delete: the jobs matching `filter`, except the `keep_newest`
/// with the latest `last_update`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteRequest {
    pub filter: JobFilter,
    pub keep_newest: u64,
    pub dry_run: bool,
    pub remove_logs: bool,
}

impl DeleteRequest {
    /// Parses `{"filter": {...}, "keep_newest": 10, "dry_run": true,
    /// "remove_logs": false}`. The filter is required, so that deleting
    /// every job takes an explicit `{}`.
    pub fn parse(json: &str) -> Result<DeleteRequest> {
        let mut filter = None;
        let mut request = DeleteRequest {
            filter: JobFilter::default(),
            keep_newest: 0,
            dry_run: false,
            remove_logs: false,
        };
        for (name, value) in parse_pairs(json, "delete request")? {
            let wrong = |expected: &str| wrong_value(&name, expected, &value);
            match name.as_str() {
                "filter" if value.is_object() => filter = Some(JobFilter::from_value(&value)?),
                "filter" => return Err(wrong("a filter object")),
                "keep_newest" => {
                    request.keep_newest = value.as_u64().ok_or_else(|| wrong("a whole number"))?
                }
                "dry_run" => {
                    request.dry_run = value.as_bool().ok_or_else(|| wrong("true or false"))?
                }
                "remove_logs" => {
                    request.remove_logs = value.as_bool().ok_or_else(|| wrong("true or false"))?
                }
                _ => {
                    return Err(unknown_member(
                        &name,
                        "a delete request",
                        "filter, keep_newest, dry_run and remove_logs",
                    ));
                }
            }
        }
        request.filter = filter.ok_or_else(|| {
            Error::field(
                Code::Schema,
                "filter",
                "a delete request needs a filter; give \"filter\": {} to delete every job",
            )
        })?;
        Ok(request)
    }
}

/// What a deletion did, or with `dry_run`, would do.
#[derive(Debug, Default, Serialize)]
pub struct Deletion {
    pub dry_run: bool,
    /// The `self_id`s deleted, newest first.
    pub deleted: Vec<String>,
    /// Log files removed (or, in a dry run, that would be).
    pub logs_removed: Vec<String>,
    /// Log files left in place because a job that stays names them too.
    pub logs_kept: Vec<String>,
    /// Log files that could not be removed, each with its error.
    pub log_errors: Vec<LogError>,
}

#[derive(Debug, Serialize)]
pub struct LogError {
    pub path: String,
    pub error: Error,
}

/// The two log files of each deleted job, split into those to remove and
/// those another job still names. `still_named` tells whether a job that
/// stays has this `logdir` and `logfile`.
pub(crate) fn plan_log_removal(
    doomed: &[Job],
    mut still_named: impl FnMut(&str, &str) -> Result<bool>,
    deletion: &mut Deletion,
) -> Result<Vec<String>> {
    let mut to_remove = Vec::new();
    for job in doomed {
        let (Some(logdir), Some(logfile)) = (&job.logdir, &job.logfile) else {
            continue;
        };
        let paths = log_paths(logdir, logfile);
        if still_named(logdir, logfile)? {
            let existing = paths
                .into_iter()
                .filter(|path| std::fs::symlink_metadata(path).is_ok());
            deletion.logs_kept.extend(existing);
        } else {
            to_remove.extend(paths);
        }
    }
    deletion.logs_kept.sort();
    deletion.logs_kept.dedup();
    to_remove.sort();
    to_remove.dedup();
    Ok(to_remove)
}

/// Removes the files; a file already gone is not an error.
pub(crate) fn remove_logs(paths: Vec<String>, dry_run: bool, deletion: &mut Deletion) {
    for path in paths {
        if dry_run {
            if std::fs::symlink_metadata(&path).is_ok() {
                deletion.logs_removed.push(path);
            }
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => deletion.logs_removed.push(path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                let error = Error::new(Code::Io, format!("cannot remove log file {path}: {err}"));
                deletion.log_errors.push(LogError { path, error });
            }
        }
    }
}
