//! Queries: a filter, an order, a page size and a cursor.
//!
//! Pages use keyset pagination: the cursor holds the sort key of the last
//! job returned, and the next page starts after it. Jobs inserted or
//! deleted between pages therefore never shift a page or repeat a job, as
//! an offset would. The cursor also holds the filter and order it was made
//! for, and is refused with any other.

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use crate::cursor;
use crate::error::{Code, Error, Result};
use crate::filter::JobFilter;
use crate::record::{parse_pairs, unknown_member, wrong_value};

/// The largest page a query may ask for.
pub(crate) const MAX_LIMIT: u64 = 100_000;

const CURSOR_VERSION: u64 = 1;

/// The field jobs are ordered by; ties are broken by `self_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderBy {
    SelfId,
    LastUpdate,
    CreatedAt,
    StartedAt,
    EndedAt,
}

const ORDERS: [(&str, OrderBy); 5] = [
    ("self_id", OrderBy::SelfId),
    ("last_update", OrderBy::LastUpdate),
    ("created_at", OrderBy::CreatedAt),
    ("started_at", OrderBy::StartedAt),
    ("ended_at", OrderBy::EndedAt),
];

impl OrderBy {
    fn name(self) -> &'static str {
        ORDERS
            .iter()
            .find(|(_, order)| *order == self)
            .map_or("self_id", |(name, _)| *name)
    }
}

/// Where the previous page ended: its last job's sort key and `self_id`.
#[derive(Clone, Debug, PartialEq)]
struct After {
    key: Option<String>,
    self_id: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub filter: JobFilter,
    pub order_by: OrderBy,
    pub descending: bool,
    pub limit: Option<u64>,
    after: Option<After>,
}

impl Query {
    /// Parses `{"filter": {...}, "order_by": "last_update",
    /// "descending": true, "limit": 100, "cursor": "..."}`; every member
    /// is optional. NULL means every job, by `self_id`, in one page.
    pub fn parse(json: Option<&str>) -> Result<Query> {
        let mut query = Query {
            filter: JobFilter::default(),
            order_by: OrderBy::SelfId,
            descending: false,
            limit: None,
            after: None,
        };
        let Some(json) = json else {
            return Ok(query);
        };

        let mut cursor = None;
        for (name, value) in parse_pairs(json, "query")? {
            let wrong = |expected: &str| wrong_value(&name, expected, &value);
            match name.as_str() {
                "filter" => query.filter = JobFilter::from_value(&value)?,
                "order_by" => {
                    query.order_by = ORDERS
                        .iter()
                        .find(|(name, _)| Some(*name) == value.as_str())
                        .map(|(_, order)| *order)
                        .ok_or_else(|| {
                            wrong("one of self_id, last_update, created_at, started_at, ended_at")
                        })?;
                }
                "descending" => {
                    query.descending = value.as_bool().ok_or_else(|| wrong("true or false"))?
                }
                "limit" => {
                    let limit = value
                        .as_u64()
                        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                        .ok_or_else(|| wrong("a whole number from 1 to 100000"))?;
                    query.limit = Some(limit);
                }
                "cursor" => {
                    let text = value.as_str().ok_or_else(|| wrong("a cursor string"))?;
                    cursor = Some(text.to_owned());
                }
                _ => {
                    return Err(unknown_member(
                        &name,
                        "a query",
                        "filter, order_by, descending, limit and cursor",
                    ));
                }
            }
        }
        if let Some(cursor) = cursor {
            query.after = Some(query.decode_cursor(&cursor)?);
        }
        Ok(query)
    }

    /// What a cursor must agree on with the query it continues.
    fn shape(&self) -> Value {
        json!({
            "order_by": self.order_by.name(),
            "descending": self.descending,
            "filter": self.filter.canonical(),
        })
    }

    /// The cursor that continues after a job with this sort key.
    pub(crate) fn cursor_after(&self, key: Option<&str>, self_id: &str) -> String {
        let document = json!({
            "v": CURSOR_VERSION,
            "query": self.shape(),
            "after": [key, self_id],
        });
        cursor::encode(&document)
    }

    fn decode_cursor(&self, cursor: &str) -> Result<After> {
        let document = cursor::decode(cursor)?;
        if let Some(given @ "change-feed") = cursor::kind(&document) {
            return Err(cursor::of_another_kind(given, "query", "jobdb_query"));
        }
        if document["v"] != CURSOR_VERSION {
            return Err(cursor::malformed());
        }
        if document["query"] != self.shape() {
            return Err(Error::field(
                Code::Schema,
                "cursor",
                "the cursor belongs to a query with another filter or order; \
                 a cursor only continues the query that returned it",
            ));
        }
        let key = match &document["after"][0] {
            Value::Null => None,
            Value::String(key) => Some(key.clone()),
            _ => return Err(cursor::malformed()),
        };
        let self_id = document["after"][1]
            .as_str()
            .ok_or_else(cursor::malformed)?;
        Ok(After {
            key,
            self_id: self_id.to_owned(),
        })
    }

    /// The sort expression of the order field, on the row alias `p`.
    pub(crate) fn key_sql(&self) -> String {
        format!("json_extract(p.value, '$.{}')", self.order_by.name())
    }

    /// The conditions and ORDER BY clause for this query, beyond its
    /// filter, with their parameters appended to `args`.
    pub(crate) fn page_sql(&self, args: &mut Vec<SqlValue>) -> (String, String) {
        let id = "json_extract(p.value, '$.self_id')";
        let direction = if self.descending { "DESC" } else { "ASC" };
        let key = self.key_sql();

        let order = match self.order_by {
            OrderBy::SelfId => format!("{id} {direction}"),
            _ => format!("{key} {direction}, {id} {direction}"),
        };
        let Some(after) = &self.after else {
            return ("1".to_owned(), order);
        };

        let mut bind = |value: &str| {
            args.push(SqlValue::Text(value.to_owned()));
            format!("?{}", args.len())
        };
        let comparison = if self.descending { "<" } else { ">" };
        // SQLite sorts null first in ascending order and last in
        // descending order; a job without the order field has a null key.
        let keyset = match (self.order_by, &after.key, self.descending) {
            (OrderBy::SelfId, _, _) => format!("{id} {comparison} {}", bind(&after.self_id)),
            (_, Some(k), false) => {
                format!("({key}, {id}) > ({}, {})", bind(k), bind(&after.self_id))
            }
            (_, Some(k), true) => format!(
                "(({key}, {id}) < ({}, {}) OR {key} IS NULL)",
                bind(k),
                bind(&after.self_id)
            ),
            (_, None, false) => format!(
                "(({key} IS NULL AND {id} > {}) OR {key} IS NOT NULL)",
                bind(&after.self_id)
            ),
            (_, None, true) => {
                format!("({key} IS NULL AND {id} < {})", bind(&after.self_id))
            }
        };
        (keyset, order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_members() {
        let query = Query::parse(None).unwrap();
        assert_eq!(query.order_by, OrderBy::SelfId);
        assert_eq!(query.limit, None);

        let query = Query::parse(Some(
            r#"{"filter":{"status":"running"},"order_by":"last_update","descending":true,"limit":5}"#,
        ))
        .unwrap();
        assert_eq!(query.order_by, OrderBy::LastUpdate);
        assert!(query.descending);
        assert_eq!(query.limit, Some(5));
        assert_eq!(query.filter.conditions.len(), 1);
    }

    #[test]
    fn bad_members_are_schema_errors_naming_them() {
        let cases = [
            (r#"{"limit":0}"#, "limit"),
            (r#"{"limit":-1}"#, "limit"),
            (r#"{"limit":100001}"#, "limit"),
            (r#"{"limit":1.5}"#, "limit"),
            (r#"{"order_by":"status"}"#, "order_by"),
            (r#"{"order_by":"metadata"}"#, "order_by"),
            (r#"{"descending":"yes"}"#, "descending"),
            (r#"{"cursor":5}"#, "cursor"),
            (r#"{"cursor":"not-a-cursor"}"#, "cursor"),
            (r#"{"page":2}"#, "page"),
            (r#"{"filter":[]}"#, "filter"),
        ];
        for (json, field) in cases {
            let err = Query::parse(Some(json)).unwrap_err();
            assert_eq!(err.code, Code::Schema, "{json}");
            assert_eq!(err.field.as_deref(), Some(field), "{json}: {err}");
        }
    }

    #[test]
    fn a_cursor_continues_only_its_own_query() {
        let query = Query::parse(Some(r#"{"filter":{"status":"running"},"limit":2}"#)).unwrap();
        let cursor = query.cursor_after(None, "job-7");

        let same = format!(r#"{{"filter":{{"status":"running"}},"limit":9,"cursor":"{cursor}"}}"#);
        let resumed = Query::parse(Some(&same)).unwrap();
        assert_eq!(resumed.after.unwrap().self_id, "job-7");

        let other = format!(r#"{{"filter":{{"status":"failed"}},"cursor":"{cursor}"}}"#);
        let err = Query::parse(Some(&other)).unwrap_err();
        assert!(err.message.contains("another filter or order"), "{err}");

        let reordered =
            format!(r#"{{"filter":{{"status":"running"}},"descending":true,"cursor":"{cursor}"}}"#);
        assert!(Query::parse(Some(&reordered)).is_err());
    }
}
