//! The seam through which a cluster node's queries get the splits they
//! need: before a search, trace lookup or correlation, the [`Store`] asks
//! its [`SplitSource`] (the node's split cache) to make the splits that may
//! answer it searchable, and to keep them so while the query runs. A single
//! node has none and searches what its index holds.
//!
//! [`Store`]: crate::Store

use crate::StoreError;
use crate::checkpoint::Sink;

/// What a query needs of the split catalog.
#[derive(Debug, Clone, Copy)]
pub struct SplitNeed<'a> {
    /// The index: spans or logs.
    pub sink: Sink,
    /// Event times the query covers, Unix nanoseconds, inclusive.
    pub from: u64,
    /// See `from`.
    pub to: u64,
    /// Values the query looks for (trace ids, correlation keys): only the
    /// splits whose filter may hold one of them are needed. Empty: every
    /// split in the time range.
    pub values: &'a [&'a str],
}

/// Keeps the splits it brought searchable until dropped.
pub type SplitsHeld = Box<dyn Send>;

/// Brings the splits a query needs into the node's index.
pub trait SplitSource: Send + Sync {
    /// Makes the splits `need` names searchable, fetching those not held
    /// (called on a blocking thread, never on the async executor).
    fn bring(&self, need: &SplitNeed<'_>) -> Result<SplitsHeld, StoreError>;
}
