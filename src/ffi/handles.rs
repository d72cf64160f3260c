//! Database handles as the C side sees them.
//!
//! A `JobDb *` is a token, never dereferenced: each open database gets a
//! number that is never reused, and calls look it up here. A closed or
//! made-up handle is therefore reported as an error instead of being read
//! as freed memory, and `jobdb_close` may run while other threads are still
//! inside calls on the same handle: they hold their own reference, and the
//! database closes when the last of them returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use once_cell::sync::Lazy;

use super::JobDb;
use crate::error::{Code, Error, Result};
use crate::store::Store;

static OPEN_HANDLES: Lazy<Mutex<HashMap<usize, Arc<Store>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// The first handle. Hosts keep handles in pointer-typed variables, and
/// some runtimes inspect those: Go aborts on a pointer below 4096, and
/// treats one inside its own heap as an object. So handles start at 64 GiB,
/// far above the null page and below where Go places its heap (from
/// 0xc000000000), and step by 16 so they look aligned.
#[cfg(target_pointer_width = "64")]
const FIRST_HANDLE: usize = 0x10_0000_0000;
#[cfg(not(target_pointer_width = "64"))]
const FIRST_HANDLE: usize = 0x1000_0000;
const HANDLE_STEP: usize = 16;

static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(FIRST_HANDLE);

fn open_handles() -> std::sync::MutexGuard<'static, HashMap<usize, Arc<Store>>> {
    OPEN_HANDLES.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn register(store: Store) -> *mut JobDb {
    let handle = NEXT_HANDLE.fetch_add(HANDLE_STEP, Ordering::Relaxed);
    open_handles().insert(handle, Arc::new(store));
    std::ptr::without_provenance_mut(handle)
}

pub(crate) fn lookup(db: *const JobDb) -> Result<Arc<Store>> {
    if db.is_null() {
        return Err(Error::new(Code::InvalidArgument, "db is NULL"));
    }
    open_handles().get(&db.addr()).cloned().ok_or_else(|| {
        Error::new(
            Code::InvalidArgument,
            "db is not an open jobdb handle: it was closed, or never came from jobdb_open",
        )
    })
}

/// Forgets a handle; false when it was not open.
pub(crate) fn release(db: *const JobDb) -> bool {
    open_handles().remove(&db.addr()).is_some()
}
