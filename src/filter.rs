//! Filters on record fields: exact values, and the operators nodejobs'
//! storage layer names, `$in`, `$ne`, `$gt`, `$gte`, `$lt` and `$lte`.
//!
//! A filter is a JSON object of record fields. A plain value asks for
//! equality; an object of operators asks for each of them. Every condition
//! must hold. Values are checked against the field's type, and timestamps
//! are converted to UTC in nodejobs' stored form, which sorts as text in
//! time order; so time bounds with any offset compare as instants.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use crate::error::{Code, Error, Result, quoted};
use crate::record::{FIELDS, Kind, normalize, parse_pairs, unknown_field};

/// How a condition compares a field with its value or values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
}

const OPERATORS: [(&str, Op); 6] = [
    ("$in", Op::In),
    ("$ne", Op::Ne),
    ("$gt", Op::Gt),
    ("$gte", Op::Gte),
    ("$lt", Op::Lt),
    ("$lte", Op::Lte),
];

/// One condition on one field. `values` holds one value, in stored form,
/// except for `$in`, which holds any number. Null stands for a field that
/// is null or unset.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub field: &'static str,
    pub op: Op,
    pub values: Vec<Value>,
}

/// Conditions that must all hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobFilter {
    pub conditions: Vec<Condition>,
}

impl JobFilter {
    /// Parses a filter; None means match every job.
    pub fn parse(json: Option<&str>) -> Result<JobFilter> {
        let Some(json) = json else {
            return Ok(JobFilter::default());
        };
        JobFilter::from_pairs(parse_pairs(json, "filter")?)
    }

    /// Reads a filter already parsed as a JSON value, such as the
    /// `filter` member of a query.
    pub fn from_value(value: &Value) -> Result<JobFilter> {
        match value {
            Value::Null => Ok(JobFilter::default()),
            Value::Object(map) => {
                JobFilter::from_pairs(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            _ => Err(Error::field(
                Code::Schema,
                "filter",
                "the filter must be a JSON object or null",
            )),
        }
    }

    fn from_pairs(pairs: Vec<(String, Value)>) -> Result<JobFilter> {
        let mut conditions = Vec::new();
        for (name, value) in pairs {
            let (field, kind) = FIELDS
                .iter()
                .find(|(field, _)| *field == name)
                .ok_or_else(|| unknown_field(&name, "filter"))?;
            match &value {
                Value::Object(operators) => {
                    if operators.is_empty() {
                        return Err(Error::field(
                            Code::Schema,
                            field,
                            format!(
                                "the filter on {field} is an empty object; give a value or an operator"
                            ),
                        ));
                    }
                    for (operator, operand) in operators {
                        conditions.push(operator_condition(field, *kind, operator, operand)?);
                    }
                }
                _ => conditions.push(Condition {
                    field,
                    op: Op::Eq,
                    values: vec![operand(field, *kind, &value, "=")?],
                }),
            }
        }
        Ok(JobFilter { conditions })
    }

    /// The filter as SQL conditions on the row alias `p`, joined by AND,
    /// with their parameters appended to `args`. "1" when empty.
    pub(crate) fn to_sql(&self, args: &mut Vec<SqlValue>) -> String {
        let clauses: Vec<String> = self
            .conditions
            .iter()
            .map(|condition| condition.to_sql(args))
            .collect();
        if clauses.is_empty() {
            "1".to_owned()
        } else {
            clauses.join(" AND ")
        }
    }

    /// The filter in a canonical JSON form, for comparing two filters.
    pub(crate) fn canonical(&self) -> Value {
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|c| serde_json::json!([c.field, format!("{:?}", c.op), c.values]))
            .collect();
        Value::Array(conditions)
    }
}

fn operator_condition(
    field: &'static str,
    kind: Kind,
    operator: &str,
    value: &Value,
) -> Result<Condition> {
    let op = OPERATORS
        .iter()
        .find(|(name, _)| *name == operator)
        .map(|(_, op)| *op)
        .ok_or_else(|| {
            let names: Vec<&str> = OPERATORS.iter().map(|(name, _)| *name).collect();
            Error::field(
                Code::Schema,
                field,
                format!(
                    "{} is not a filter operator; the operators are {}",
                    quoted(operator),
                    names.join(", ")
                ),
            )
        })?;

    let values = match op {
        Op::In => {
            let Value::Array(items) = value else {
                return Err(Error::field(
                    Code::Schema,
                    field,
                    format!("$in on {field} takes an array of values"),
                ));
            };
            items
                .iter()
                .map(|item| operand(field, kind, item, operator))
                .collect::<Result<Vec<_>>>()?
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte if value.is_null() => {
            return Err(Error::field(
                Code::Schema,
                field,
                format!("{operator} on {field} cannot compare with null"),
            ));
        }
        _ => vec![operand(field, kind, value, operator)?],
    };
    Ok(Condition { field, op, values })
}

/// Checks one value against the field's type. Null is allowed wherever it
/// means something: a field that is never null cannot equal null, but
/// `$ne: null` is allowed and matches every job.
fn operand(field: &str, kind: Kind, value: &Value, operator: &str) -> Result<Value> {
    let kind = match kind {
        Kind::Object => {
            return Err(Error::field(
                Code::Schema,
                field,
                format!("{field} holds the caller's own object and cannot be filtered on"),
            ));
        }
        // Set by jobdb, but compared like any other time.
        Kind::SetOnCreate => Kind::OptionalTime,
        other => other,
    };
    if value.is_null() {
        if kind == Kind::RequiredText && operator != "$ne" {
            return Err(Error::field(
                Code::Schema,
                field,
                format!("{field} is never null, so a filter on null would match nothing"),
            ));
        }
        return Ok(Value::Null);
    }
    normalize(field, kind, value)
}

impl Condition {
    fn to_sql(&self, args: &mut Vec<SqlValue>) -> String {
        // Field names come from the fixed list of record fields, never
        // from the caller's text, so they are safe inside the SQL.
        let field = format!("json_extract(p.value, '$.{}')", self.field);
        let mut bind = |value: &Value| -> String {
            args.push(to_sql(value));
            format!("?{}", args.len())
        };

        match self.op {
            Op::Eq if self.values[0].is_null() => format!("{field} IS NULL"),
            Op::Eq => format!("{field} = {}", bind(&self.values[0])),
            // IS NOT treats null as a value: `$ne: 5` also matches a job
            // whose field is null, as MongoDB's $ne does.
            Op::Ne => format!("{field} IS NOT {}", bind(&self.values[0])),
            Op::In => {
                let (nulls, values): (Vec<&Value>, Vec<&Value>) =
                    self.values.iter().partition(|v| v.is_null());
                let mut alternatives = Vec::new();
                if !values.is_empty() {
                    let marks: Vec<String> = values.into_iter().map(&mut bind).collect();
                    alternatives.push(format!("{field} IN ({})", marks.join(", ")));
                }
                if !nulls.is_empty() {
                    alternatives.push(format!("{field} IS NULL"));
                }
                match alternatives.len() {
                    0 => "0".to_owned(),
                    1 => alternatives.remove(0),
                    _ => format!("({})", alternatives.join(" OR ")),
                }
            }
            Op::Gt => format!("{field} > {}", bind(&self.values[0])),
            Op::Gte => format!("{field} >= {}", bind(&self.values[0])),
            Op::Lt => format!("{field} < {}", bind(&self.values[0])),
            Op::Lte => format!("{field} <= {}", bind(&self.values[0])),
        }
    }
}

/// A checked value as an SQL parameter.
pub(crate) fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::String(text) => SqlValue::Text(text.clone()),
        Value::Number(number) => number.as_i64().map_or(SqlValue::Null, SqlValue::Integer),
        _ => SqlValue::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<JobFilter> {
        JobFilter::parse(Some(json))
    }

    fn sql(json: &str) -> (String, Vec<SqlValue>) {
        let mut args = Vec::new();
        let text = parse(json).unwrap().to_sql(&mut args);
        (text, args)
    }

    #[test]
    fn plain_values_ask_for_equality_and_null_for_unset() {
        let filter = parse(r#"{"status":"running","last_pid":null}"#).unwrap();
        assert_eq!(filter.conditions.len(), 2);
        assert_eq!(filter.conditions[0].op, Op::Eq);
        let (text, args) = sql(r#"{"status":"running","last_pid":null}"#);
        assert_eq!(
            text,
            "json_extract(p.value, '$.status') = ?1 AND json_extract(p.value, '$.last_pid') IS NULL"
        );
        assert_eq!(args, vec![SqlValue::Text("running".into())]);
        assert_eq!(JobFilter::parse(None).unwrap(), JobFilter::default());
        assert_eq!(parse("{}").unwrap(), JobFilter::default());
    }

    #[test]
    fn operators_become_sql_with_checked_values() {
        let (text, args) = sql(
            r#"{"last_update":{"$gte":"2024-05-01T14:00:00+02:00","$lt":"2024-05-02T00:00:00Z"},
                "status":{"$in":["running","starting"]},"last_pid":{"$ne":null}}"#,
        );
        assert_eq!(
            text,
            "json_extract(p.value, '$.last_update') >= ?1 \
             AND json_extract(p.value, '$.last_update') < ?2 \
             AND json_extract(p.value, '$.status') IN (?3, ?4) \
             AND json_extract(p.value, '$.last_pid') IS NOT ?5"
        );
        assert_eq!(args[0], SqlValue::Text("2024-05-01T12:00:00".into()));
        assert_eq!(args[1], SqlValue::Text("2024-05-02T00:00:00".into()));
        assert_eq!(args[4], SqlValue::Null);
    }

    #[test]
    fn in_with_null_and_empty_in() {
        let (text, _) = sql(r#"{"cwd":{"$in":["/a",null]}}"#);
        assert_eq!(
            text,
            "(json_extract(p.value, '$.cwd') IN (?1) OR json_extract(p.value, '$.cwd') IS NULL)"
        );
        assert_eq!(sql(r#"{"cwd":{"$in":[]}}"#).0, "0");
    }

    #[test]
    fn bad_filters_name_the_field() {
        let cases = [
            (r#"{"stauts":"running"}"#, "stauts", "is not a filter field"),
            (r#"{"status":null}"#, "status", "never null"),
            (
                r#"{"status":{"$regex":"r.*"}}"#,
                "status",
                "is not a filter operator",
            ),
            (r#"{"status":{}}"#, "status", "empty object"),
            (
                r#"{"status":{"$in":"running"}}"#,
                "status",
                "takes an array",
            ),
            (
                r#"{"last_pid":{"$gt":null}}"#,
                "last_pid",
                "cannot compare with null",
            ),
            (r#"{"last_pid":{"$gt":"5"}}"#, "last_pid", "integer"),
            (
                r#"{"last_update":{"$lt":"yesterday"}}"#,
                "last_update",
                "not a timestamp",
            ),
            (r#"{"status":{"$in":["a",3]}}"#, "status", "string"),
        ];
        for (json, field, needle) in cases {
            let err = parse(json).unwrap_err();
            assert_eq!(err.code, Code::Schema, "{json}");
            assert_eq!(err.field.as_deref(), Some(field), "{json}");
            assert!(err.message.contains(needle), "{json}: {err}");
        }
    }
}
