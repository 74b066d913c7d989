//! Checkpoints per (sink, partition), the local catalog, and the migration that keyed them.

use crate::common::{Engine, NOW, TestDb, open_store, span};
use weir_store::LocalCatalog;
use weir_store::StoreError;
use weir_store::checkpoint::{CheckpointCatalog, CheckpointKey, Sink};
use weir_store::db::{EdgeDeltas, RollupDeltas};

on_both_engines!(
    checkpoints_are_kept_per_key,
    catalog_answers_for_every_sink,
    existing_checkpoints_become_partition_zero,
);

async fn checkpoints_are_kept_per_key(engine: Engine) {
    let t = TestDb::open(engine).await;
    let rollups = RollupDeltas::new();
    let edges = EdgeDeltas::new();
    t.db.write_metrics(&[], 3).await.unwrap();
    t.db.merge_rollups(&rollups, &edges, "rollups.spans", 7)
        .await
        .unwrap();
    t.db.merge_rollups(&rollups, &edges, "rollups.metrics", 11)
        .await
        .unwrap();
    let local = |sink| CheckpointKey::local(sink);
    assert_eq!(t.db.checkpoint_of(&local(Sink::Metrics)).await.unwrap(), 3);
    assert_eq!(
        t.db.checkpoint_of(&local(Sink::SpanRollups)).await.unwrap(),
        7
    );
    assert_eq!(
        t.db.checkpoint_of(&local(Sink::LogRollups)).await.unwrap(),
        0
    );
    assert_eq!(
        t.db.checkpoint_of(&local(Sink::MetricRollups))
            .await
            .unwrap(),
        11
    );
    let elsewhere = CheckpointKey {
        sink: Sink::Metrics,
        partition: 1,
    };
    assert_eq!(t.db.checkpoint_of(&elsewhere).await.unwrap(), 0);
    // The names the collector uses today read the same rows.
    assert_eq!(t.db.checkpoint("metrics").await.unwrap(), 3);
    assert_eq!(t.db.checkpoint("rollups.spans").await.unwrap(), 7);
    assert!(matches!(
        t.db.checkpoint("rollup.spans").await,
        Err(StoreError::UnknownSink(_))
    ));
    // Positions move forward only, and survive a restart.
    t.db.merge_rollups(&rollups, &edges, "rollups.spans", 6)
        .await
        .unwrap();
    t.db.write_metrics(&[], 4).await.unwrap();
    t.db.close().await;
    let db = t.reopen().await;
    assert_eq!(
        db.checkpoint_of(&local(Sink::SpanRollups)).await.unwrap(),
        7
    );
    assert_eq!(db.checkpoint_of(&local(Sink::Metrics)).await.unwrap(), 4);
    db.close().await;
}

async fn catalog_answers_for_every_sink(engine: Engine) {
    let (store, config, _dir) = open_store(engine).await;
    let catalog = store.catalog();
    for sink in Sink::ALL {
        assert_eq!(
            catalog
                .committed(&CheckpointKey::local(sink))
                .await
                .unwrap(),
            0,
            "{sink} has committed nothing yet"
        );
    }
    store
        .spans
        .add_spans(&[span(1, "orders", "poll", NOW)], NOW)
        .unwrap();
    store.spans.commit(9, NOW).unwrap();
    store.db.write_metrics(&[], 3).await.unwrap();
    store
        .db
        .merge_rollups(&RollupDeltas::new(), &EdgeDeltas::new(), "rollups.logs", 8)
        .await
        .unwrap();
    let expected = [
        (Sink::Spans, 9),
        (Sink::Logs, 0),
        (Sink::Metrics, 3),
        (Sink::SpanRollups, 0),
        (Sink::LogRollups, 8),
        (Sink::MetricRollups, 0),
    ];
    let read = async |catalog: &LocalCatalog, partition| {
        let mut out = Vec::new();
        for sink in Sink::ALL {
            let key = CheckpointKey { sink, partition };
            out.push((sink, catalog.committed(&key).await.unwrap()));
        }
        out
    };
    assert_eq!(read(&catalog, 0).await, expected);
    assert!(
        read(&catalog, 1).await.iter().all(|(_, seq)| *seq == 0),
        "partition 1 has committed nothing"
    );

    // After a restart the same positions come back from disk.
    store.db.close().await;
    drop((store, catalog));
    let store = weir_store::Store::open(&config).await.unwrap();
    assert_eq!(read(&store.catalog(), 0).await, expected);
    store.db.close().await;
}

/// The migrations an older weir applied: those before checkpoints had partitions.
async fn migrations_before_partitions(backend: &str) -> sqlx::migrate::Migrator {
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0006" {
            std::fs::copy(&path, old.path().join(name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(old.path()).await.unwrap()
}

async fn existing_checkpoints_become_partition_zero(engine: Engine) {
    // A database migrated by an older weir, with checkpoints keyed by sink only.
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::database_config(engine).await;
    let insert =
        "INSERT INTO wal_checkpoints (sink, seq) VALUES ('metrics', 42), ('rollups.logs', 17)";
    match engine {
        Engine::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.path().join("weir.db"))
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrations_before_partitions("sqlite")
                .await
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&config.url).await.unwrap();
            migrations_before_partitions("postgres")
                .await
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
    let db = weir_store::db::Database::open(&config, dir.path())
        .await
        .unwrap();
    assert_eq!(db.checkpoint("metrics").await.unwrap(), 42);
    assert_eq!(db.checkpoint("rollups.logs").await.unwrap(), 17);
    let other = CheckpointKey {
        sink: Sink::Metrics,
        partition: 3,
    };
    assert_eq!(db.checkpoint_of(&other).await.unwrap(), 0);
    db.write_metrics(&[], 43).await.unwrap();
    assert_eq!(db.checkpoint("metrics").await.unwrap(), 43);
    db.close().await;
}
