//! The read side of weir: search, trace assembly and the JSON query API.
//!
//! [`router`] serves `/api/v1/...` on the web listener. Handlers parse and
//! check parameters, ask the store, and shape the answer; the JSON shapes of
//! the API are defined here and nowhere else. Trace assembly ([`trace`]) is a
//! pure function over spans, unit-tested without a store.
//!
//! This crate only reads: it never writes to the index or the database.

mod api;
mod auth;
mod blocking;
pub mod components;
pub mod correlate;
mod error;
pub mod metrics;
pub mod search;
pub mod topology;
pub mod trace;

pub use api::router;
pub use auth::{ReadAuth, TOKEN_COOKIE, require_read_token, token_cookie};
pub use error::{ApiError, ErrorBody, ReadError};
