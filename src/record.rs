//! Job records: validating what hosts send, and reading what is stored.
//!
//! A record is a JSON object with the fields in [`FIELDS`]. Input is strict:
//! an unknown field, a duplicate key or a wrong type is an error that names
//! the field, so nothing a caller sends is ever dropped. Stored rows are read
//! leniently where that loses nothing: fields that other programs wrote and
//! jobdb does not know are kept, and returned as they are.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::error::{Code, Error, Result, quoted};
use crate::timestamp::Timestamp;

/// The longest JSON text jobdb accepts in one argument, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// The key nodejobs uses for a row's primary key, inside the JSON too.
pub const ROW_ID_KEY: &str = "_id";

/// What values a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A non-empty string, never null.
    RequiredText,
    /// A string or null.
    Text,
    /// A 64-bit signed integer or null.
    Integer,
    /// A timestamp string; when absent from an update, the current time.
    Time,
    /// A timestamp string or null.
    OptionalTime,
    /// A timestamp jobdb sets when it first writes the job; never input.
    SetOnCreate,
    /// A JSON object of the caller's own, or null.
    Object,
}

/// The fields of a job record, in the order jobdb returns them.
/// The first eight are nodejobs' own; the others are jobdb's additions,
/// which nodejobs keeps and returns as fields it does not know.
pub(crate) const FIELDS: [(&str, Kind); 14] = [
    ("self_id", Kind::RequiredText),
    ("status", Kind::RequiredText),
    ("last_update", Kind::Time),
    ("last_pid", Kind::Integer),
    ("dirname", Kind::Text),
    ("cwd", Kind::Text),
    ("logdir", Kind::Text),
    ("logfile", Kind::Text),
    ("exit_code", Kind::Integer),
    ("command", Kind::Text),
    ("created_at", Kind::SetOnCreate),
    ("started_at", Kind::OptionalTime),
    ("ended_at", Kind::OptionalTime),
    ("metadata", Kind::Object),
];

/// The names of the record fields, for messages and documentation.
pub fn field_names() -> Vec<&'static str> {
    FIELDS.iter().map(|(name, _)| *name).collect()
}

fn kind_of(name: &str) -> Option<Kind> {
    FIELDS
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, kind)| *kind)
}

pub(crate) fn unknown_field(name: &str, what: &str) -> Error {
    Error::field(
        Code::Schema,
        name,
        format!(
            "{} is not a {what} field; the fields are {}",
            quoted(name),
            field_names().join(", ")
        ),
    )
}

/// Checks one input value and returns it in its stored form: timestamps in
/// nodejobs' form, everything else unchanged. Null passes through for the
/// fields that may be null.
pub(crate) fn normalize(name: &str, kind: Kind, value: &Value) -> Result<Value> {
    let wrong = |expected: &str| wrong_value(name, expected, value);

    match (kind, value) {
        (Kind::RequiredText, Value::String(text)) if text.is_empty() => {
            Err(Error::field(Code::Schema, name, format!("{name} is empty")))
        }
        (Kind::RequiredText | Kind::Text, Value::String(text)) => {
            check_text(name, text)?;
            Ok(value.clone())
        }
        (Kind::RequiredText, _) => Err(wrong("a non-empty string")),
        (Kind::Text | Kind::Integer, Value::Null) => Ok(Value::Null),
        (Kind::Text, _) => Err(wrong("a string or null")),
        (Kind::Integer, Value::Number(number)) => match number.as_i64() {
            Some(integer) => Ok(Value::from(integer)),
            None => Err(wrong("an integer from -2^63 to 2^63-1 or null")),
        },
        (Kind::Integer, _) => Err(wrong("an integer or null")),
        (Kind::Time | Kind::OptionalTime | Kind::SetOnCreate, Value::String(text)) => {
            Timestamp::parse(text)
                .map(|ts| Value::String(ts.to_stored()))
                .map_err(|why| Error::field(Code::Schema, name, why))
        }
        (Kind::OptionalTime | Kind::SetOnCreate | Kind::Object, Value::Null) => Ok(Value::Null),
        (Kind::Time, _) => Err(wrong("a timestamp string")),
        (Kind::OptionalTime | Kind::SetOnCreate, _) => Err(wrong("a timestamp string or null")),
        (Kind::Object, Value::Object(_)) => Ok(value.clone()),
        (Kind::Object, _) => Err(wrong("a JSON object or null")),
    }
}

/// Strings travel to C as NUL-terminated text, so a NUL inside one could
/// never be asked for or printed faithfully.
fn check_text(name: &str, text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::field(
            Code::Schema,
            name,
            format!("{name} contains a NUL character (\\u0000)"),
        ));
    }
    Ok(())
}

/// The error for a member `name` whose value is not what it must be.
pub(crate) fn wrong_value(name: &str, expected: &str, value: &Value) -> Error {
    Error::field(
        Code::Schema,
        name,
        format!("{name} must be {expected}, not {}", describe(value)),
    )
}

/// The error for a member `name` that a request of kind `what` does not
/// have; `members` lists those it does.
pub(crate) fn unknown_member(name: &str, what: &str, members: &str) -> Error {
    Error::field(
        Code::Schema,
        name,
        format!(
            "{} is not a member of {what}; the members are {members}",
            quoted(name)
        ),
    )
}

/// A short description of a JSON value for error messages.
pub(crate) fn describe(value: &Value) -> String {
    let text = match value {
        Value::Object(_) => return "an object".into(),
        Value::Array(_) => return "an array".into(),
        other => other.to_string(),
    };
    const MAX_CHARS: usize = 60;
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let head: String = text.chars().take(MAX_CHARS).collect();
    format!("{head}...")
}

/// The key/value pairs of a JSON object, in order, duplicates included, so
/// that a repeated key can be reported rather than silently overwritten.
struct Pairs(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Pairs, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }

        d.deserialize_map(PairsVisitor)
    }
}

/// Parses a JSON object given by a host. `what` names it in messages.
pub(crate) fn parse_pairs(json: &str, what: &str) -> Result<Vec<(String, Value)>> {
    if json.len() > MAX_INPUT_BYTES {
        return Err(Error::new(
            Code::TooLarge,
            format!(
                "the {what} is {} bytes; the limit is {MAX_INPUT_BYTES}",
                json.len()
            ),
        ));
    }

    let Pairs(pairs) = serde_json::from_str(json).map_err(|err| {
        if err.is_data() {
            // Any JSON value fits inside an object, so a data error can
            // only mean the text as a whole is not an object.
            Error::new(
                Code::Schema,
                format!("the {what} must be a JSON object, not {}", json_kind(json)),
            )
        } else {
            Error::new(
                Code::MalformedJson,
                format!("the {what} is not valid JSON: {err}"),
            )
        }
    })?;

    for (index, (key, _)) in pairs.iter().enumerate() {
        if pairs[..index].iter().any(|(earlier, _)| earlier == key) {
            return Err(Error::field(
                Code::Schema,
                key,
                format!("{} appears more than once in the {what}", quoted(key)),
            ));
        }
    }
    // serde_json keeps the last of two equal keys in a nested object, such
    // as an operator object; a second pass refuses them instead.
    serde_json::from_str::<NoDuplicateKeys>(json)
        .map_err(|err| Error::new(Code::Schema, format!("in the {what}, {err}")))?;
    Ok(pairs)
}

/// Parses JSON only to refuse an object, at any depth, with a key twice.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<NoDuplicateKeys, D::Error> {
        d.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> std::result::Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<NoDuplicateKeys, A::Error> {
        let mut keys = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<NoDuplicateKeys>()?;
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {} appears twice in one object",
                    quoted(&key)
                )));
            }
        }
        Ok(NoDuplicateKeys)
    }
}

/// What kind of JSON value a valid JSON text holds, from its first byte.
fn json_kind(json: &str) -> &'static str {
    match json.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

/// A change to one job, as sent to `update_status`: the `self_id` and the
/// fields to write. A null value clears the field.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPatch {
    pub self_id: String,
    changes: Map<String, Value>,
}

impl JobPatch {
    pub fn parse(json: &str) -> Result<JobPatch> {
        let mut self_id = None;
        let mut changes = Map::new();

        for (name, value) in parse_pairs(json, "job record")? {
            let kind = kind_of(&name).ok_or_else(|| unknown_field(&name, "job record"))?;
            if kind == Kind::SetOnCreate && value.is_null() {
                return Err(Error::field(
                    Code::Schema,
                    &name,
                    format!(
                        "{name} cannot be null; leave it out and jobdb records when it first writes the job"
                    ),
                ));
            }
            if kind == Kind::Time && value.is_null() {
                return Err(Error::field(
                    Code::Schema,
                    &name,
                    format!("{name} cannot be null; leave it out to record the current time"),
                ));
            }
            let value = normalize(&name, kind, &value)?;
            if name == "self_id" {
                self_id = value.as_str().map(str::to_owned);
            } else {
                changes.insert(name, value);
            }
        }

        let self_id = self_id.ok_or_else(|| {
            Error::field(Code::Schema, "self_id", "the job record has no self_id")
        })?;
        Ok(JobPatch { self_id, changes })
    }

    /// Parses a JSON array of job records, as for a batch. An error in one
    /// record carries its position in `index`.
    pub fn parse_batch(json: &str) -> Result<Vec<JobPatch>> {
        if json.len() > MAX_INPUT_BYTES {
            return Err(Error::new(
                Code::TooLarge,
                format!(
                    "the batch is {} bytes; the limit is {MAX_INPUT_BYTES}",
                    json.len()
                ),
            ));
        }
        let records: Vec<&serde_json::value::RawValue> =
            serde_json::from_str(json).map_err(|err| {
                if err.is_data() {
                    Error::new(
                        Code::Schema,
                        format!(
                            "the batch must be a JSON array of job records, not {}",
                            json_kind(json)
                        ),
                    )
                } else {
                    Error::new(
                        Code::MalformedJson,
                        format!("the batch is not valid JSON: {err}"),
                    )
                }
            })?;
        records
            .iter()
            .enumerate()
            .map(|(index, record)| JobPatch::parse(record.get()).map_err(|err| err.at_index(index)))
            .collect()
    }

    /// Whether this patch sets a status; a new job needs one.
    pub fn sets_status(&self) -> bool {
        self.changes.contains_key("status")
    }

    /// Writes the patch into the object of a job jobdb is creating, and
    /// records when.
    pub fn apply_to_new(&self, object: &mut Map<String, Value>) {
        let now = Timestamp::now();
        self.apply_at(object, now);
        if !self.changes.contains_key("created_at") {
            object.insert("created_at".into(), Value::String(now.to_stored()));
        }
    }

    /// Refuses a `created_at` that differs from the one stored: it is set
    /// once. Giving the stored value back, as a record read and written
    /// again does, is fine, and so is setting it on a job that has none.
    pub fn check_created_at(&self, stored: &Map<String, Value>) -> Result<()> {
        let (Some(given), Some(current)) =
            (self.changes.get("created_at"), stored.get("created_at"))
        else {
            return Ok(());
        };
        let instant = |value: &Value| value.as_str().and_then(|text| Timestamp::parse(text).ok());
        if instant(given) == instant(current) {
            return Ok(());
        }
        Err(Error::field(
            Code::Schema,
            "created_at",
            format!(
                "created_at is set once; job {} was created at {}",
                quoted(&self.self_id),
                describe(current)
            ),
        ))
    }

    /// Writes the patch over a stored object: given fields overwrite, null
    /// removes, absent fields stay. The time is set to now unless given.
    pub fn apply_to(&self, stored: &mut Map<String, Value>) {
        self.apply_at(stored, Timestamp::now());
    }

    fn apply_at(&self, stored: &mut Map<String, Value>, now: Timestamp) {
        stored.insert("self_id".into(), Value::String(self.self_id.clone()));
        for (name, value) in &self.changes {
            if value.is_null() {
                stored.remove(name);
            } else {
                stored.insert(name.clone(), value.clone());
            }
        }
        if !self.changes.contains_key("last_update") {
            stored.insert("last_update".into(), Value::String(now.to_stored()));
        }
    }
}

/// Parses the `value` column of a row, which must hold a JSON object.
pub(crate) fn parse_stored_object(row_id: &str, text: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(text).map_err(|err| not_an_object(row_id, &err))
}

fn corrupt_row(row_id: &str, why: &str) -> Error {
    Error::new(
        Code::Corrupt,
        format!("row {} of process_status {why}", quoted(row_id)),
    )
}

/// A row whose text no JSON reader takes: only SQL can mend it.
fn not_an_object(row_id: &str, err: &serde_json::Error) -> Error {
    corrupt_row(
        row_id,
        &format!("is not a JSON object ({err}); fix or delete the row with SQL"),
    )
}

/// A row with a field jobdb cannot read: writing the field anew mends it,
/// unless the field is `self_id`, which an update cannot name.
fn bad_field(row_id: &str, why: &str) -> Error {
    corrupt_row(
        row_id,
        &format!(
            "{why}; update the job giving this field a new value, \
             or fix the row with SQL"
        ),
    )
}

/// A job record read back from the database.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub self_id: String,
    pub status: String,
    pub last_update: Option<Timestamp>,
    pub last_pid: Option<i64>,
    pub dirname: Option<String>,
    pub cwd: Option<String>,
    pub logdir: Option<String>,
    pub logfile: Option<String>,
    pub exit_code: Option<i64>,
    pub command: Option<String>,
    /// When jobdb first wrote the job; None for jobs another program
    /// created.
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// The caller's own object, stored and returned as given.
    pub metadata: Option<Map<String, Value>>,
    /// Fields another program stored that jobdb does not know, kept as
    /// they are. The row key `_id` is not among them.
    pub extra: Map<String, Value>,
}

impl Job {
    /// Parses a row's `value` text. `row_id` names the row in errors.
    ///
    /// The text goes straight into the record's fields, without building
    /// a JSON object first: this is the path of every read, and most of
    /// what a list of many jobs costs.
    pub fn from_stored_text(row_id: &str, text: &str) -> Result<Job> {
        let fields: StoredFields =
            serde_json::from_str(text).map_err(|err| not_an_object(row_id, &err))?;
        fields.into_job().map_err(|why| bad_field(row_id, &why))
    }

    /// Reads a row's parsed `value`. `row_id` names the row in errors.
    pub fn from_row(row_id: &str, object: &Map<String, Value>) -> Result<Job> {
        Job::from_stored(object.clone()).map_err(|why| bad_field(row_id, &why))
    }

    /// Reads the known fields of a stored object, whoever wrote it. What
    /// is left, less the row key, is the fields jobdb does not know, in
    /// the order they were stored.
    pub fn from_stored(object: Map<String, Value>) -> std::result::Result<Job, String> {
        let mut fields = StoredFields::default();
        for (name, value) in object {
            fields.insert(name, value);
        }
        fields.into_job()
    }
}

/// A stored object sorted into jobdb's fields, by their place in
/// [`FIELDS`], and the fields it does not know, in their stored order.
#[derive(Default)]
struct StoredFields {
    known: [Option<Value>; FIELDS.len()],
    extra: Map<String, Value>,
}

impl StoredFields {
    /// A key given twice keeps its last value, as a JSON object would.
    fn insert(&mut self, name: String, value: Value) {
        match FIELDS.iter().position(|(known, _)| *known == name) {
            Some(place) => self.known[place] = Some(value),
            None if name == ROW_ID_KEY => {}
            None => {
                self.extra.insert(name, value);
            }
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let place = FIELDS.iter().position(|(known, _)| *known == name);
        place.and_then(|place| self.known[place].take())
    }

    fn into_job(mut self) -> std::result::Result<Job, String> {
        let fields = &mut self;
        let self_id = take_text(fields, "self_id")?.ok_or("has no self_id")?;
        let status = take_text(fields, "status")?.ok_or("has no status")?;
        Ok(Job {
            self_id,
            status,
            last_update: take_time(fields, "last_update")?,
            last_pid: take_integer(fields, "last_pid")?,
            dirname: take_text(fields, "dirname")?,
            cwd: take_text(fields, "cwd")?,
            logdir: take_text(fields, "logdir")?,
            logfile: take_text(fields, "logfile")?,
            exit_code: take_integer(fields, "exit_code")?,
            command: take_text(fields, "command")?,
            created_at: take_time(fields, "created_at")?,
            started_at: take_time(fields, "started_at")?,
            ended_at: take_time(fields, "ended_at")?,
            metadata: take_metadata(fields)?,
            extra: self.extra,
        })
    }
}

impl<'de> Deserialize<'de> for StoredFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct FieldsVisitor;

        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = StoredFields;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<StoredFields, A::Error> {
                let mut fields = StoredFields::default();
                while let Some(name) = map.next_key::<String>()? {
                    fields.insert(name, map.next_value()?);
                }
                Ok(fields)
            }
        }

        d.deserialize_map(FieldsVisitor)
    }
}

// The readers of one stored field each, for StoredFields::into_job.

fn take_text(fields: &mut StoredFields, name: &str) -> std::result::Result<Option<String>, String> {
    match fields.take(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!(
            "holds {name} = {}, which is not a string",
            describe(&other)
        )),
    }
}

fn take_integer(fields: &mut StoredFields, name: &str) -> std::result::Result<Option<i64>, String> {
    match fields.take(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or_else(|| {
            format!(
                "holds {name} = {}, which is not an integer",
                describe(&value)
            )
        }),
    }
}

fn take_time(
    fields: &mut StoredFields,
    name: &str,
) -> std::result::Result<Option<Timestamp>, String> {
    match take_text(fields, name)? {
        None => Ok(None),
        Some(text) => Timestamp::parse(&text)
            .map(Some)
            .map_err(|why| format!("holds a {name} that jobdb cannot read: {why}")),
    }
}

fn take_metadata(
    fields: &mut StoredFields,
) -> std::result::Result<Option<Map<String, Value>>, String> {
    match fields.take("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(format!(
            "holds metadata = {}, which is not an object",
            describe(&other)
        )),
    }
}

/// Hosts see every known field, null where unset, then any extra fields.
impl Serialize for Job {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(FIELDS.len() + self.extra.len()))?;
        map.serialize_entry("self_id", &self.self_id)?;
        map.serialize_entry("status", &self.status)?;
        let last_update = self.last_update.map(Timestamp::to_rfc3339);
        map.serialize_entry("last_update", &last_update)?;
        map.serialize_entry("last_pid", &self.last_pid)?;
        map.serialize_entry("dirname", &self.dirname)?;
        map.serialize_entry("cwd", &self.cwd)?;
        map.serialize_entry("logdir", &self.logdir)?;
        map.serialize_entry("logfile", &self.logfile)?;
        map.serialize_entry("exit_code", &self.exit_code)?;
        map.serialize_entry("command", &self.command)?;
        let time = |ts: Option<Timestamp>| ts.map(Timestamp::to_rfc3339);
        map.serialize_entry("created_at", &time(self.created_at))?;
        map.serialize_entry("started_at", &time(self.started_at))?;
        map.serialize_entry("ended_at", &time(self.ended_at))?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (name, value) in &self.extra {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch_error(json: &str) -> Error {
        JobPatch::parse(json).unwrap_err()
    }

    #[test]
    fn patch_keeps_given_fields_and_normalizes_time() {
        let patch = JobPatch::parse(
            r#"{"self_id":"a","status":"running","last_pid":42,
                "logdir":null,"last_update":"2024-05-01T14:00:00+02:00"}"#,
        )
        .unwrap();
        let mut stored = Map::new();
        stored.insert("logdir".into(), Value::from("/old"));
        stored.insert("cwd".into(), Value::from("/keep"));
        patch.apply_to(&mut stored);

        assert_eq!(stored["self_id"], "a");
        assert_eq!(stored["status"], "running");
        assert_eq!(stored["last_pid"], 42);
        assert_eq!(stored["last_update"], "2024-05-01T12:00:00");
        assert_eq!(stored["cwd"], "/keep");
        assert!(!stored.contains_key("logdir"));
    }

    #[test]
    fn patch_without_time_records_now() {
        let patch = JobPatch::parse(r#"{"self_id":"a"}"#).unwrap();
        let mut stored = Map::new();
        patch.apply_to(&mut stored);
        let text = stored["last_update"].as_str().unwrap();
        assert!(Timestamp::parse(text).is_ok(), "{text}");
        assert!(!patch.sets_status());
    }

    #[test]
    fn unknown_field_is_named() {
        let err = patch_error(r#"{"self_id":"a","status":"x","colour":1}"#);
        assert_eq!(err.code, Code::Schema);
        assert_eq!(err.field.as_deref(), Some("colour"));
        assert!(err.message.contains("\"colour\" is not a job record field"));
    }

    #[test]
    fn wrong_types_are_schema_errors_naming_the_field() {
        let cases = [
            (r#"{"self_id":5}"#, "self_id"),
            (r#"{"self_id":""}"#, "self_id"),
            (r#"{"self_id":"a","status":null}"#, "status"),
            (r#"{"self_id":"a","status":""}"#, "status"),
            (r#"{"self_id":"a","last_pid":1.5}"#, "last_pid"),
            (r#"{"self_id":"a","last_pid":"7"}"#, "last_pid"),
            (
                r#"{"self_id":"a","last_pid":1180591620717411303424}"#,
                "last_pid",
            ),
            (r#"{"self_id":"a","cwd":["x"]}"#, "cwd"),
            (r#"{"self_id":"a","last_update":null}"#, "last_update"),
            (r#"{"self_id":"a","last_update":"soon"}"#, "last_update"),
            (r#"{"self_id":"a\u0000b"}"#, "self_id"),
            (r#"{"status":"x"}"#, "self_id"),
            (r#"{"self_id":"a","self_id":"b"}"#, "self_id"),
        ];
        for (json, field) in cases {
            let err = patch_error(json);
            assert_eq!(err.code, Code::Schema, "{json}: {err}");
            assert_eq!(err.field.as_deref(), Some(field), "{json}: {err}");
        }
    }

    #[test]
    fn large_integer_is_refused_not_rounded() {
        let err = patch_error(r#"{"self_id":"a","last_pid":1180591620717411303424}"#);
        assert!(err.message.contains("1180591620717411303424"), "{err}");
    }

    #[test]
    fn malformed_and_non_object_json_get_distinct_codes() {
        for bad in ["", "{", r#"{"self_id":"a",}"#, "nul", "\"x"] {
            assert_eq!(patch_error(bad).code, Code::MalformedJson, "{bad:?}");
        }
        let not_objects = [
            ("[]", "an array"),
            (" 3", "a number"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("true", "a boolean"),
        ];
        for (json, kind) in not_objects {
            let err = patch_error(json);
            assert_eq!(err.code, Code::Schema, "{json}");
            let expected = format!("the job record must be a JSON object, not {kind}");
            assert_eq!(err.message, expected);
        }
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let deep = "[".repeat(100_000);
        let json = format!(r#"{{"self_id":"a","cwd":{deep}}}"#);
        assert_eq!(patch_error(&json).code, Code::MalformedJson);
    }

    #[test]
    fn stored_rows_keep_extra_fields_and_drop_the_row_key() {
        let job = Job::from_stored_text(
            "r1",
            r#"{"_id":"r1","self_id":"a","status":"done","tag":{"x":1},
                "last_update":"2024-05-01T12:00:00.5"}"#,
        )
        .unwrap();
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["last_update"], "2024-05-01T12:00:00.500000Z");
        assert_eq!(json["tag"]["x"], 1);
        assert_eq!(json["last_pid"], Value::Null);
        assert!(json.get("_id").is_none());
    }

    #[test]
    fn unreadable_stored_rows_are_corrupt_and_name_the_row() {
        for text in [
            "not json",
            "[]",
            r#"{"status":"x"}"#,
            r#"{"self_id":"a","status":"x","last_pid":"9"}"#,
            r#"{"self_id":"a","status":"x","last_update":"later"}"#,
        ] {
            let err = Job::from_stored_text("row-7", text).unwrap_err();
            assert_eq!(err.code, Code::Corrupt, "{text}");
            assert!(err.message.contains("\"row-7\""), "{err}");
        }
    }
}
