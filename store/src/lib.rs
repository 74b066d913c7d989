//! Durable storage for weir: the tantivy event index and the relational store.
//!
//! This crate owns everything on disk except the collector's write-ahead log:
//!
//! - [`index`]: spans and log records in tantivy, one set of daily partitions
//!   per signal, each commit carrying the WAL position it covers so a restart
//!   replays exactly what the index has not committed;
//! - [`db`]: metric series and points (and, later, rollups, alert state and the
//!   notification outbox) through sqlx, SQLite by default and PostgreSQL when
//!   configured, migrated on open from `migrations/`.
//!
//! It knows no wire protocol: callers hand it `weir_core` types and get them
//! back. SQL and tantivy appear nowhere else in the workspace.

pub mod checkpoint;
pub mod config;
pub mod db;
mod error;
pub mod index;
mod records;
pub mod retention;

pub use config::StoreConfig;
pub use error::StoreError;
pub use records::{SearchPage, SearchRequest, SearchSignal, Store, StoredRecord};
