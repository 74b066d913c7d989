//! Errors of the storage layer.

use std::path::{Path, PathBuf};

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error(
        "cannot access {path}: {source} (check the data directory's permissions and free space)"
    )]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// tantivy failed.
    #[error("event index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not one weir can use.
    #[error(
        "database.url `{0}` is not supported: leave it empty for SQLite in data_dir, or use postgres://user@host/db"
    )]
    UnsupportedDatabase(String),
    /// A WAL checkpoint was asked for under a name no sink has: a bug in the caller.
    #[error(
        "no sink `{0}` keeps a WAL checkpoint (expected spans, logs, metrics, rollups.spans, rollups.logs or rollups.metrics)"
    )]
    UnknownSink(String),
    /// A split did not start where its partition's checkpoint stands: another
    /// node has taken the partition and indexed from there.
    #[error(
        "partition {partition} moved on to position {found} (this split starts at {expected}): another node owns it now; drop this split"
    )]
    CheckpointMoved {
        /// The partition.
        partition: u32,
        /// Where the split starts.
        expected: u64,
        /// Where the checkpoint stands.
        found: u64,
    },
    /// Another live cluster node holds this node's presence lock.
    #[error(
        "another running node has this node's id (key {0}); give every node its own cluster.node_id"
    )]
    DuplicateNode(i32),
    /// A user query could not be parsed.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// A partition an older weir wrote could not be re-indexed.
    #[error(
        "cannot re-index {path}, written by an older weir: {cause} (move that directory out of the data directory to start without it)"
    )]
    Upgrade {
        /// The partition directory.
        path: PathBuf,
        /// What failed.
        cause: Box<StoreError>,
    },
    /// A stored record could not be decoded.
    #[error("corrupt stored record: {0}")]
    CorruptRecord(String),
    /// In cluster mode, the splits a query needs could not be fetched.
    #[error("{0}; the object store may be unreachable, try again shortly")]
    SplitsUnavailable(String),
}

impl StoreError {
    /// An I/O error at `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
