//! The read side of weir: every question the API and the dashboard ask of
//! the stored data, and the JSON query API that answers them over HTTP.
//!
//! This crate owns:
//!
//! - the typed read functions, one module per topic: [`search`],
//!   [`trace`], [`correlate`], [`components`], [`topology`] and
//!   [`metrics`]. Each takes the store handle and typed parameters and
//!   returns a plain struct; tantivy searches, trace assembly and metric
//!   aggregation run on tokio's blocking pool, never on an async worker;
//! - the JSON shapes of `/api/v1/search`, `/traces`, `/correlate`,
//!   `/components`, `/topology` and `/metrics`: those structs, derived
//!   `Serialize`, and [`ErrorBody`] for every error;
//! - the read-token check ([`ReadAuth`], [`require_read_token`]) and the
//!   token cookie ([`TOKEN_COOKIE`], [`token_cookie`]), which the dashboard
//!   reuses.
//!
//! It does not own storage (weir-store answers the searches and SQL), HTML
//! (weir-ui renders the same structs as pages), or the alert routes
//! (weir-alerts). It only reads: it never writes to the index or the database.
//!
//! A request's path: [`router`]'s handler checks its query string and path
//! into a typed request (a 400 [`ApiError`] if malformed) → the topic's read
//! function asks the store, off the executor where the work blocks, and
//! shapes the answer ([`ReadError`] if the store fails) → the handler
//! answers the struct as JSON, mapping errors to a status in one place.
//! The dashboard's pages call the same read functions in-process and skip
//! the JSON.

mod api;
mod auth;
mod blocking;
pub mod cluster;
pub mod components;
pub mod correlate;
mod error;
pub mod metrics;
pub mod search;
pub mod status;
pub mod topology;
pub mod trace;

pub use api::router;
pub use auth::{ReadAuth, TOKEN_COOKIE, require_read_token, token_cookie};
pub use error::{ApiError, ErrorBody, ReadError};
