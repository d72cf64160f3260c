//! The change feed: which jobs changed since a cursor, whoever wrote them.
//!
//! Triggers on `process_status` record every insert, update and delete in
//! `jobdb_changes`, so the feed sees nodejobs' writes as well as jobdb's.
//! The log keeps one entry per job, its latest change, under a sequence
//! number that only grows (AUTOINCREMENT never reuses one), so a cursor is
//! a sequence number: everything above it changed after it.
//!
//! A cursor also names the database it came from, by an id jobdb stores in
//! `jobdb_meta` when it creates the log, and is refused by any other.
//!
//! Known shortcoming: a deleted job keeps its entry, so that a monitor
//! learns of the deletion whenever it next polls. Nothing prunes those
//! entries yet; the log holds one row per job ever deleted (an id and a
//! number), which grows without bound under heavy retention.

use rusqlite::Connection;
use serde::Serialize;
use serde_json::json;

use crate::cursor;
use crate::error::{Code, Error, Result};
use crate::record::{Job, parse_pairs, unknown_member, wrong_value};

/// The most changes one call returns when the request does not say.
pub(crate) const DEFAULT_LIMIT: u64 = 1000;
/// The most changes one call may ask for.
pub(crate) const MAX_LIMIT: u64 = 100_000;

const CURSOR_VERSION: u64 = 1;

/// The objects the feed adds to the database, by name; the SQL creates
/// them and fills the log with the jobs already there.
pub(crate) const OBJECT_NAMES: [&str; 5] = [
    "jobdb_meta",
    "jobdb_changes",
    "jobdb_changes_on_insert",
    "jobdb_changes_on_update",
    "jobdb_changes_on_delete",
];

/// Records one job's change: REPLACE drops its old entry, if any, and
/// appends a new one under the next sequence number. Rows without a text
/// `self_id` are not jobs and are not recorded.
macro_rules! record_change {
    ($row:literal) => {
        record_change!($row, "")
    };
    ($row:literal, $also:literal) => {
        concat!(
            "INSERT OR REPLACE INTO jobdb_changes (self_id) SELECT json_extract(",
            $row,
            ".value, '$.self_id') WHERE json_type(",
            $row,
            ".value, '$.self_id') = 'text'",
            $also,
            "; "
        )
    };
}

const CREATE: &str = concat!(
    "CREATE TABLE IF NOT EXISTS jobdb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); ",
    "CREATE TABLE IF NOT EXISTS jobdb_changes (",
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, self_id TEXT NOT NULL UNIQUE); ",
    "CREATE TRIGGER IF NOT EXISTS jobdb_changes_on_insert AFTER INSERT ON process_status BEGIN ",
    record_change!("NEW"),
    "END; ",
    "CREATE TRIGGER IF NOT EXISTS jobdb_changes_on_update AFTER UPDATE ON process_status BEGIN ",
    // The old id only when the update changed it: a job that moved to
    // another id is gone from its old one.
    record_change!(
        "OLD",
        " AND json_extract(OLD.value, '$.self_id') IS NOT json_extract(NEW.value, '$.self_id')"
    ),
    record_change!("NEW"),
    "END; ",
    "CREATE TRIGGER IF NOT EXISTS jobdb_changes_on_delete AFTER DELETE ON process_status BEGIN ",
    record_change!("OLD"),
    "END; ",
    "INSERT OR IGNORE INTO jobdb_changes (self_id) ",
    "SELECT DISTINCT json_extract(value, '$.self_id') FROM process_status ",
    "WHERE json_type(value, '$.self_id') = 'text' ORDER BY rowid;"
);

/// Creates the change log inside the caller's transaction, with a fresh
/// id for this database.
pub(crate) fn create(conn: &Connection) -> Result<()> {
    conn.execute_batch(CREATE)?;
    conn.execute(
        "INSERT OR IGNORE INTO jobdb_meta (key, value) VALUES ('database_id', ?1)",
        [uuid::Uuid::new_v4().to_string()],
    )?;
    Ok(())
}

/// A request for changes: after a cursor (or from the start), at most
/// `limit` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangesRequest {
    cursor: Option<String>,
    pub limit: u64,
    /// Skip everything so far: return no changes, and the cursor of now.
    pub from_now: bool,
}

impl ChangesRequest {
    /// Parses `{"cursor": "...", "limit": 1000}`; both optional. NULL
    /// means every job from the start.
    pub fn parse(json: Option<&str>) -> Result<ChangesRequest> {
        let mut request = ChangesRequest {
            cursor: None,
            limit: DEFAULT_LIMIT,
            from_now: false,
        };
        let Some(json) = json else {
            return Ok(request);
        };
        for (name, value) in parse_pairs(json, "changes request")? {
            let wrong = |expected: &str| wrong_value(&name, expected, &value);
            match name.as_str() {
                "cursor" if value.is_null() => request.cursor = None,
                "cursor" => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| wrong("a cursor string or null"))?;
                    request.cursor = Some(text.to_owned());
                }
                "from_now" => {
                    request.from_now = value.as_bool().ok_or_else(|| wrong("true or false"))?
                }
                "limit" => {
                    request.limit = value
                        .as_u64()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| wrong("a whole number from 1 to 100000"))?;
                }
                _ => {
                    return Err(unknown_member(
                        &name,
                        "a changes request",
                        "cursor, limit and from_now",
                    ));
                }
            }
        }
        if request.from_now && request.cursor.is_some() {
            return Err(Error::field(
                Code::Schema,
                "from_now",
                "give a cursor or from_now, not both",
            ));
        }
        Ok(request)
    }
}

/// One changed job: its record now, or null when it was deleted.
#[derive(Debug, Serialize)]
pub struct Change {
    pub self_id: String,
    pub record: Option<Job>,
}

/// The changes after a cursor, and the cursor to ask from next.
#[derive(Debug, Serialize)]
pub struct Changes {
    pub changes: Vec<Change>,
    pub next_cursor: String,
    /// Whether more changes wait beyond `limit`.
    pub more: bool,
}

pub(crate) fn database_id(conn: &Connection) -> Result<String> {
    Ok(conn.query_row(
        "SELECT value FROM jobdb_meta WHERE key = 'database_id'",
        [],
        |row| row.get(0),
    )?)
}

/// The sequence number a cursor stands for, checked against this database.
pub(crate) fn decode_cursor(cursor: Option<&str>, database: &str) -> Result<i64> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    let document = cursor::decode(cursor)?;
    if let Some(given @ "query") = cursor::kind(&document) {
        return Err(cursor::of_another_kind(
            given,
            "change-feed",
            "jobdb_changes",
        ));
    }
    if document["v"] != CURSOR_VERSION || document["feed"] != true {
        return Err(cursor::malformed());
    }
    if document["database"] != database {
        return Err(Error::field(
            Code::Schema,
            "cursor",
            "the cursor comes from another database",
        ));
    }
    document["seq"].as_i64().ok_or_else(cursor::malformed)
}

pub(crate) fn encode_cursor(seq: i64, database: &str) -> String {
    let document = json!({"v": CURSOR_VERSION, "feed": true, "database": database, "seq": seq});
    cursor::encode(&document)
}

impl ChangesRequest {
    pub(crate) fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}
