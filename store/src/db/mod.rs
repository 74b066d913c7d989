//! The relational store: SQLite by default, PostgreSQL when configured.
//!
//! Both backends run the same schema from `migrations/<backend>/` and the
//! same SQL text (`db/sql.rs`); the code forks only where the engines truly
//! differ: bulk inserts (PostgreSQL takes metric points by binary `COPY` and
//! other rows as arrays through `UNNEST`, SQLite multi-row inserts inside one
//! transaction), how a write transaction begins and which locks serialize
//! concurrent merges.

mod alerts;
mod checkpoints;
mod cluster_nodes;
mod metrics;
mod outbox;
mod pg_copy;
mod rollup_fold;
mod rollups;
mod silences;
mod splits;
mod sql;

pub use alerts::{AlertChange, AlertRow};
pub use cluster_nodes::{NodeRow, NodeStatus, PartitionCatalog};
pub use metrics::{MetricQuery, SeriesCache};
pub use outbox::{Claim, DeliveryOutcome, Notification, NotificationLogRow, OutboxRow};
pub use rollup_fold::Folded;
pub use rollups::{EdgeDeltas, RollupDeltas};
pub use silences::SilenceRow;
pub use splits::{PartitionCommit, SplitRecord};

use crate::StoreError;
use crate::config::DatabaseConfig;
use sql::sql;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

/// A connection pool to whichever database is configured.
#[derive(Clone, Debug)]
pub enum Database {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// `database.url = "postgres://..."`.
    Postgres(PgPool),
}

impl Database {
    /// Connects and migrates. An empty URL means `weir.db` in `data_dir`.
    pub async fn open(config: &DatabaseConfig, data_dir: &Path) -> Result<Self, StoreError> {
        let url = config.url.trim();
        if url.is_empty() || url.starts_with("sqlite:") {
            let options = if url.is_empty() {
                SqliteConnectOptions::new().filename(data_dir.join("weir.db"))
            } else {
                url.parse::<SqliteConnectOptions>()?
            };
            // WAL mode lets the API read while the collector writes; NORMAL
            // sync is durable across process crashes in WAL mode, and the
            // collector's own write-ahead log covers power loss.
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
            Ok(Database::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            sqlx::migrate!("../migrations/postgres").run(&pool).await?;
            Ok(Database::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedDatabase(url.to_string()))
        }
    }

    /// Which backend, for logs and `/metrics`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        self.execute(sql("SELECT 1")).await.is_ok()
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(p) => p.close().await,
            Database::Postgres(p) => p.close().await,
        }
    }
}

/// Unix nanoseconds as the signed 64-bit integer both engines store,
/// saturating: times past 2262 are not worth an error.
fn nanos(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

/// What a database failpoint makes a write return: the error SQLite gives
/// when its file cannot be written.
#[cfg(feature = "failpoints")]
fn injected_failure() -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::from_raw_os_error(5)))
}
