//! Health rollups and topology: merges add up, a replayed batch counts once.

use crate::common::{Engine, MINUTE, NOW, TestDb};
use std::collections::BTreeMap;
use weir_core::{Edge, EdgeRollup, HealthRollup, NodeKind};
use weir_store::StoreError;
use weir_store::db::{EdgeDeltas, RollupDeltas};

on_both_engines!(
    rollups_merge_and_a_repeated_checkpoint_counts_once,
    folding_keeps_every_count_and_late_rows_fold_later,
    partitions_commit_side_by_side_while_folding,
);

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

    // Two writers' rows of orders' first minute become one.
    let folded = t.db.fold_rollups(m1).await.unwrap();
    assert_eq!((folded.rollup_rows, folded.edge_rows), (3, 1));
    assert_eq!(
        t.db.component_health(0, u64::MAX).await.unwrap()["orders"].invocations,
        6
    );
    assert_eq!(t.db.delete_rollups_before(m1).await.unwrap(), 2);
    assert_eq!(t.db.components_seen(0, u64::MAX).await.unwrap(), ["orders"]);
    assert!(t.db.topology(0, u64::MAX).await.unwrap().is_empty());
    t.db.close().await;
}

type Figures = Vec<(u64, u64, u64, u64, usize, Option<f64>, Option<f64>, u64)>;

/// What the dashboard reads of each minute's rollup.
fn figures(minutes: &BTreeMap<String, BTreeMap<u64, HealthRollup>>) -> Figures {
    minutes
        .values()
        .flat_map(|m| m.iter())
        .map(|(minute, r)| {
            (
                *minute,
                r.invocations,
                r.errors,
                r.records,
                r.duration_ms.count(),
                r.duration_ms.quantile(0.5),
                r.duration_ms.quantile(0.99),
                r.last_seen,
            )
        })
        .collect()
}

fn edge_to(target: &str) -> Edge {
    Edge {
        source_kind: NodeKind::Component,
        source: "orders".into(),
        target_kind: NodeKind::Stream,
        target: target.into(),
    }
}

async fn folding_keeps_every_count_and_late_rows_fold_later(engine: Engine) {
    let t = TestDb::open(engine).await;
    let (m0, m1) = (NOW - NOW % MINUTE, NOW - NOW % MINUTE + MINUTE);
    let batch = |n: usize| -> (RollupDeltas, EdgeDeltas) {
        let mut traffic = EdgeRollup::default();
        for _ in 0..n {
            traffic.add(false);
        }
        (
            [
                (("orders".to_string(), m0), invocations(n, 1, m0 + n as u64)),
                (("orders".to_string(), m1), invocations(n, 0, m1 + n as u64)),
            ]
            .into_iter()
            .collect(),
            [
                ((edge_to("s"), m0), traffic.clone()),
                ((edge_to("s"), m1), traffic),
            ]
            .into_iter()
            .collect(),
        )
    };
    let (d, e) = batch(2);
    t.db.merge_rollups(&d, &e, "rollups.spans", 1)
        .await
        .unwrap();
    let (d, e) = batch(3);
    t.db.merge_rollups(&d, &e, "rollups.metrics", 1)
        .await
        .unwrap();
    let before =
        t.db.component_minutes(Some("orders"), 0, u64::MAX)
            .await
            .unwrap();

    // Only the finished minute folds: two writers' rows into one.
    let folded = t.db.fold_rollups(m1).await.unwrap();
    assert_eq!((folded.rollup_rows, folded.edge_rows), (2, 2));
    assert_eq!(
        figures(
            &t.db
                .component_minutes(Some("orders"), 0, u64::MAX)
                .await
                .unwrap()
        ),
        figures(&before),
        "folding changes no figure"
    );
    assert_eq!(t.db.fold_rollups(m1).await.unwrap(), Default::default());

    // A late batch for the folded minute starts its own row again.
    let (d, e) = batch(4);
    t.db.merge_rollups(&d, &e, "rollups.spans", 2)
        .await
        .unwrap();
    // Rows left: its new row of the folded minute, and both writers' rows
    // of the second.
    let folded = t.db.fold_rollups(u64::MAX).await.unwrap();
    assert_eq!((folded.rollup_rows, folded.edge_rows), (3, 3));
    let health =
        t.db.component_minutes(Some("orders"), 0, u64::MAX)
            .await
            .unwrap();
    let counts: Vec<(u64, u64, u64)> = health["orders"]
        .iter()
        .map(|(m, r)| (*m, r.invocations, r.errors))
        .collect();
    assert_eq!(counts, [(m0, 9, 3), (m1, 9, 0)]);
    assert_eq!(health["orders"][&m0].last_seen, m0 + 4);
    let topology = t.db.topology(0, u64::MAX).await.unwrap();
    assert_eq!(topology[&edge_to("s")].count, 18);
    // Folded rows are one per component and minute: deleting the first
    // minute removes exactly one.
    assert_eq!(t.db.delete_rollups_before(m1).await.unwrap(), 1);
    t.db.close().await;
}

/// Eight partition owners commit into the same component and minute while
/// a folder folds under them (even the current minute): no count is lost or
/// doubled, and no writer waits on a global lock or fails.
async fn partitions_commit_side_by_side_while_folding(engine: Engine) {
    use weir_store::checkpoint::{CheckpointKey, Sink};
    use weir_store::db::{PartitionCommit, SeriesCache};
    const PARTITIONS: u32 = 8;
    const COMMITS: u64 = 25;
    let t = TestDb::open(engine).await;
    let m0 = NOW - NOW % MINUTE;
    let writers: Vec<_> = (0..PARTITIONS)
        .map(|partition| {
            let db = t.db.clone();
            tokio::spawn(async move {
                let mut series = SeriesCache::default();
                for seq in 0..COMMITS {
                    let deltas: RollupDeltas =
                        [(("orders".to_string(), m0), invocations(1, 1, m0 + seq))]
                            .into_iter()
                            .collect();
                    let mut traffic = EdgeRollup::default();
                    traffic.add(false);
                    let edges: EdgeDeltas = [((edge_to("s"), m0), traffic)].into_iter().collect();
                    let commit = PartitionCommit {
                        key: CheckpointKey {
                            sink: Sink::Spans,
                            partition,
                        },
                        seq_from: seq,
                        seq_to: seq + 1,
                        split: None,
                        points: &[],
                        deltas: &deltas,
                        edges: &edges,
                    };
                    db.commit_partition(&commit, &mut series, NOW)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let folder = {
        let db = t.db.clone();
        let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still = writing.clone();
        let task = tokio::spawn(async move {
            let mut folded = 0;
            while still.load(std::sync::atomic::Ordering::Relaxed) {
                // A pass that gives way to a writer is tried again.
                if let Ok(f) = db.fold_rollups(u64::MAX).await {
                    folded += f.rollup_rows;
                }
                tokio::task::yield_now().await;
            }
            folded
        });
        (task, writing)
    };
    for w in writers {
        w.await.unwrap();
    }
    folder.1.store(false, std::sync::atomic::Ordering::Relaxed);
    let folded_while_writing = folder.0.await.unwrap();
    assert!(
        folded_while_writing > 0,
        "the folder ran beside the writers"
    );
    let total = PARTITIONS as u64 * COMMITS;
    let health = t.db.component_health(0, u64::MAX).await.unwrap();
    assert_eq!(
        (health["orders"].invocations, health["orders"].errors),
        (total, total)
    );
    assert_eq!(
        t.db.topology(0, u64::MAX).await.unwrap()[&edge_to("s")].count,
        total
    );
    t.db.fold_rollups(u64::MAX).await.unwrap();
    assert_eq!(
        t.db.delete_rollups_before(u64::MAX).await.unwrap(),
        1,
        "one folded row left"
    );
    t.db.close().await;
}
