//! Rows that share a `self_id`, and the cost of never showing them.
//!
//! jobdb writes one row per job, but nodejobs' upsert is not atomic, and two
//! of its processes can leave two rows for one job. Every read must then
//! show only the newest row, which takes a correlated subquery per matched
//! row ([`NEWEST_ROW_ONLY`]), a third or more of what a large list costs.
//!
//! So the database remembers whether it has ever held such rows: triggers
//! that every writer runs, nodejobs included, set a mark in `jobdb_meta`
//! when a write leaves a second row for a `self_id`. Reads check the mark
//! in the same transaction as their query and skip the subquery while it
//! is absent.
//!
//! Known shortcoming: the mark is never cleared. Once another writer has
//! left two rows for one job, reads of that database keep the exact, slower
//! path for good, even after jobdb's updates have collapsed the rows.

use rusqlite::Connection;

use crate::error::Result;

/// The objects this module adds to the database, by name.
pub(crate) const OBJECT_NAMES: [&str; 2] =
    ["jobdb_duplicates_on_insert", "jobdb_duplicates_on_update"];

/// Keeps, of several rows with one `self_id`, only the newest: by
/// `last_update`, then by insertion order. The outer row is `p`.
pub(crate) const NEWEST_ROW_ONLY: &str = "NOT EXISTS (SELECT 1 FROM process_status AS q \
     WHERE json_extract(q.value, '$.self_id') = json_extract(p.value, '$.self_id') \
     AND (COALESCE(json_extract(q.value, '$.last_update'), ''), q.rowid) \
       > (COALESCE(json_extract(p.value, '$.last_update'), ''), p.rowid))";

/// What stands for [`NEWEST_ROW_ONLY`] while no job has two rows.
const EVERY_ROW: &str = "1";

const MARK_KEY: &str = "duplicate_self_ids";

/// The triggers, then the mark for rows that were already there. The mark
/// is set by an insert or a change of `self_id` that leaves two rows with
/// the new row's `self_id`; jobdb's own writes never do.
const CREATE: &str = "\
    CREATE TRIGGER IF NOT EXISTS jobdb_duplicates_on_insert \
    AFTER INSERT ON process_status \
    WHEN (SELECT count(*) FROM process_status \
          WHERE json_extract(value, '$.self_id') = json_extract(NEW.value, '$.self_id')) > 1 \
    BEGIN \
        INSERT OR REPLACE INTO jobdb_meta (key, value) VALUES ('duplicate_self_ids', '1'); \
    END; \
    CREATE TRIGGER IF NOT EXISTS jobdb_duplicates_on_update \
    AFTER UPDATE ON process_status \
    WHEN json_extract(OLD.value, '$.self_id') IS NOT json_extract(NEW.value, '$.self_id') \
     AND (SELECT count(*) FROM process_status \
          WHERE json_extract(value, '$.self_id') = json_extract(NEW.value, '$.self_id')) > 1 \
    BEGIN \
        INSERT OR REPLACE INTO jobdb_meta (key, value) VALUES ('duplicate_self_ids', '1'); \
    END; \
    INSERT OR REPLACE INTO jobdb_meta (key, value) \
    SELECT 'duplicate_self_ids', '1' WHERE EXISTS ( \
        SELECT 1 FROM process_status \
        WHERE json_extract(value, '$.self_id') IS NOT NULL \
        GROUP BY json_extract(value, '$.self_id') HAVING count(*) > 1);";

/// Creates the triggers and sets the mark if the table already holds two
/// rows for one job. Runs in the caller's transaction, after
/// `jobdb_meta` exists.
pub(crate) fn create(conn: &Connection) -> Result<()> {
    conn.execute_batch(CREATE)?;
    Ok(())
}

/// The condition that hides stale rows from a query on `process_status AS
/// p`: the subquery when the database may hold them, else a constant.
/// Call it inside the transaction that runs the query, so that both see
/// the same snapshot.
pub(crate) fn newest_row_only(conn: &Connection) -> Result<&'static str> {
    let marked: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM jobdb_meta WHERE key = ?1)")?
        .query_row([MARK_KEY], |row| row.get(0))?;
    Ok(if marked { NEWEST_ROW_ONLY } else { EVERY_ROW })
}
