//! The relational store through its public API, each test on SQLite and on PostgreSQL.

mod common;

use common::{Engine, MINUTE, NOW, TestDb, gauge, open_store, span};
use std::collections::BTreeMap;
use weir_core::{
    Edge, EdgeRollup, HealthRollup, Histogram, MetricKind, MetricPoint, MetricValue, NodeKind,
    Temporality,
};
use weir_store::StoreError;
use weir_store::checkpoint::{CheckpointCatalog, CheckpointKey, Sink};
use weir_store::db::{
    AlertChange, AlertRow, DeliveryOutcome, EdgeDeltas, MetricQuery, Notification,
    NotificationLogRow, RollupDeltas, SilenceRow,
};

on_both_engines!(
    metric_points_round_trip,
    metric_writes_at_a_committed_position_are_skipped,
    many_points_in_one_write,
    rollups_merge_and_a_repeated_checkpoint_counts_once,
    checkpoints_are_kept_per_key,
    catalog_answers_for_every_sink,
    existing_checkpoints_become_partition_zero,
    outbox_enqueue_claim_and_ack,
    silences_are_saved_replaced_and_pruned,
    alert_state_round_trip,
);

fn query(name: &str, service: Option<&str>) -> MetricQuery {
    MetricQuery {
        name: name.into(),
        service: service.map(String::from),
        from: 0,
        to: u64::MAX,
        limit: 1000,
    }
}

fn histogram(time: u64) -> MetricPoint {
    MetricPoint {
        kind: MetricKind::Histogram,
        temporality: Temporality::Delta,
        unit: "s".into(),
        value: MetricValue::Histogram(Histogram {
            count: 3,
            sum: Some(1.5),
            min: Some(0.1),
            max: Some(1.0),
            explicit_bounds: vec![0.5, 1.0],
            bucket_counts: vec![1, 2, 0],
        }),
        ..gauge("http.server.request.duration", "checkout", "-", time, 0.0)
    }
}

async fn metric_points_round_trip(engine: Engine) {
    let t = TestDb::open(engine).await;
    let mut counter = gauge("consumer.records", "orders", "shard-1", NOW + 2, 7.0);
    counter.kind = MetricKind::Sum;
    counter.temporality = Temporality::Cumulative;
    counter.monotonic = true;
    let points = vec![
        gauge(
            "pipeline.iterator_age",
            "orders",
            "shard-1",
            NOW + 3,
            1500.0,
        ),
        gauge("pipeline.iterator_age", "orders", "shard-2", NOW + 1, 20.0),
        gauge("pipeline.iterator_age", "billing", "shard-1", NOW + 2, 5.0),
        counter.clone(),
        histogram(NOW + 4),
    ];
    t.db.write_metrics(&points, 1).await.unwrap();

    let age =
        t.db.metric_points(&query("pipeline.iterator_age", None))
            .await
            .unwrap();
    assert_eq!(
        age,
        [points[1].clone(), points[2].clone(), points[0].clone()],
        "every point of the metric, oldest first, as written"
    );
    let orders =
        t.db.metric_points(&query("pipeline.iterator_age", Some("orders")))
            .await
            .unwrap();
    assert_eq!(orders, [points[1].clone(), points[0].clone()]);
    let window = MetricQuery {
        from: NOW + 2,
        to: NOW + 3,
        limit: 1,
        ..query("pipeline.iterator_age", None)
    };
    assert_eq!(
        t.db.metric_points(&window).await.unwrap(),
        [points[2].clone()]
    );
    assert_eq!(
        t.db.metric_points(&query("consumer.records", None))
            .await
            .unwrap(),
        [counter]
    );
    assert_eq!(
        t.db.metric_points(&query("http.server.request.duration", None))
            .await
            .unwrap(),
        [points[4].clone()],
        "histogram buckets round trip"
    );
    assert_eq!(t.db.metrics_checkpoint().await.unwrap(), 1);

    // A known series gets new points without a second series row.
    let later = gauge("pipeline.iterator_age", "orders", "shard-1", NOW + 9, 0.0);
    t.db.write_metrics(std::slice::from_ref(&later), 2)
        .await
        .unwrap();
    let orders =
        t.db.metric_points(&query("pipeline.iterator_age", Some("orders")))
            .await
            .unwrap();
    assert_eq!(orders, [points[1].clone(), points[0].clone(), later]);

    assert_eq!(t.db.delete_metric_points_before(NOW + 3).await.unwrap(), 3);
    assert_eq!(
        t.db.metric_points(&query("pipeline.iterator_age", None))
            .await
            .unwrap()
            .len(),
        2
    );
    t.db.close().await;
}

async fn metric_writes_at_a_committed_position_are_skipped(engine: Engine) {
    let t = TestDb::open(engine).await;
    let p = gauge("pipeline.iterator_age", "orders", "shard-1", NOW, 1.0);
    t.db.write_metrics(std::slice::from_ref(&p), 5)
        .await
        .unwrap();
    // A replay of the same batch, and a stale one.
    t.db.write_metrics(std::slice::from_ref(&p), 5)
        .await
        .unwrap();
    t.db.write_metrics(std::slice::from_ref(&p), 4)
        .await
        .unwrap();
    let q = query("pipeline.iterator_age", None);
    assert_eq!(t.db.metric_points(&q).await.unwrap().len(), 1);
    assert_eq!(t.db.checkpoint("metrics").await.unwrap(), 5);
    t.db.write_metrics(std::slice::from_ref(&p), 6)
        .await
        .unwrap();
    assert_eq!(t.db.metric_points(&q).await.unwrap().len(), 2);
    t.db.close().await;
}

async fn many_points_in_one_write(engine: Engine) {
    let t = TestDb::open(engine).await;
    // More series and points than one SQLite statement takes.
    let points: Vec<MetricPoint> = (0..2500u64)
        .map(|i| {
            gauge(
                "load",
                "svc",
                &format!("shard-{}", i % 700),
                NOW + i,
                i as f64,
            )
        })
        .collect();
    t.db.write_metrics(&points, 1).await.unwrap();
    let read =
        t.db.metric_points(&MetricQuery {
            limit: 10_000,
            ..query("load", None)
        })
        .await
        .unwrap();
    assert_eq!(read, points);
    t.db.close().await;
}

fn invocations(n: usize, failed: usize, seen: u64) -> HealthRollup {
    let mut r = HealthRollup::default();
    for i in 0..n {
        r.add_invocation(10.0 + i as f64, i < failed, None, 1, seen);
    }
    r
}

async fn rollups_merge_and_a_repeated_checkpoint_counts_once(engine: Engine) {
    let t = TestDb::open(engine).await;
    let (m0, m1) = (NOW - NOW % MINUTE, NOW - NOW % MINUTE + MINUTE);
    let deltas: RollupDeltas = [
        (("orders".to_string(), m0), invocations(2, 1, m0 + 5)),
        (("orders".to_string(), m1), invocations(1, 0, m1 + 5)),
        (("billing".to_string(), m0), invocations(3, 0, m0 + 7)),
    ]
    .into_iter()
    .collect();
    let edge = Edge {
        source_kind: NodeKind::Component,
        source: "orders".into(),
        target_kind: NodeKind::Stream,
        target: "orders-stream".into(),
    };
    let mut traffic = EdgeRollup::default();
    traffic.add(false);
    traffic.add(true);
    let edges: EdgeDeltas = [((edge.clone(), m0), traffic)].into_iter().collect();

    t.db.merge_rollups(&deltas, &edges, "rollups.spans", 5)
        .await
        .unwrap();
    // The same batch again, as a replay after a crash would send it.
    t.db.merge_rollups(&deltas, &edges, "rollups.spans", 5)
        .await
        .unwrap();
    assert_eq!(t.db.checkpoint("rollups.spans").await.unwrap(), 5);
    let health = t.db.component_health(0, u64::MAX).await.unwrap();
    assert_eq!(health["orders"].invocations, 3, "counted once");
    assert_eq!(health["orders"].errors, 1);
    assert_eq!(health["billing"].invocations, 3);
    let topology = t.db.topology(0, u64::MAX).await.unwrap();
    assert_eq!((topology[&edge].count, topology[&edge].errors), (2, 1));

    // Later deltas, and another signal's rollups of the same rows, add up.
    t.db.merge_rollups(&deltas, &edges, "rollups.spans", 6)
        .await
        .unwrap();
    let from_logs: RollupDeltas = [(("orders".to_string(), m0), invocations(0, 0, 0))]
        .into_iter()
        .map(|(k, mut r)| {
            r.add_late_error();
            (k, r)
        })
        .collect();
    t.db.merge_rollups(&from_logs, &BTreeMap::new(), "rollups.logs", 1)
        .await
        .unwrap();
    let health = t.db.component_health(0, u64::MAX).await.unwrap();
    assert_eq!(health["orders"].invocations, 6);
    assert_eq!(health["orders"].errors, 3);
    assert_eq!(t.db.topology(0, u64::MAX).await.unwrap()[&edge].count, 4);
    assert_eq!(t.db.checkpoint("rollups.logs").await.unwrap(), 1);

    assert_eq!(
        t.db.components_seen(m0, m1).await.unwrap(),
        ["billing", "orders"]
    );
    let minutes =
        t.db.component_minutes(Some("orders"), 0, u64::MAX)
            .await
            .unwrap();
    assert_eq!(minutes.keys().collect::<Vec<_>>(), ["orders"]);
    let per_minute: Vec<(u64, u64)> = minutes["orders"]
        .iter()
        .map(|(m, r)| (*m, r.invocations))
        .collect();
    assert_eq!(per_minute, [(m0, 4), (m1, 2)]);
    assert_eq!(
        t.db.component_minutes(None, 0, u64::MAX)
            .await
            .unwrap()
            .len(),
        2
    );

    assert!(matches!(
        t.db.merge_rollups(&deltas, &edges, "spans", 9).await,
        Err(StoreError::UnknownSink(_))
    ));
    assert!(matches!(
        t.db.merge_rollups(&deltas, &edges, "rollups", 9).await,
        Err(StoreError::UnknownSink(_))
    ));

    assert_eq!(t.db.delete_rollups_before(m1).await.unwrap(), 2);
    assert_eq!(t.db.components_seen(0, u64::MAX).await.unwrap(), ["orders"]);
    assert!(t.db.topology(0, u64::MAX).await.unwrap().is_empty());
    t.db.close().await;
}

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
    let read = async |catalog: &weir_store::checkpoint::LocalCatalog, partition| {
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
    let config = common::database_config(engine).await;
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

fn notification(
    receiver: &str,
    group: &str,
    entry: &str,
    body: Option<&str>,
    at: u64,
) -> Notification {
    Notification {
        log: NotificationLogRow {
            receiver: receiver.into(),
            group_key: group.into(),
            entry: entry.into(),
        },
        body: body.map(String::from),
        at,
    }
}

async fn outbox_enqueue_claim_and_ack(engine: Engine) {
    let t = TestDb::open(engine).await;
    t.db.record_notifications(&[
        notification(
            "ops",
            "lag/orders",
            r#"{"firing":1}"#,
            Some("lag firing"),
            NOW,
        ),
        notification("ops", "errors/billing", r#"{"firing":0}"#, None, NOW),
        notification(
            "oncall",
            "lag/orders",
            r#"{"firing":1}"#,
            Some("page"),
            NOW + 1,
        ),
    ])
    .await
    .unwrap();
    let mut log = t.db.notification_log().await.unwrap();
    log.sort_by(|a, b| (&a.receiver, &a.group_key).cmp(&(&b.receiver, &b.group_key)));
    assert_eq!(log.len(), 3, "a decision without a body is logged too");
    assert_eq!(log[1].group_key, "errors/billing");

    let pending = t.db.pending_notifications(10).await.unwrap();
    let bodies: Vec<&str> = pending.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, ["lag firing", "page"], "oldest first");
    let (first, second) = (pending[0].clone(), pending[1].clone());
    assert_eq!(
        (first.state.as_str(), first.attempts, first.next_attempt_at),
        ("pending", 0, NOW)
    );
    assert_eq!(
        t.db.pending_notifications(1).await.unwrap(),
        std::slice::from_ref(&first)
    );

    // The first fails once, then goes through; the second is given up on.
    let retry = DeliveryOutcome::Retry {
        error: "503".into(),
        next_attempt_at: NOW + 30,
    };
    t.db.record_delivery(first.id, &retry, NOW + 1)
        .await
        .unwrap();
    let again = &t.db.pending_notifications(10).await.unwrap()[0];
    assert_eq!(
        (
            again.id,
            again.attempts,
            again.next_attempt_at,
            again.last_error.as_deref()
        ),
        (first.id, 1, NOW + 30, Some("503"))
    );
    t.db.record_delivery(first.id, &DeliveryOutcome::Delivered, NOW + 31)
        .await
        .unwrap();
    t.db.record_delivery(
        second.id,
        &DeliveryOutcome::GaveUp {
            error: "timeout".into(),
        },
        NOW + 40,
    )
    .await
    .unwrap();
    assert!(t.db.pending_notifications(10).await.unwrap().is_empty());
    let delivered = t.db.notifications(Some("delivered"), 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (
            delivered[0].attempts,
            delivered[0].finished_at,
            delivered[0].last_error.as_deref()
        ),
        (2, Some(NOW + 31), Some("503")),
        "the last error is kept after a later success"
    );
    let all: Vec<i64> =
        t.db.notifications(None, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
    assert_eq!(all, [second.id, first.id], "newest first");
    assert_eq!(
        t.db.outbox_counts().await.unwrap(),
        [
            ("oncall".to_string(), "failed".to_string(), 1),
            ("ops".to_string(), "delivered".to_string(), 1)
        ]
    );

    // A new decision for a group replaces its log entry and queues anew.
    t.db.record_notifications(&[notification(
        "ops",
        "lag/orders",
        r#"{"firing":0}"#,
        Some("resolved"),
        NOW + 50,
    )])
    .await
    .unwrap();
    let log = t.db.notification_log().await.unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().any(|l| l.group_key == "lag/orders"
        && l.receiver == "ops"
        && l.entry == r#"{"firing":0}"#));
    // Pruning takes finished notifications only.
    assert_eq!(t.db.prune_alerting(NOW + 100).await.unwrap(), 2);
    let left = t.db.notifications(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "resolved");
    t.db.close().await;
}

fn silence(id: &str, starts_at: u64, ends_at: u64, comment: &str) -> SilenceRow {
    SilenceRow {
        id: id.into(),
        matchers: r#"[{"name":"component","value":"orders"}]"#.into(),
        starts_at,
        ends_at,
        created_by: "ana".into(),
        comment: comment.into(),
        updated_at: starts_at,
    }
}

async fn silences_are_saved_replaced_and_pruned(engine: Engine) {
    let t = TestDb::open(engine).await;
    let late = silence("s2", NOW + 10, NOW + 20, "deploy");
    let early = silence("s1", NOW, NOW + 5, "maintenance");
    t.db.save_silence(&late).await.unwrap();
    t.db.save_silence(&early).await.unwrap();
    assert_eq!(
        t.db.silences().await.unwrap(),
        [early.clone(), late.clone()]
    );
    let extended = SilenceRow {
        ends_at: NOW + 60,
        comment: "deploy, longer".into(),
        updated_at: NOW + 11,
        ..late
    };
    t.db.save_silence(&extended).await.unwrap();
    assert_eq!(t.db.silences().await.unwrap(), [early, extended.clone()]);
    assert_eq!(t.db.prune_alerting(NOW + 6).await.unwrap(), 1);
    assert_eq!(t.db.silences().await.unwrap(), [extended]);
    t.db.close().await;
}

async fn alert_state_round_trip(engine: Engine) {
    let t = TestDb::open(engine).await;
    let row = |partition: &str, state: &str, value, at| AlertRow {
        rule: "pipeline/lag".into(),
        component: "orders".into(),
        partition: partition.into(),
        state: state.into(),
        value,
        evaluated_at: at,
    };
    let change = |partition: &str, transition: &str, at| AlertChange {
        rule: "pipeline/lag".into(),
        component: "orders".into(),
        partition: partition.into(),
        transition: transition.into(),
        value: Some(1500.0),
        at,
    };
    t.db.save_alerts(
        &[
            row("shard-1", r#"{"pending":1}"#, Some(1500.0), NOW),
            row("", r#"{"inactive":1}"#, None, NOW),
        ],
        &[change("shard-1", "pending", NOW)],
    )
    .await
    .unwrap();
    t.db.save_alerts(
        &[row("shard-1", r#"{"firing":1}"#, Some(2000.0), NOW + 60)],
        &[change("shard-1", "firing", NOW + 60)],
    )
    .await
    .unwrap();
    let mut states = t.db.alert_states().await.unwrap();
    states.sort_by(|a, b| a.partition.cmp(&b.partition));
    assert_eq!(
        states,
        [
            row("", r#"{"inactive":1}"#, None, NOW),
            row("shard-1", r#"{"firing":1}"#, Some(2000.0), NOW + 60),
        ],
        "one row per (rule, component, partition), the latest state"
    );
    assert_eq!(
        t.db.alert_history(10).await.unwrap(),
        [
            change("shard-1", "firing", NOW + 60),
            change("shard-1", "pending", NOW)
        ],
        "newest first"
    );
    assert_eq!(t.db.alert_history(1).await.unwrap().len(), 1);
    assert_eq!(t.db.prune_alerting(NOW + 1).await.unwrap(), 1);
    assert_eq!(t.db.alert_history(10).await.unwrap().len(), 1);
    t.db.close().await;
}
