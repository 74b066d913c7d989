//! What the store's tests share: a database or a whole store on each engine, and sample records.

use std::sync::Arc;
use weir_core::fixtures;
use weir_core::{AttrValue, Attributes, LogRecord, MetricPoint, Span, SpanId, SpanKind, TraceId};
use weir_store::config::DatabaseConfig;
use weir_store::db::Database;
use weir_store::index::{Signal, SignalIndex, WriterBudget};
use weir_store::{Store, StoreConfig};
use weir_testkit::PgServer;

/// The engines weir runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The `[database]` section for a fresh database on `engine`: SQLite in the
/// data directory, or a new database on this test binary's shared server.
pub async fn database_config(engine: Engine) -> DatabaseConfig {
    match engine {
        Engine::Sqlite => DatabaseConfig::default(),
        Engine::Postgres => DatabaseConfig {
            url: tokio::task::spawn_blocking(|| PgServer::shared().create_database())
                .await
                .expect("the PostgreSQL starter does not panic"),
        },
    }
}

/// A fresh, migrated database and the directory it may live in.
pub struct TestDb {
    pub db: Database,
    pub config: DatabaseConfig,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn open(engine: Engine) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let config = database_config(engine).await;
        let db = Database::open(&config, dir.path()).await.unwrap();
        TestDb { db, config, dir }
    }

    /// The same database, opened again as after a restart.
    pub async fn reopen(&self) -> Database {
        Database::open(&self.config, self.dir.path()).await.unwrap()
    }
}

/// A whole store (indexes and database) in a fresh directory.
pub async fn open_store(engine: Engine) -> (Store, StoreConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path(), database_config(engine).await);
    // Enough for two indexing threads (tantivy wants 15 MB each), far less
    // than the defaults.
    config.span_index_heap_bytes = 32 << 20;
    config.log_index_heap_bytes = 32 << 20;
    let store = Store::open(&config).await.unwrap();
    (store, config, dir)
}

/// Runs each named `async fn(Engine)` once on SQLite and once on PostgreSQL,
/// as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Engine::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::common::Engine::Postgres).await;
            }
        }
    )*};
}

/// A signal index under `root` with a small single-threaded writer.
pub fn open_index(root: &std::path::Path, signal: Signal) -> SignalIndex {
    SignalIndex::open(
        root,
        signal,
        WriterBudget {
            threads: 1,
            heap_bytes: 20 << 20,
        },
    )
    .unwrap()
}

/// 2027-01-15T08:00:00Z, in Unix nanoseconds.
pub const NOW: u64 = 1_800_000_000 * 1_000_000_000;
pub const MINUTE: u64 = 60 * 1_000_000_000;

pub fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), AttrValue::Str(v.to_string())))
        .collect()
}

pub fn span(n: u8, service: &str, name: &str, start: u64) -> Span {
    Span {
        kind: SpanKind::Server,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 2_000_000,
        attributes: attrs(&[("order.id", &format!("order-{n}"))]),
        resource: Arc::new(attrs(&[("service.name", service)])),
        ..fixtures::span(TraceId([n; 16]), n, None, service, name)
    }
}

pub fn log(n: u8, service: &str, body: &str, time: u64) -> LogRecord {
    LogRecord {
        trace_id: Some(TraceId([n; 16])),
        span_id: Some(SpanId([n; 8])),
        resource: Arc::new(attrs(&[("service.name", service)])),
        ..fixtures::log_record(service, time, body)
    }
}

pub fn gauge(name: &str, service: &str, shard: &str, time: u64, value: f64) -> MetricPoint {
    MetricPoint {
        description: "records not yet read".into(),
        attributes: attrs(&[("shard", shard)]),
        resource: Arc::new(attrs(&[("service.name", service)])),
        ..fixtures::gauge_point(name, service, time, value)
    }
}
