//! Backpressure on indexing lag: how far behind each partition's owner reads
//! its subject, as time, so that every node refuses exports of a signal
//! while any partition of it is further behind than
//! `cluster.max_indexing_lag`.
//!
//! JetStream takes exports as fast as it can store them; without this, a
//! load the owners cannot index grows a backlog (and the time until a
//! record is searchable) until the stream's `max_bytes` refuses exports.
//! The embedded mode refuses while its indexes lag; this is the same bound
//! across nodes.
//!
//! Each owner measures its own partitions on every batch it reads (the age
//! of the oldest message in it: how long the partition's records wait to be
//! indexed; zero once a batch that left nothing unread is indexed) and
//! tells the others through its heartbeat row. The loop's last stretch of
//! storing what it indexed (sealing, upload, catalog, merges) is not
//! counted ([`waited_for_indexing`]): it is paid once per commit interval
//! whatever the load, and on a slow machine alone it passed the bound under
//! a trickle of exports. Every node folds in the others'
//! rows. A partition whose owner waits for the object store or the catalog
//! counts as not behind: JetStream holds that backlog, and exports go on
//! being acknowledged until the stream's limits refuse them.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_collector::otlp::SignalKind;
use weir_collector::otlp::partition::Partition;
use weir_store::db::NodeRow;

/// Rows older than this say nothing of now (nodes write theirs every
/// 500 ms).
pub(crate) const FRESH: Duration = Duration::from_secs(3);

/// A signal's name (`SignalKind::as_str`) and a partition.
type Key = (&'static str, Partition);

/// Each partition's indexing lag, as this node knows it.
#[derive(Debug)]
pub struct IndexingBacklog {
    bound: Duration,
    /// Measured here, by this node's indexing loops.
    own: Mutex<BTreeMap<Key, Duration>>,
    /// Told by the other nodes' heartbeats.
    others: Mutex<BTreeMap<Key, Duration>>,
}

/// The partition furthest behind of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behind {
    /// The partition.
    pub partition: Partition,
    /// How far its owner is behind.
    pub by: Duration,
}

impl IndexingBacklog {
    /// No partition behind yet; exports are refused past `bound`
    /// (zero: never).
    pub fn new(bound: Duration) -> Self {
        IndexingBacklog {
            bound,
            own: Mutex::default(),
            others: Mutex::default(),
        }
    }

    /// Records what an indexing loop of this node just read: the age of
    /// the oldest message of its batch.
    pub fn read(&self, signal: SignalKind, partition: Partition, oldest: Duration) {
        self.own.lock().insert((signal.as_str(), partition), oldest);
    }

    /// An indexing loop of this node indexed a batch after which nothing
    /// was left to read: nothing of its partition waits. (Were the last
    /// measurement kept, a partition refused for its lag would get no new
    /// batch to say it caught up.)
    pub fn caught_up(&self, signal: SignalKind, partition: Partition) {
        self.read(signal, partition, Duration::ZERO);
    }

    /// An indexing loop of this node waits for storage (object store,
    /// catalog), not for CPU: its backlog does not refuse exports.
    pub fn waiting_for_storage(&self, signal: SignalKind, partition: Partition) {
        self.read(signal, partition, Duration::ZERO);
    }

    /// An indexing loop of this node ended (the partition was given up).
    pub fn forget(&self, signal: SignalKind, partition: Partition) {
        self.own.lock().remove(&(signal.as_str(), partition));
    }

    /// This node's own measurements, for its heartbeat: (signal, partition,
    /// milliseconds behind).
    pub fn own(&self) -> Vec<(String, u32, u64)> {
        self.own
            .lock()
            .iter()
            .map(|((s, p), by)| (s.to_string(), *p, by.as_millis() as u64))
            .collect()
    }

    /// Takes in the other nodes' heartbeats, as read at `now` (Unix nanos).
    pub fn learn(&self, me: &str, rows: &[NodeRow], now: u64) {
        *self.others.lock() = reported_elsewhere(me, rows, now);
    }

    /// The partition of `signal` furthest behind, wherever it is indexed.
    pub fn worst(&self, signal: SignalKind) -> Option<Behind> {
        let own = self.own.lock();
        let others = self.others.lock();
        own.iter()
            .chain(others.iter().filter(|(k, _)| !own.contains_key(k)))
            .filter(|((s, _), _)| *s == signal.as_str())
            .map(|((_, partition), by)| Behind {
                partition: *partition,
                by: *by,
            })
            .max_by_key(|b| b.by)
    }

    /// Why exports of `signal` are refused now, if they are.
    pub fn refusal(&self, signal: SignalKind) -> Option<String> {
        if self.bound.is_zero() {
            return None;
        }
        let worst = self.worst(signal)?;
        (worst.by > self.bound).then(|| {
            format!(
                "indexing of {} partition {} is {:.1} s behind (cluster.max_indexing_lag {:.1} s)",
                signal.as_str(),
                worst.partition,
                worst.by.as_secs_f64(),
                self.bound.as_secs_f64()
            )
        })
    }
}

/// When an indexing loop last stopped reading to store what it indexed
/// (Unix nanos).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pause {
    pub(crate) from: u64,
    pub(crate) to: u64,
}

/// How long a message JetStream stored at `published` has waited, at
/// `now`, for a loop that keeps up to index it: its age less the part of
/// it the loop spent in its last `pause`. A loop that falls behind still
/// shows it, as its batches' oldest messages grow older than any one pause.
pub(crate) fn waited_for_indexing(published: u64, now: u64, pause: Pause) -> Duration {
    let age = now.saturating_sub(published);
    let overlap = pause.to.min(now).saturating_sub(pause.from.max(published));
    Duration::from_nanos(age - overlap.min(age))
}

/// What the other nodes' fresh heartbeats say of the partitions they own;
/// a partition two rows claim (a handover) is taken from the newer row.
fn reported_elsewhere(me: &str, rows: &[NodeRow], now: u64) -> BTreeMap<Key, Duration> {
    let fresh_since = now.saturating_sub(FRESH.as_nanos() as u64);
    let mut newest: BTreeMap<Key, (u64, Duration)> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r.node_id != me && r.seen_at >= fresh_since)
    {
        for (signal, partition, ms) in &row.status.behind_ms {
            let Some(signal) = SignalKind::ALL
                .into_iter()
                .map(SignalKind::as_str)
                .find(|s| *s == signal.as_str())
            else {
                continue;
            };
            let entry = newest
                .entry((signal, *partition))
                .or_insert((0, Duration::ZERO));
            if row.seen_at >= entry.0 {
                *entry = (row.seen_at, Duration::from_millis(*ms));
            }
        }
    }
    newest.into_iter().map(|(k, (_, by))| (k, by)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_store::db::NodeStatus;

    const SECOND: u64 = 1_000_000_000;

    fn row(node: &str, seen_at: u64, behind: &[(&str, u32, u64)]) -> NodeRow {
        NodeRow {
            node_id: node.into(),
            started_at: 0,
            seen_at,
            status: NodeStatus {
                behind_ms: behind
                    .iter()
                    .map(|(s, p, ms)| (s.to_string(), *p, *ms))
                    .collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_loops_last_pause_is_not_counted_as_waiting() {
        let pause = Pause {
            from: 10 * SECOND,
            to: 12 * SECOND,
        };
        let ms = |d: Duration| d.as_millis();
        // Stored during the pause, read 100 ms after it: 100 ms.
        assert_eq!(
            ms(waited_for_indexing(
                11 * SECOND,
                12 * SECOND + SECOND / 10,
                pause
            )),
            100
        );
        // Stored before the pause: the time before and after it counts.
        assert_eq!(
            ms(waited_for_indexing(9 * SECOND, 13 * SECOND, pause)),
            2000
        );
        // Stored after the pause: its whole age.
        assert_eq!(
            ms(waited_for_indexing(12 * SECOND, 14 * SECOND, pause)),
            2000
        );
        // No pause yet.
        assert_eq!(
            ms(waited_for_indexing(SECOND, 3 * SECOND, Pause::default())),
            2000
        );
        // A clock that stepped back says nothing is waiting.
        assert_eq!(
            waited_for_indexing(5 * SECOND, 4 * SECOND, pause),
            Duration::ZERO
        );
    }

    #[test]
    fn a_partition_past_the_bound_refuses_its_signal_only() {
        let backlog = IndexingBacklog::new(Duration::from_secs(1));
        backlog.read(SignalKind::Traces, 3, Duration::from_millis(1500));
        backlog.read(SignalKind::Traces, 4, Duration::from_millis(200));
        let why = backlog.refusal(SignalKind::Traces).expect("refused");
        assert!(why.contains("partition 3 is 1.5 s behind"), "{why}");
        assert_eq!(backlog.refusal(SignalKind::Logs), None);
    }

    #[test]
    fn a_loop_that_caught_up_or_waits_for_storage_is_not_behind() {
        let backlog = IndexingBacklog::new(Duration::from_secs(1));
        backlog.read(SignalKind::Traces, 0, Duration::from_secs(9));
        assert!(backlog.refusal(SignalKind::Traces).is_some());
        backlog.caught_up(SignalKind::Traces, 0);
        assert_eq!(backlog.refusal(SignalKind::Traces), None);
        backlog.read(SignalKind::Traces, 0, Duration::from_secs(9));
        backlog.waiting_for_storage(SignalKind::Traces, 0);
        assert_eq!(backlog.refusal(SignalKind::Traces), None);
        backlog.read(SignalKind::Traces, 0, Duration::from_secs(9));
        backlog.forget(SignalKind::Traces, 0);
        assert_eq!(backlog.worst(SignalKind::Traces), None);
    }

    #[test]
    fn other_nodes_count_while_their_rows_are_fresh() {
        let backlog = IndexingBacklog::new(Duration::from_secs(1));
        let now = 100 * SECOND;
        backlog.learn(
            "a",
            &[
                row("a", now, &[("spans", 1, 9_000)]),
                row("b", now - SECOND, &[("spans", 2, 2_500)]),
                row("c", now - 10 * SECOND, &[("spans", 5, 60_000)]),
            ],
            now,
        );
        assert_eq!(
            backlog.worst(SignalKind::Traces),
            Some(Behind {
                partition: 2,
                by: Duration::from_millis(2_500)
            }),
            "its own row is not news to a node, and a dead node's stale row is ignored"
        );
    }

    #[test]
    fn a_handed_over_partition_reads_from_the_newer_row_and_own_measurements_win() {
        let backlog = IndexingBacklog::new(Duration::from_secs(1));
        let now = 100 * SECOND;
        backlog.learn(
            "a",
            &[
                row("b", now - 2 * SECOND, &[("spans", 2, 5_000)]),
                row("c", now, &[("spans", 2, 100), ("spans", 7, 4_000)]),
            ],
            now,
        );
        assert_eq!(backlog.worst(SignalKind::Traces).unwrap().partition, 7);
        backlog.read(SignalKind::Traces, 7, Duration::from_millis(10));
        assert_eq!(
            backlog.worst(SignalKind::Traces).unwrap(),
            Behind {
                partition: 2,
                by: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn a_zero_bound_never_refuses() {
        let backlog = IndexingBacklog::new(Duration::ZERO);
        backlog.read(SignalKind::Traces, 0, Duration::from_secs(60));
        assert_eq!(backlog.refusal(SignalKind::Traces), None);
    }
}
