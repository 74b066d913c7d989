//! Partition ownership on a real PostgreSQL: two nodes split the partitions
//! between them, never both holding one, and the survivor takes a dead
//! node's partitions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use weir_store::StoreError;
use weir_store::ownership::PartitionOwnership;
use weir_testkit::PgServer;

const PARTITIONS: u32 = 8;
const BOUND: Duration = Duration::from_secs(30);

async fn database() -> String {
    tokio::task::spawn_blocking(|| PgServer::shared().create_database())
        .await
        .unwrap()
}

/// Rebalances every node until `settled` holds, for at most BOUND.
async fn rounds_until(
    nodes: &mut [&mut PartitionOwnership],
    settled: impl Fn(&[&mut PartitionOwnership]) -> bool,
) {
    let deadline = Instant::now() + BOUND;
    while !settled(nodes) {
        assert!(
            Instant::now() < deadline,
            "ownership did not settle within {BOUND:?}"
        );
        for node in nodes.iter_mut() {
            node.rebalance().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_nodes_split_the_partitions_and_the_survivor_takes_all() {
    let url = database().await;
    let mut a = PartitionOwnership::join(&url, 11, PARTITIONS)
        .await
        .unwrap();
    // Alone, a node owns every partition.
    rounds_until(&mut [&mut a], |n| n[0].owned().len() == 8).await;

    let mut b = PartitionOwnership::join(&url, 22, PARTITIONS)
        .await
        .unwrap();
    assert_eq!(b.live_nodes().await.unwrap(), 2);
    rounds_until(&mut [&mut a, &mut b], |n| {
        n[0].owned().len() == 4 && n[1].owned().len() == 4
    })
    .await;
    let (owned_a, owned_b) = (a.owned().clone(), b.owned().clone());
    assert!(owned_a.is_disjoint(&owned_b), "{owned_a:?} / {owned_b:?}");
    assert_eq!(
        owned_a.union(&owned_b).copied().collect::<BTreeSet<_>>(),
        (0..PARTITIONS).collect()
    );

    // b dies (its session ends): a takes b's partitions.
    drop(b);
    rounds_until(&mut [&mut a], |n| n[0].owned().len() == 8).await;
    a.leave().await.unwrap();
}

#[tokio::test]
async fn a_second_node_with_the_same_id_is_refused() {
    let url = database().await;
    let _first = PartitionOwnership::join(&url, 7, PARTITIONS).await.unwrap();
    let second = PartitionOwnership::join(&url, 7, PARTITIONS).await;
    assert!(matches!(second, Err(StoreError::DuplicateNode(7))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_leads_and_the_next_takes_over_when_it_leaves() {
    let url = database().await;
    let mut a = PartitionOwnership::join(&url, 21, PARTITIONS)
        .await
        .unwrap();
    let mut b = PartitionOwnership::join(&url, 22, PARTITIONS)
        .await
        .unwrap();
    assert!(a.lead().await.unwrap());
    assert!(!b.lead().await.unwrap(), "one leader at a time");
    assert!(a.lead().await.unwrap(), "held for as long as the session");
    a.leave().await.unwrap();
    let deadline = Instant::now() + BOUND;
    while !b.lead().await.unwrap() {
        assert!(Instant::now() < deadline, "no takeover within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
