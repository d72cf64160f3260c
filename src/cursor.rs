//! Cursors as hosts see them: opaque text that jobdb made and reads back.
//!
//! A cursor is a small JSON document in URL-safe base64, so it travels in
//! any string and can be put in a URL. The documents differ by use (query
//! pages, the change feed); this module only wraps and unwraps them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::error::{Code, Error, Result};

/// Wraps a cursor document.
pub(crate) fn encode(document: &Value) -> String {
    URL_SAFE_NO_PAD.encode(document.to_string())
}

/// Unwraps a cursor document; text that is not one is `malformed()`.
pub(crate) fn decode(cursor: &str) -> Result<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

/// The error for text that is no cursor jobdb made.
pub(crate) fn malformed() -> Error {
    Error::field(
        Code::Schema,
        "cursor",
        "the cursor is not one jobdb made; pass back next_cursor as it was returned",
    )
}

/// What a cursor document continues, told by the members each use gives
/// it, so that a cursor passed to the wrong call is named for what it is.
pub(crate) fn kind(document: &Value) -> Option<&'static str> {
    if document.get("feed").is_some() {
        Some("change-feed")
    } else if document.get("query").is_some() {
        Some("query")
    } else {
        None
    }
}

/// The error for a cursor of one use passed to a call of another: a
/// change-feed cursor given to a query, or the other way round.
pub(crate) fn of_another_kind(given: &str, wanted: &str, call: &str) -> Error {
    Error::field(
        Code::Schema,
        "cursor",
        format!(
            "this is a {given} cursor; {call} takes the next_cursor of an \
             earlier {wanted} reply"
        ),
    )
}
