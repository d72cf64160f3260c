//! jobdb: an embeddable store of job records, shared by every process that
//! opens the same folder, and readable and writable by the Python package
//! nodejobs.
//!
//! The core ([`store`], [`record`], [`logs`]) is plain Rust and never sees a
//! raw pointer. The C ABI in [`ffi`] converts arguments, guards against
//! panics and delegates; `include/jobdb.h` is generated from it.

pub mod changes;
mod cursor;
mod duplicates;
pub mod error;
pub mod ffi;
pub mod filter;
pub mod log_range;
pub mod logs;
pub mod query;
pub mod record;
pub mod retention;
pub mod store;
pub mod timestamp;

pub use error::{Code, Error, Result};
pub use filter::JobFilter;
pub use query::Query;
pub use record::{Job, JobPatch};
pub use store::{Options, Store, Synchronous};
