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
