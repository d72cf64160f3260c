//! Random sequences of operations, from one handle and from several on the
//! same folder, checked step by step against a plain in-memory model of
//! what jobdb promises.

mod common;

use std::collections::BTreeMap;

use common::*;
use jobdb::ffi::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const IDS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const STATUSES: [&str; 3] = ["starting", "running", "finished"];
const CWDS: [&str; 3] = ["/", "/srv", "/tmp/x y"];
/// Inputs and what jobdb must return for them.
const TIMES: [(&str, &str); 3] = [
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000000Z"),
    ("2024-05-01T14:00:00.5+02:00", "2024-05-01T12:00:00.500000Z"),
    ("2024-05-01T12:00:00.000001", "2024-05-01T12:00:00.000001Z"),
];

/// A field in an update: left out, null, or a value.
#[derive(Clone, Debug)]
enum Change<T> {
    Absent,
    Null,
    Set(T),
}

fn change<T: Clone + std::fmt::Debug + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Change<T>> {
    prop_oneof![
        2 => Just(Change::Absent),
        1 => Just(Change::Null),
        3 => value.prop_map(Change::Set),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum Op {
    Update {
        handle: usize,
        id: usize,
        status: Change<usize>,
        last_pid: Change<i64>,
        cwd: Change<usize>,
        time: Option<usize>,
    },
    Get {
        handle: usize,
        id: usize,
    },
    List {
        handle: usize,
        status: Option<usize>,
        last_pid: Change<i64>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let handle = 0..3usize;
    let id = 0..IDS.len();
    prop_oneof![
        3 => (handle.clone(), id.clone(), change(0..STATUSES.len()), change(-2i64..3),
              change(0..CWDS.len()), proptest::option::of(0..TIMES.len()))
            .prop_map(|(handle, id, status, last_pid, cwd, time)| {
                Op::Update { handle, id, status, last_pid, cwd, time }
            }),
        1 => (handle.clone(), id).prop_map(|(handle, id)| Op::Get { handle, id }),
        1 => (handle, proptest::option::of(0..STATUSES.len()), change(-2i64..3))
            .prop_map(|(handle, status, last_pid)| Op::List { handle, status, last_pid }),
    ]
}

/// What the model knows of one job. `last_update` is None when jobdb set
/// it to the current time, which the model cannot predict.
#[derive(Clone, Debug, Default)]
struct ModelJob {
    status: String,
    last_pid: Option<i64>,
    cwd: Option<String>,
    last_update: Option<String>,
}

fn put<T: Clone>(
    json: &mut Map<String, Value>,
    name: &str,
    change: &Change<T>,
    to_json: impl Fn(&T) -> Value,
) {
    match change {
        Change::Absent => {}
        Change::Null => {
            json.insert(name.into(), Value::Null);
        }
        Change::Set(value) => {
            json.insert(name.into(), to_json(value));
        }
    }
}

fn apply<T: Clone>(field: &mut Option<T>, change: &Change<T>) {
    match change {
        Change::Absent => {}
        Change::Null => *field = None,
        Change::Set(value) => *field = Some(value.clone()),
    }
}

fn assert_matches(record: &Value, id: &str, model: &ModelJob) {
    assert_eq!(record["self_id"], id);
    assert_eq!(record["status"], model.status.as_str(), "{record}");
    assert_eq!(record["last_pid"], json!(model.last_pid), "{record}");
    assert_eq!(record["cwd"], json!(model.cwd), "{record}");
    let stamp = record["last_update"].as_str().expect("always set");
    match &model.last_update {
        Some(expected) => assert_eq!(stamp, expected),
        None => assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        ),
    }
}

fn run(ops: &[Op]) {
    let tmp = tempfile::tempdir().unwrap();
    let handles: Vec<Db> = (0..3).map(|_| open(tmp.path())).collect();
    let mut model: BTreeMap<&str, ModelJob> = BTreeMap::new();

    for op in ops {
        match op {
            Op::Update {
                handle,
                id,
                status,
                last_pid,
                cwd,
                time,
            } => {
                let id = IDS[*id];
                let mut job = Map::new();
                job.insert("self_id".into(), json!(id));
                put(&mut job, "status", status, |s| json!(STATUSES[*s]));
                put(&mut job, "last_pid", last_pid, |p| json!(p));
                put(&mut job, "cwd", cwd, |c| json!(CWDS[*c]));
                if let Some(t) = time {
                    job.insert("last_update".into(), json!(TIMES[*t].0));
                }
                let reply = call(
                    jobdb_update_status,
                    &handles[*handle],
                    &Value::Object(job).to_string(),
                );

                let refused = matches!(status, Change::Null)
                    || (!model.contains_key(id) && !matches!(status, Change::Set(_)));
                if refused {
                    assert_eq!(reply.0, JOBDB_ERR_SCHEMA, "{op:?}: {}", reply.1);
                    assert_eq!(reply.1["field"], "status");
                    continue;
                }
                let entry = model.entry(id).or_default();
                if let Change::Set(s) = status {
                    entry.status = STATUSES[*s].to_owned();
                }
                apply(&mut entry.last_pid, last_pid);
                let cwd = match cwd {
                    Change::Set(c) => Change::Set(CWDS[*c].to_owned()),
                    Change::Null => Change::Null,
                    Change::Absent => Change::Absent,
                };
                apply(&mut entry.cwd, &cwd);
                entry.last_update = time.map(|t| TIMES[t].1.to_owned());
                assert_eq!(reply.0, JOBDB_OK, "{op:?}: {}", reply.1);
                assert_matches(&reply.1, id, entry);
            }
            Op::Get { handle, id } => {
                let id = IDS[*id];
                let (code, reply) = call(jobdb_get_status, &handles[*handle], id);
                match model.get(id) {
                    Some(job) => {
                        assert_eq!(code, JOBDB_OK, "{reply}");
                        assert_matches(&reply, id, job);
                    }
                    None => assert_eq!(code, JOBDB_ERR_NOT_FOUND, "{reply}"),
                }
            }
            Op::List {
                handle,
                status,
                last_pid,
            } => {
                let mut filter = Map::new();
                if let Some(s) = status {
                    filter.insert("status".into(), json!(STATUSES[*s]));
                }
                put(&mut filter, "last_pid", last_pid, |p| json!(p));
                let listed = list(&handles[*handle], Some(&Value::Object(filter).to_string()));

                let expected: Vec<&str> = model
                    .iter()
                    .filter(|(_, job)| status.is_none_or(|s| job.status == STATUSES[s]))
                    .filter(|(_, job)| match last_pid {
                        Change::Absent => true,
                        Change::Null => job.last_pid.is_none(),
                        Change::Set(p) => job.last_pid == Some(*p),
                    })
                    .map(|(id, _)| *id)
                    .collect();
                let got: Vec<&str> = listed
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(got, expected, "{op:?}");
                for id in expected {
                    assert_matches(&listed[id], id, &model[id]);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn jobdb_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}
