//! Durable storage for weir: the tantivy event index, the relational store,
//! and what each has committed of the collector's write-ahead log.
//!
//! This crate owns everything on disk except the write-ahead log itself:
//!
//! - [`index`]: spans and log records in tantivy, one set of daily partitions
//!   per signal (cut by ingest day), each commit carrying the WAL position it
//!   covers and the event-time range it holds;
//! - [`db`]: metric series and points, per-minute health rollups and topology
//!   edges, alert state and history, silences, the notification log, the
//!   delivery outbox and cluster mode's split catalog, through sqlx: SQLite
//!   by default, PostgreSQL when configured, migrated on open from
//!   `migrations/`, one SQL text for both;
//! - [`checkpoint`]: the seam "what has storage durably committed", one WAL
//!   position per (sink, partition), answered by [`LocalCatalog`]
//!   from the index commit payloads and the database's `wal_checkpoints`;
//! - [`retention`]: old partitions deleted whole, old rows in bulk;
//! - [`ownership`]: in cluster mode, which node owns which partition, held
//!   by PostgreSQL session advisory locks;
//! - [`arrivals`]: which metrics were just committed, for the alert engine
//!   to evaluate on arrival;
//! - [`Store`]: the indexes and the database opened together, with searches,
//!   trace lookups and id correlation over both signals;
//! - [`split_source`]: in cluster mode, the seam through which those queries
//!   get the splits they need first.
//!
//! Data comes in from the collector's storage workers, which write a batch
//! and its WAL position in one commit (an index commit, or one database
//! transaction), so a restart replays exactly what is not yet committed and a
//! replayed batch is never counted twice. It goes out to the query API, the
//! alert engine and the UI as `weir_core` types.
//!
//! It knows no wire protocol: callers hand it `weir_core` types and get them
//! back. SQL and tantivy appear nowhere else in the workspace.

pub mod arrivals;
pub mod checkpoint;
pub mod config;
pub mod db;
mod error;
pub mod index;
mod local_catalog;
pub mod ownership;
mod records;
pub mod retention;
pub mod split_source;

pub use config::StoreConfig;
pub use error::StoreError;
pub use local_catalog::LocalCatalog;
pub use records::{Correlation, SearchPage, SearchRequest, SearchSignal, Store, StoredRecord};
