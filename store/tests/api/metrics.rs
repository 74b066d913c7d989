//! Metric series and points: round trip, filters, bulk writes, replays.

use crate::common::{Engine, NOW, TestDb, gauge};
use weir_core::{Histogram, MetricKind, MetricPoint, MetricValue, Temporality};
use weir_store::db::{MetricQuery, SeriesCache};

on_both_engines!(
    metric_points_round_trip,
    metric_writes_at_a_committed_position_are_skipped,
    many_points_in_one_write,
    known_series_are_written_once_and_their_points_still_join,
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

async fn known_series_are_written_once_and_their_points_still_join(engine: Engine) {
    let t = TestDb::open(engine).await;
    let mut cache = SeriesCache::default();
    let first = vec![
        gauge("pipeline.iterator_age", "orders", "shard-1", NOW + 1, 10.0),
        gauge("pipeline.iterator_age", "orders", "shard-2", NOW + 1, 20.0),
        histogram(NOW + 1),
    ];
    t.db.write_metrics_cached(&first, 1, &mut cache)
        .await
        .unwrap();
    assert_eq!(cache.len(), 3, "every committed series is remembered");
    // The same series again, and one new: only the new one is inserted,
    // and every point still finds its series.
    let second = vec![
        gauge("pipeline.iterator_age", "orders", "shard-1", NOW + 2, 11.0),
        gauge("pipeline.iterator_age", "orders", "shard-3", NOW + 2, 30.0),
        histogram(NOW + 2),
    ];
    t.db.write_metrics_cached(&second, 2, &mut cache)
        .await
        .unwrap();
    assert_eq!(cache.len(), 4);
    let age =
        t.db.metric_points(&query("pipeline.iterator_age", None))
            .await
            .unwrap();
    assert_eq!(age.len(), 4);
    assert!(
        age.iter()
            .any(|p| p.value == MetricValue::Number { value: 30.0 }),
        "the new series' point joins it"
    );
    let histograms =
        t.db.metric_points(&query("http.server.request.duration", None))
            .await
            .unwrap();
    assert_eq!(histograms, [histogram(NOW + 1), histogram(NOW + 2)]);
    // A batch at a committed position is skipped and teaches the cache nothing.
    let skipped = [gauge(
        "pipeline.iterator_age",
        "orders",
        "shard-9",
        NOW + 3,
        1.0,
    )];
    t.db.write_metrics_cached(&skipped, 2, &mut cache)
        .await
        .unwrap();
    assert_eq!(cache.len(), 4);
}
