//! Health rollups and topology: merges add up, a replayed batch counts once.

use crate::common::{Engine, MINUTE, NOW, TestDb};
use std::collections::BTreeMap;
use weir_core::{Edge, EdgeRollup, HealthRollup, NodeKind};
use weir_store::StoreError;
use weir_store::db::{EdgeDeltas, RollupDeltas};

on_both_engines!(rollups_merge_and_a_repeated_checkpoint_counts_once);

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
