//! The database: one `jobs.db` per folder, shared with nodejobs.
//!
//! The table is nodejobs' own, `process_status (_id, value)`, with the whole
//! record as JSON in `value`. jobdb adds expression indexes on the JSON
//! fields it filters by; they match the expressions nodejobs writes in its
//! queries, so nodejobs' lookups by `self_id` use them as well.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the write
//! lock before reading, so a read-merge-write never races another process
//! and waits for the lock (up to the busy timeout) instead of failing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params_from_iter};
use serde_json::{Map, Value};

use crate::changes::{self, Change, Changes, ChangesRequest};
use crate::duplicates;
use crate::error::{Code, Error, Result, quoted};
use crate::filter::JobFilter;
use crate::log_range::{self, LogRange, LogRequest};
use crate::logs::{self, JobLogs};
use crate::query::Query;
use crate::record::{
    Job, JobPatch, ROW_ID_KEY, parse_pairs, parse_stored_object, unknown_member, wrong_value,
};
use crate::retention::{self, DeleteRequest, Deletion};

/// The file jobdb and nodejobs keep in the database folder.
pub const DB_FILE_NAME: &str = "jobs.db";

/// How long a call waits for another connection's lock by default.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite takes the busy timeout as a C int of milliseconds.
const MAX_BUSY_TIMEOUT_MS: u64 = i32::MAX as u64;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS process_status (\
     _id TEXT PRIMARY KEY UNIQUE, value TEXT NOT NULL)";

/// Index name and definition. The expressions must stay exactly those used
/// in queries, or SQLite will not use the index. Time indexes end with
/// `self_id`, the tie-break of every order.
const INDEXES: [(&str, &str); 6] = [
    (
        "jobdb_by_self_id",
        "CREATE INDEX IF NOT EXISTS jobdb_by_self_id ON process_status (\
         json_extract(value, '$.self_id'), json_extract(value, '$.last_update'))",
    ),
    (
        "jobdb_by_status",
        "CREATE INDEX IF NOT EXISTS jobdb_by_status ON process_status (\
         json_extract(value, '$.status'), json_extract(value, '$.last_update'))",
    ),
    (
        "jobdb_by_last_update",
        "CREATE INDEX IF NOT EXISTS jobdb_by_last_update ON process_status (\
         json_extract(value, '$.last_update'), json_extract(value, '$.self_id'))",
    ),
    (
        "jobdb_by_created_at",
        "CREATE INDEX IF NOT EXISTS jobdb_by_created_at ON process_status (\
         json_extract(value, '$.created_at'), json_extract(value, '$.self_id'))",
    ),
    (
        "jobdb_by_started_at",
        "CREATE INDEX IF NOT EXISTS jobdb_by_started_at ON process_status (\
         json_extract(value, '$.started_at'), json_extract(value, '$.self_id'))",
    ),
    (
        "jobdb_by_ended_at",
        "CREATE INDEX IF NOT EXISTS jobdb_by_ended_at ON process_status (\
         json_extract(value, '$.ended_at'), json_extract(value, '$.self_id'))",
    ),
];

/// The rows of one `self_id`, oldest first: by `last_update`, then by
/// insertion order. Another writer may have left more than one.
const SELECT_BY_SELF_ID: &str = "SELECT rowid, _id, value FROM process_status \
     WHERE json_extract(value, '$.self_id') = ?1 \
     ORDER BY COALESCE(json_extract(value, '$.last_update'), ''), rowid";

/// The row of one `self_id` that reads return: the last of
/// [`SELECT_BY_SELF_ID`]'s order.
const SELECT_NEWEST_BY_SELF_ID: &str = "SELECT _id, value FROM process_status \
     WHERE json_extract(value, '$.self_id') = ?1 \
     ORDER BY COALESCE(json_extract(value, '$.last_update'), '') DESC, rowid DESC \
     LIMIT 1";

/// Prepared statements a handle keeps, by SQL text.
const STATEMENT_CACHE_CAPACITY: usize = 64;

const INSERT_ROW: &str = "INSERT INTO process_status (_id, value) VALUES (?1, ?2)";
const UPDATE_ROW: &str = "UPDATE process_status SET value = ?1 WHERE rowid = ?2";
const DELETE_ROW: &str = "DELETE FROM process_status WHERE rowid = ?1";

/// How hard SQLite works to keep a commit across a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// A commit survives the process being killed; the last commits may be
    /// lost, never the database's consistency, if the machine loses power.
    Normal,
    /// A commit also survives a power loss or OS crash, at several times
    /// the cost per commit.
    Full,
}

/// Settings for opening a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub busy_timeout: Duration,
    pub synchronous: Synchronous,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            busy_timeout: Duration::from_millis(DEFAULT_BUSY_TIMEOUT_MS),
            synchronous: Synchronous::Normal,
        }
    }
}

impl Options {
    /// Parses `{"busy_timeout_ms": 10000, "synchronous": "normal"}`; both
    /// keys are optional and None means the defaults.
    pub fn parse(json: Option<&str>) -> Result<Options> {
        let mut options = Options::default();
        let Some(json) = json else {
            return Ok(options);
        };

        for (name, value) in parse_pairs(json, "options object")? {
            let wrong = |expected: &str| wrong_value(&name, expected, &value);
            match name.as_str() {
                "busy_timeout_ms" => {
                    let millis = value
                        .as_u64()
                        .filter(|millis| *millis <= MAX_BUSY_TIMEOUT_MS)
                        .ok_or_else(|| {
                            wrong("a whole number of milliseconds from 0 to 2147483647")
                        })?;
                    options.busy_timeout = Duration::from_millis(millis);
                }
                "synchronous" => {
                    options.synchronous = match value.as_str() {
                        Some("normal") => Synchronous::Normal,
                        Some("full") => Synchronous::Full,
                        _ => return Err(wrong("\"normal\" or \"full\"")),
                    };
                }
                _ => {
                    return Err(unknown_member(
                        &name,
                        "the options",
                        "busy_timeout_ms and synchronous",
                    ));
                }
            }
        }
        Ok(options)
    }
}

/// An open `jobs.db`. One `Store` may be used from many threads; calls on
/// it run one at a time.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// One stored row of `process_status`.
struct Row {
    rowid: i64,
    key: String,
    object: Map<String, Value>,
}

impl Store {
    /// Opens `<dir>/jobs.db`, creating the folder, the file, the table and
    /// the indexes when they are missing.
    pub fn open(dir: &Path, options: &Options) -> Result<Store> {
        if dir.as_os_str().is_empty() {
            return Err(Error::new(
                Code::InvalidArgument,
                "the database folder is an empty string",
            ));
        }
        if dir.is_file() {
            return Err(Error::new(
                Code::InvalidArgument,
                format!(
                    "{} is a file; give the folder that holds {DB_FILE_NAME}, \
                     or one to create it in",
                    dir.display()
                ),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|err| {
            Error::new(
                Code::Io,
                format!("cannot create the database folder {}: {err}", dir.display()),
            )
        })?;

        // Debian's SQLite reads a name that starts with "file:" as a URI;
        // "./" in front keeps a relative folder of that name a plain path.
        let path = if dir.is_relative() {
            Path::new(".").join(dir).join(DB_FILE_NAME)
        } else {
            dir.join(DB_FILE_NAME)
        };
        let context = |err: Error| err.context(&format!("opening {}", path.display()));
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| context(err.into()))?;

        configure(&conn, options).map_err(context)?;
        ensure_schema(&mut conn).map_err(context)?;

        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The path of the `jobs.db` file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held left no transaction open: the
        // transaction guard rolled back as it unwound.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs reads in one transaction, so that they all see one snapshot.
    fn read<T>(&self, body: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let result = body(&tx)?;
        tx.commit()?;
        Ok(result)
    }

    /// Writes a patch over the job's stored record, or creates the job,
    /// and returns the record as stored. See [`write_patch`].
    pub fn update_status(&self, patch: &JobPatch) -> Result<Job> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let job = write_patch(&tx, patch, None)?;
        tx.commit()?;
        Ok(job)
    }

    /// Like [`Store::update_status`], but only when the job exists and its
    /// current record matches `condition`; otherwise nothing is written
    /// and the error is `NotFound` or `Conflict`, the latter carrying the
    /// current record.
    pub fn update_status_if(&self, patch: &JobPatch, condition: &JobFilter) -> Result<Job> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let job = write_patch(&tx, patch, Some(condition))?;
        tx.commit()?;
        Ok(job)
    }

    /// Applies patches in order, in one transaction: all are written, or,
    /// at the first that fails, none. The error's `index` is that patch's
    /// position.
    pub fn update_many(&self, patches: &[JobPatch]) -> Result<Vec<Job>> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut jobs = Vec::with_capacity(patches.len());
        for (index, patch) in patches.iter().enumerate() {
            let job = write_patch(&tx, patch, None).map_err(|err| err.at_index(index))?;
            jobs.push(job);
        }
        tx.commit()?;
        Ok(jobs)
    }

    /// The job with this `self_id`; where several rows share it, the one
    /// with the newest `last_update` (then the one inserted last).
    pub fn get_status(&self, self_id: &str) -> Result<Job> {
        let conn = self.lock();
        newest_job(&conn, self_id)?.ok_or_else(|| not_found(self_id))
    }

    /// The jobs that match every condition of the filter, by `self_id`.
    pub fn list_status(&self, filter: &JobFilter) -> Result<BTreeMap<String, Job>> {
        self.read(|conn| {
            let (sql, args) = list_query(conn, filter)?;
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(params_from_iter(args))?;
            let mut jobs = BTreeMap::new();
            while let Some(row) = rows.next()? {
                let key: String = row.get(0)?;
                let text: String = row.get(1)?;
                let job = Job::from_stored_text(&key, &text)?;
                jobs.insert(job.self_id.clone(), job);
            }
            Ok(jobs)
        })
    }

    /// A page of the jobs matching a query, in its order, and the cursor
    /// of the next page when there may be one.
    pub fn query(&self, query: &Query) -> Result<Page> {
        let mut args = Vec::new();
        let conditions = query.filter.to_sql(&mut args);
        let (keyset, order) = query.page_sql(&mut args);
        // One job more than the page holds tells whether a next page exists.
        let limit = query.limit.map_or(-1, |limit| limit as i64 + 1);

        self.read(|conn| {
            let sql = format!(
                "SELECT p._id, p.value, {key} FROM process_status AS p \
                 WHERE {conditions} AND {keyset} AND {newest} \
                 ORDER BY {order} LIMIT {limit}",
                key = query.key_sql(),
                newest = duplicates::newest_row_only(conn)?,
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(params_from_iter(args))?;
            let mut jobs = Vec::new();
            let mut last_key = None;
            while let Some(row) = rows.next()? {
                if query.limit.is_some_and(|limit| jobs.len() as u64 == limit) {
                    let job: &Job = jobs.last().expect("a limit is at least 1");
                    let cursor = query.cursor_after(last_key.as_deref(), &job.self_id);
                    return Ok(Page {
                        jobs,
                        next_cursor: Some(cursor),
                    });
                }
                let key: String = row.get(0)?;
                let text: String = row.get(1)?;
                last_key = sort_key(row.get_ref(2)?);
                jobs.push(Job::from_stored_text(&key, &text)?);
            }
            Ok(Page {
                jobs,
                next_cursor: None,
            })
        })
    }

    /// Deletes the jobs a request names, every row of each, in one
    /// transaction; then, if asked, their log files. A dry run changes
    /// nothing and reports what would go.
    pub fn delete(&self, request: &DeleteRequest) -> Result<Deletion> {
        let mut deletion = Deletion {
            dry_run: request.dry_run,
            ..Deletion::default()
        };
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

        let mut args = Vec::new();
        let conditions = request.filter.to_sql(&mut args);
        let sql = format!(
            "SELECT p._id, p.value FROM process_status AS p \
             WHERE {conditions} AND {newest} \
             ORDER BY json_extract(p.value, '$.last_update') DESC, \
             json_extract(p.value, '$.self_id') DESC",
            newest = duplicates::newest_row_only(&tx)?,
        );
        let mut doomed = Vec::new();
        {
            let mut statement = tx.prepare(&sql)?;
            let mut rows = statement.query(params_from_iter(args))?;
            let mut kept = 0;
            while let Some(row) = rows.next()? {
                if kept < request.keep_newest {
                    kept += 1;
                    continue;
                }
                let key: String = row.get(0)?;
                let text: String = row.get(1)?;
                doomed.push(Job::from_stored_text(&key, &text)?);
            }
        }

        for job in &doomed {
            tx.prepare_cached(
                "DELETE FROM process_status WHERE json_extract(value, '$.self_id') = ?1",
            )?
            .execute([&job.self_id])?;
            deletion.deleted.push(job.self_id.clone());
        }
        let log_files = if request.remove_logs {
            let still_named = |logdir: &str, logfile: &str| -> Result<bool> {
                let count: i64 = tx.query_row(
                    "SELECT count(*) FROM process_status \
                     WHERE json_extract(value, '$.logdir') = ?1 \
                     AND json_extract(value, '$.logfile') = ?2",
                    [logdir, logfile],
                    |row| row.get(0),
                )?;
                Ok(count > 0)
            };
            retention::plan_log_removal(&doomed, still_named, &mut deletion)?
        } else {
            Vec::new()
        };

        if request.dry_run {
            tx.rollback()?;
        } else {
            tx.commit()?;
        }
        drop(conn);
        retention::remove_logs(log_files, request.dry_run, &mut deletion);
        Ok(deletion)
    }

    /// The jobs that changed after the request's cursor, oldest change
    /// first, each with its record now (null once deleted).
    pub fn changes(&self, request: &ChangesRequest) -> Result<Changes> {
        let conn = self.lock();
        let database = changes::database_id(&conn)?;
        let after = changes::decode_cursor(request.cursor(), &database)?;
        if request.from_now {
            let now: i64 = conn.query_row(
                "SELECT coalesce(max(seq), 0) FROM jobdb_changes",
                [],
                |row| row.get(0),
            )?;
            return Ok(Changes {
                changes: Vec::new(),
                next_cursor: changes::encode_cursor(now, &database),
                more: false,
            });
        }

        let mut statement = conn.prepare_cached(
            "SELECT seq, self_id FROM jobdb_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let entries = statement
            .query_map((after, request.limit as i64 + 1), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;

        let more = entries.len() as u64 > request.limit;
        let mut last_seq = after;
        let mut found = Vec::new();
        for (seq, self_id) in entries.into_iter().take(request.limit as usize) {
            let record = newest_job(&conn, &self_id)?;
            found.push(Change { self_id, record });
            last_seq = seq;
        }
        Ok(Changes {
            changes: found,
            next_cursor: changes::encode_cursor(last_seq, &database),
            more,
        })
    }

    /// How many jobs match a filter, without reading them.
    pub fn count(&self, filter: &JobFilter) -> Result<u64> {
        let mut args = Vec::new();
        let conditions = filter.to_sql(&mut args);
        self.read(|conn| {
            let sql = format!(
                "SELECT count(*) FROM process_status AS p WHERE {conditions} AND {newest}",
                newest = duplicates::newest_row_only(conn)?,
            );
            let count: i64 = conn
                .prepare_cached(&sql)?
                .query_row(params_from_iter(args), |row| row.get(0))?;
            Ok(count as u64)
        })
    }

    /// The job's stdout and stderr logs, read from the files its record
    /// names. See [`logs::read_job_logs`].
    pub fn job_logs(&self, self_id: &str) -> Result<JobLogs> {
        let job = self.get_status(self_id)?;
        logs::read_job_logs(&job)
    }

    /// Part of one of the job's logs. See [`log_range::read_log`].
    pub fn read_log(&self, request: &LogRequest) -> Result<LogRange> {
        let job = self.get_status(&request.self_id)?;
        log_range::read_log(&job, request)
    }

    /// The SQLite query plan of `list_status` for a filter, one line per
    /// step, so tests can check that a filter uses an index.
    #[doc(hidden)]
    pub fn explain_list(&self, filter: &JobFilter) -> Result<Vec<String>> {
        self.read(|conn| {
            let (sql, args) = list_query(conn, filter)?;
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let plan = statement
                .query_map(params_from_iter(args), |row| row.get::<_, String>(3))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(plan)
        })
    }
}

/// The SQL and parameters that list the jobs matching a filter.
fn list_query(conn: &Connection, filter: &JobFilter) -> Result<(String, Vec<SqlValue>)> {
    let mut args = Vec::new();
    let conditions = filter.to_sql(&mut args);
    let sql = format!(
        "SELECT p._id, p.value FROM process_status AS p \
         WHERE {conditions} AND {newest}",
        newest = duplicates::newest_row_only(conn)?,
    );
    Ok((sql, args))
}

/// One page of a query.
#[derive(Debug, serde::Serialize)]
pub struct Page {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<String>,
}

/// A sort key as the cursor keeps it: text, or null for a job without one.
fn sort_key(value: rusqlite::types::ValueRef<'_>) -> Option<String> {
    match value {
        rusqlite::types::ValueRef::Text(text) => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    }
}

/// Writes one patch inside an open transaction and returns the record as
/// stored. Where another writer left several rows for this `self_id`, the
/// patch goes over the newest, the one every read returns, and the older
/// rows are deleted: they are stale copies that no read shows, and keeping
/// them would let a later writer's choice of row differ from jobdb's.
fn write_patch(tx: &Connection, patch: &JobPatch, condition: Option<&JobFilter>) -> Result<Job> {
    let rows = select_rows(tx, &patch.self_id)?;
    let job = match rows.split_last() {
        None if condition.is_some() => return Err(not_found(&patch.self_id)),
        None => {
            if !patch.sets_status() {
                return Err(Error::field(
                    Code::Schema,
                    "status",
                    format!(
                        "job {} does not exist yet, and a new job needs a status",
                        quoted(&patch.self_id)
                    ),
                ));
            }
            let key = uuid::Uuid::new_v4().to_string();
            let mut object = Map::new();
            object.insert(ROW_ID_KEY.into(), Value::String(key.clone()));
            patch.apply_to_new(&mut object);
            let job = Job::from_row(&key, &object)?;

            // Cached: preparing a write to this table also compiles the
            // change-log triggers, which costs more than the write.
            tx.prepare_cached(INSERT_ROW)?
                .execute((&key, Value::Object(object).to_string()))?;
            job
        }
        Some((newest, older)) => {
            if let Some(condition) = condition {
                check_condition(tx, newest, condition)?;
            }
            patch.check_created_at(&newest.object)?;
            let mut object = newest.object.clone();
            // nodejobs finds a row to replace by the `_id` inside its
            // JSON, so that key must match the row's primary key.
            object.insert(ROW_ID_KEY.into(), Value::String(newest.key.clone()));
            patch.apply_to(&mut object);
            let job = Job::from_row(&newest.key, &object)?;

            tx.prepare_cached(UPDATE_ROW)?
                .execute((Value::Object(object).to_string(), newest.rowid))?;
            for row in older {
                tx.prepare_cached(DELETE_ROW)?.execute([row.rowid])?;
            }
            job
        }
    };

    Ok(job)
}

/// Fails with `Conflict`, carrying the current record, unless the row
/// matches the condition. The condition runs as the same SQL as a filter,
/// so it means exactly what the filter would.
fn check_condition(tx: &Connection, row: &Row, condition: &JobFilter) -> Result<()> {
    let mut args = Vec::new();
    let conditions = condition.to_sql(&mut args);
    args.push(SqlValue::Integer(row.rowid));
    let sql = format!(
        "SELECT count(*) FROM process_status AS p WHERE p.rowid = ?{} AND {conditions}",
        args.len()
    );
    let holds: i64 = tx
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args), |r| r.get(0))?;
    if holds == 1 {
        return Ok(());
    }
    let current = Job::from_row(&row.key, &row.object)?;
    let mut err = Error::new(
        Code::Conflict,
        format!(
            "the precondition does not hold for job {}; nothing was written",
            quoted(&current.self_id)
        ),
    );
    err.current = serde_json::to_value(&current).ok().map(Box::new);
    Err(err)
}

fn configure(conn: &Connection, options: &Options) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    // Each filter shape has its own SQL; rusqlite keeps 16 by default.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);

    // WAL lets readers work while one process writes, and keeps every
    // acknowledged commit when a writer is killed. The mode is stored in
    // the file, so nodejobs' connections use it too.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::new(
            Code::Io,
            format!(
                "the database could not be put in WAL mode (it stays in {mode:?} mode); \
                 WAL needs a local file system with shared memory"
            ),
        ));
    }

    let synchronous = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;

    // A write to process_status fires the change-log triggers, so SQLite
    // keeps a statement journal for it. In a file (the default) that
    // journal costs a system call per page touched; in memory it holds
    // only the pages one statement changes, a few KiB for jobdb's writes.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Creates what is missing. The check comes first, as a plain read, so
/// that opening an existing database never waits for the write lock.
fn ensure_schema(conn: &mut Connection) -> Result<()> {
    let mut names: Vec<&str> = vec!["process_status"];
    names.extend(INDEXES.iter().map(|(name, _)| *name));
    names.extend(changes::OBJECT_NAMES);
    names.extend(duplicates::OBJECT_NAMES);
    let wanted = names.len() as i64;
    let marks = vec!["?"; names.len()].join(", ");
    let present: i64 = conn.query_row(
        &format!("SELECT count(*) FROM sqlite_master WHERE name IN ({marks})"),
        params_from_iter(names),
        |row| row.get(0),
    )?;
    if present == wanted {
        return check_table_shape(conn);
    }

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(CREATE_TABLE, [])?;
    check_table_shape(&tx)?;
    for (name, sql) in INDEXES {
        tx.execute(sql, []).map_err(|err| {
            Error::from(err).context(&format!(
                "creating index {name} (a row of process_status may hold \
                 a value that is not JSON)"
            ))
        })?;
    }
    changes::create(&tx)?;
    duplicates::create(&tx)?;
    tx.commit()?;
    Ok(())
}

/// A `process_status` table made by something else than jobdb or nodejobs
/// is refused rather than written into.
fn check_table_shape(conn: &Connection) -> Result<()> {
    let mut statement = conn.prepare("SELECT name FROM pragma_table_info('process_status')")?;
    let columns = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !columns.iter().any(|c| c == "_id") || !columns.iter().any(|c| c == "value") {
        return Err(Error::new(
            Code::Corrupt,
            format!(
                "table process_status has the columns ({}), not (_id, value)",
                columns.join(", ")
            ),
        ));
    }
    Ok(())
}

fn select_rows(conn: &Connection, self_id: &str) -> Result<Vec<Row>> {
    let mut statement = conn.prepare_cached(SELECT_BY_SELF_ID)?;
    let mut rows = statement.query([self_id])?;
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let key: String = row.get(1)?;
        let text: String = row.get(2)?;
        let object = parse_stored_object(&key, &text)?;
        found.push(Row { rowid, key, object });
    }
    Ok(found)
}

/// The job with this `self_id`, as reads see it, or None.
fn newest_job(conn: &Connection, self_id: &str) -> Result<Option<Job>> {
    let mut statement = conn.prepare_cached(SELECT_NEWEST_BY_SELF_ID)?;
    let mut rows = statement.query([self_id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let key: String = row.get(0)?;
    let text: String = row.get(1)?;
    Job::from_stored_text(&key, &text).map(Some)
}

fn not_found(self_id: &str) -> Error {
    Error::new(
        Code::NotFound,
        format!("no job has self_id {}", quoted(self_id)),
    )
}

impl Error {
    /// Puts what jobdb was doing in front of the message.
    pub(crate) fn context(mut self, doing: &str) -> Error {
        self.message = format!("{doing}: {}", self.message);
        self
    }
}
