//! The `[database]` section and storage sizing.

use serde::Deserialize;
use std::path::PathBuf;

/// Storage settings handed to the store by the binary.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where the index and the SQLite file live.
    pub data_dir: PathBuf,
    /// The `[database]` section.
    pub database: DatabaseConfig,
    /// Indexing heap for spans, bytes.
    pub span_index_heap_bytes: usize,
    /// Indexing heap for logs, bytes.
    pub log_index_heap_bytes: usize,
}

/// The `[database]` section of weir.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Empty: SQLite in data_dir. Or `postgres://user@host/db`.
    pub url: String,
}

impl StoreConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>, database: DatabaseConfig) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            database,
            span_index_heap_bytes: 256 << 20,
            log_index_heap_bytes: 128 << 20,
        }
    }
}
