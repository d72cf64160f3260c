//! Panic containment for the exports.
//!
//! Since Rust 1.81 a panic unwinding out of an `extern "C"` function aborts
//! the host, so every export runs its body inside [`catch`], which turns a
//! panic into a `JOBDB_ERR_INTERNAL` error. A panic hook keeps such panics
//! off the host's stderr: the library never writes to stderr. Panics that
//! happen outside jobdb's calls still reach whatever hook was there before.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{Code, Error, Result};

thread_local! {
    /// Whether this thread is inside a jobdb call.
    static INSIDE_CALL: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic being caught on this thread.
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

fn install_quiet_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if INSIDE_CALL.with(Cell::get) {
                let message = info.to_string();
                PANIC_MESSAGE.with(|slot| *slot.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `body`, turning a panic into an internal error.
pub(crate) fn catch<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    install_quiet_hook();
    let was_inside = INSIDE_CALL.with(|inside| inside.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    INSIDE_CALL.with(|inside| inside.set(was_inside));

    outcome.unwrap_or_else(|_| {
        let detail = PANIC_MESSAGE
            .with(|slot| slot.borrow_mut().take())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Error::new(
            Code::Internal,
            format!("jobdb panicked, which is a bug in jobdb: {detail}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_message() {
        let result: Result<()> = catch(|| panic!("deliberate test panic"));
        let err = result.unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert!(err.message.contains("deliberate test panic"), "{err}");
    }

    #[test]
    fn results_pass_through_untouched() {
        assert_eq!(catch(|| Ok(7)), Ok(7));
        let err = Error::new(Code::Busy, "locked");
        assert_eq!(catch::<()>(|| Err(err.clone())), Err(err));
    }
}
