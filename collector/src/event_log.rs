//! The durability point: an append-only log of accepted exports.
//!
//! Ingest acknowledges an export once the log says it is durable; storage
//! workers are fed from it; a worker whose store lost uncommitted work reads
//! its range again; and the log drops what every store has committed. Those
//! four verbs are all the rest of the collector knows of it, so a replicated
//! log (one stream per partition) can stand where today's local write-ahead
//! log ([`crate::wal`]) stands.
//!
//! Positions increase by one per entry across all signals and are never
//! reused, even for a batch that failed to become durable: a position a
//! store has recorded as committed always means the same entry.

use crate::otlp::SignalKind;
use std::path::PathBuf;

/// Where an entry sits in the log: increasing, never reused.
pub type Position = u64;

/// One durable entry: a validated export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its place in the log.
    pub position: Position,
    /// Which signal the payload holds.
    pub signal: SignalKind,
    /// The validated request, OTLP protobuf.
    pub payload: Vec<u8>,
}

/// What went wrong in the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// Disk I/O failed.
    #[error(
        "write-ahead log {path}: {source} (check free space and permissions of the data directory)"
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The group commit this entry was part of failed (the cause, as logged).
    #[error("{0}")]
    BatchFailed(String),
    /// The writer has stopped (shutdown or an earlier fatal error).
    #[error("write-ahead log is closed")]
    Closed,
}

/// The writing side, owned by one thread.
pub trait EventLog: Send {
    /// Makes a batch durable; returns the position of its first entry, the
    /// rest following consecutively. On error nothing of the batch is durable
    /// and its positions are never handed out again.
    fn append(&mut self, batch: &[(SignalKind, &[u8])]) -> Result<Position, EventLogError>;

    /// Drops entries at or below `position`, which every store has
    /// committed. A log may keep more than asked (whole segments only).
    fn truncate_through(&mut self, position: Position) -> Result<(), EventLogError>;

    /// The position the next entry will get.
    fn next_position(&self) -> Position;

    /// Bytes the log holds, for `/metrics`.
    fn bytes(&self) -> u64;
}

/// The reading side, shared by the storage workers while one thread appends.
pub trait EventLogReader: Send + Sync {
    /// Calls `each` with every entry of `signal` in `(after, through]`, in
    /// order: how a worker whose store lost uncommitted work gets it back.
    fn read(
        &self,
        signal: SignalKind,
        after: Position,
        through: Position,
        each: &mut dyn FnMut(Entry),
    ) -> Result<(), EventLogError>;
}
