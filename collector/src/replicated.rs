//! The durability point in cluster mode: a replicated event log outside the
//! node (NATS JetStream, in `weir-cluster`) that stores an admitted export
//! before it is acknowledged.
//!
//! This crate only names the seam so that both receivers keep calling one
//! admission path ([`crate::Ingest`]); it knows nothing of NATS. An
//! implementation stores every part of the export or reports failure, and
//! the export is acknowledged only on success.

use crate::otlp::{ExportRequest, SignalKind};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// What a replicated log answers for one export.
pub type Stored<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// An event log that stores exports durably on other machines.
pub trait ReplicatedLog: Send + Sync + 'static {
    /// Stores a validated export; `Ok` only when all of it is durable. The
    /// error says, in the user's words, why not (the export is refused
    /// with a retryable status). `sent` is the protobuf exactly as the
    /// client sent it, when validation kept all of it: an implementation
    /// may cut its parts from those bytes instead of encoding `request`.
    fn store(&self, request: ExportRequest, sent: Option<Bytes>) -> Stored<'_>;

    /// Why exports of `signal` are refused before they are read, if they
    /// are: the log's consumers lag too far behind (the cluster's
    /// backpressure). The client is asked to retry after a pause.
    fn refusal(&self, signal: SignalKind) -> Option<String> {
        let _ = signal;
        None
    }
}
