//! The OTLP collector: receivers, validation, the durability point and the
//! hand-off to storage.
//!
//! The write path runs one way, whatever the transport:
//!
//! 1. [`grpc`] and [`http`] decode a request, check its token and call
//!    [`Ingest::export`] ([`ingest`]: admission), which drops invalid records
//!    (counted per reason, reported as OTLP partial success) and admits the
//!    rest only while storage keeps up and has no fault ([`storage_health`]).
//! 2. The [`event_log`] makes the request durable — today the local
//!    write-ahead log ([`wal`]), its writer thread group-committing one fsync
//!    per batch — and only then is the export acknowledged.
//! 3. Storage workers (`worker`, one thread per signal) convert requests into
//!    `weir_core` records ([`otlp::convert`]), feed core's rollup accumulator,
//!    and commit to the tantivy index or the database with the log position
//!    each commit covers; the store's checkpoint catalog answers what is
//!    committed, so on start the log is replayed from there.
//!
//! In cluster mode step 2 is a [`replicated`] log instead (NATS JetStream,
//! implemented in `weir-cluster`): the export is acknowledged once it holds
//! every part, and no local workers run; the cluster's indexers consume it.
//!
//! This crate is the only one that knows OTLP and tonic. It does not serve
//! queries or render anything; `/metrics` families come from [`telemetry`]
//! as prometheus-client collectors. Feature `test-fixtures` adds
//! `fixtures`: OTLP requests for tests and the benchmark.

mod auth;
mod disk_floor;
pub mod event_log;
#[cfg(feature = "test-fixtures")]
pub mod fixtures;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod otlp;
pub mod replicated;
mod rollup_sink;
mod status;
pub mod storage_health;
pub mod telemetry;
pub mod wal;
mod worker;

pub use auth::IngestAuth;
pub use ingest::{Ingest, IngestConfig, IngestError};
pub use telemetry::Telemetry;
