//! The OTLP collector: receivers, validation, the write-ahead log and the
//! hand-off to storage.
//!
//! Data takes one path whatever the transport: the gRPC ([`grpc`]) and HTTP
//! ([`http`]) receivers decode a request and call [`Ingest::export`], which
//! drops invalid records (counted per reason, reported as OTLP partial
//! success), admits the rest only if storage is keeping up, appends them to
//! the write-ahead log ([`wal`]) with a group-committed fsync, and only then
//! acknowledges. Storage workers, one per signal, convert the requests into
//! `weir_core` types ([`otlp::convert`]) and commit them to the tantivy index
//! or the database, recording the WAL position each commit covers; on start
//! the WAL is replayed from there.
//!
//! This crate is the only one that knows OTLP and tonic. It does not serve
//! queries or render anything.

mod auth;
mod disk_floor;
pub mod event_log;
#[cfg(feature = "test-fixtures")]
pub mod fixtures;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod otlp;
mod rollup_sink;
mod status;
pub mod storage_health;
pub mod telemetry;
pub mod wal;
mod worker;

pub use auth::IngestAuth;
pub use ingest::{Ingest, IngestConfig, IngestError};
pub use telemetry::Telemetry;
