//! The split catalog: a split and its partition's checkpoint move together,
//! and a split that does not start at the checkpoint is refused whole.

use crate::common::{Engine, TestDb};
use weir_store::StoreError;
use weir_store::checkpoint::{CheckpointKey, Sink};
use weir_store::db::SplitRecord;

on_both_engines!(
    a_split_moves_its_checkpoint_and_a_stale_one_is_refused,
    splits_are_found_by_time_range,
    a_merge_swaps_splits_whole_and_retention_removes_old_ones,
    nodes_heartbeat_and_partitions_report_their_catalog,
);

fn split(id: &str, partition: u32, seqs: (u64, u64), times: (u64, u64)) -> SplitRecord {
    SplitRecord {
        id: id.into(),
        sink: Sink::Spans,
        partition,
        seq_from: seqs.0,
        seq_to: seqs.1,
        time_min: times.0,
        time_max: times.1,
        bytes: 4096,
        documents: seqs.1 - seqs.0,
        filter: vec![0xde, 0xad, 0x00, 0xff],
    }
}

fn key(partition: u32) -> CheckpointKey {
    CheckpointKey {
        sink: Sink::Spans,
        partition,
    }
}

async fn a_split_moves_its_checkpoint_and_a_stale_one_is_refused(engine: Engine) {
    let t = TestDb::open(engine).await;
    let first = split("s-1", 3, (0, 100), (10, 20));
    t.db.publish_split(&first, 1).await.unwrap();
    assert_eq!(t.db.checkpoint_of(&key(3)).await.unwrap(), 100);
    assert_eq!(
        t.db.checkpoint_of(&key(4)).await.unwrap(),
        0,
        "partitions apart"
    );

    // An owner that lost partition 3 seals what it read from 0 again.
    let stale = split("s-stale", 3, (0, 80), (10, 18));
    let refused = t.db.publish_split(&stale, 2).await;
    assert!(
        matches!(
            refused,
            Err(StoreError::CheckpointMoved {
                partition: 3,
                expected: 0,
                found: 100
            })
        ),
        "{refused:?}"
    );
    // A gap is refused too: a split must start where the checkpoint stands.
    let gap = split("s-gap", 3, (120, 150), (21, 22));
    assert!(t.db.publish_split(&gap, 3).await.is_err());

    t.db.publish_split(&split("s-2", 3, (100, 250), (20, 30)), 4)
        .await
        .unwrap();
    assert_eq!(t.db.checkpoint_of(&key(3)).await.unwrap(), 250);
    let all =
        t.db.splits_covering(Sink::Spans, 0, u64::MAX >> 1)
            .await
            .unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-1", "s-2"],
        "the refused splits left nothing behind"
    );
    assert_eq!(all[0], first, "a split reads back as it was recorded");
    // What an owner asks when its commit was refused with the checkpoint
    // where it would have put it: did its own split land?
    assert!(t.db.split_listed("s-2").await.unwrap());
    assert!(!t.db.split_listed("s-stale").await.unwrap());

    // And it all holds after a restart.
    let db = t.reopen().await;
    assert_eq!(db.checkpoint_of(&key(3)).await.unwrap(), 250);
}

async fn splits_are_found_by_time_range(engine: Engine) {
    let t = TestDb::open(engine).await;
    t.db.publish_split(&split("early", 0, (0, 10), (100, 200)), 1)
        .await
        .unwrap();
    t.db.publish_split(&split("late", 1, (0, 10), (300, 400)), 1)
        .await
        .unwrap();
    let mut logs = split("logs", 0, (0, 10), (100, 400));
    logs.sink = Sink::Logs;
    t.db.publish_split(&logs, 1).await.unwrap();
    let ids = |splits: Vec<SplitRecord>| splits.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t.db.splits_covering(Sink::Spans, 150, 250).await.unwrap()),
        ["early"]
    );
    assert_eq!(
        ids(t.db.splits_covering(Sink::Spans, 250, 299).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(t.db.splits_covering(Sink::Spans, 200, 300).await.unwrap()),
        ["early", "late"]
    );
    assert_eq!(
        ids(t.db.splits_covering(Sink::Logs, 0, 1000).await.unwrap()),
        ["logs"]
    );
}

async fn a_merge_swaps_splits_whole_and_retention_removes_old_ones(engine: Engine) {
    let t = TestDb::open(engine).await;
    for (i, (from, to)) in [(0, 10), (10, 20), (20, 30)].into_iter().enumerate() {
        let s = split(
            &format!("s-{i}"),
            1,
            (from, to),
            (100 * i as u64, 100 * i as u64 + 50),
        );
        t.db.publish_split(&s, 1).await.unwrap();
    }
    let listed = |db: &weir_store::db::Database| {
        let db = db.clone();
        async move {
            let mut ids: Vec<String> = db
                .splits_covering(Sink::Spans, 0, u64::MAX >> 1)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let merged = split("m-01", 1, (0, 20), (0, 150));
    let sources = ["s-0".to_string(), "s-1".to_string()];
    assert!(t.db.replace_splits(&sources, &merged, 2).await.unwrap());
    assert_eq!(listed(&t.db).await, ["m-01", "s-2"]);
    let of_partition = t.db.splits_of_partition(Sink::Spans, 1).await.unwrap();
    assert_eq!(
        of_partition
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["m-01", "s-2"]
    );
    assert!(
        t.db.splits_of_partition(Sink::Spans, 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.db.checkpoint_of(&key(1)).await.unwrap(),
        30,
        "a merge moves no checkpoint"
    );
    // A second merge of the same sources finds them gone and changes nothing.
    let again = split("m-02", 1, (0, 20), (0, 150));
    assert!(!t.db.replace_splits(&sources, &again, 3).await.unwrap());
    assert_eq!(listed(&t.db).await, ["m-01", "s-2"]);

    let removed = t.db.delete_splits_before(Sink::Spans, 200).await.unwrap();
    assert_eq!(
        removed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["m-01"]
    );
    assert_eq!(listed(&t.db).await, ["s-2"]);
}

async fn nodes_heartbeat_and_partitions_report_their_catalog(engine: Engine) {
    use weir_store::db::{NodeRow, NodeStatus};
    let t = TestDb::open(engine).await;
    let row = |id: &str, seen_at, partitions: Vec<u32>| NodeRow {
        node_id: id.into(),
        started_at: 1,
        seen_at,
        status: NodeStatus {
            partitions,
            leader: id == "a",
            lag: vec![("spans".into(), 0, 12)],
            behind_ms: vec![("spans".into(), 0, 1_500)],
        },
    };
    t.db.heartbeat(&row("a", 10, vec![0, 1])).await.unwrap();
    t.db.heartbeat(&row("b", 10, vec![2])).await.unwrap();
    t.db.heartbeat(&row("b", 20, vec![2, 3])).await.unwrap();
    let nodes = t.db.cluster_nodes(15).await.unwrap();
    assert_eq!(
        nodes,
        [row("b", 20, vec![2, 3])],
        "only nodes heard from lately"
    );
    assert_eq!(t.db.cluster_nodes(0).await.unwrap().len(), 2);

    t.db.publish_split(&split("s-1", 2, (0, 10), (1, 2)), 1)
        .await
        .unwrap();
    t.db.publish_split(&split("s-2", 2, (10, 30), (3, 4)), 1)
        .await
        .unwrap();
    let catalog = t.db.partition_catalog().await.unwrap();
    let p2 = catalog
        .iter()
        .find(|c| c.sink == Sink::Spans && c.partition == 2)
        .unwrap();
    assert_eq!((p2.checkpoint, p2.splits, p2.bytes), (30, 2, 8192));
}
