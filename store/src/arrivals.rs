//! Which metrics just became readable: the metrics worker records the names
//! of each batch it committed, and the alert engine takes them to evaluate
//! the rules that read those metrics on arrival instead of at its next tick.

use parking_lot::Mutex;
use std::collections::HashSet;
use tokio::sync::Notify;

/// Past this many distinct names between two takes, arrivals stop naming
/// metrics and say "all": the set stays bounded whatever names clients send.
const MAX_NAMES: usize = 10_000;

/// What arrived since the last take.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Arrived {
    /// The metric names committed.
    pub names: HashSet<String>,
    /// Too many names to list: treat every metric as arrived.
    pub all: bool,
}

impl Arrived {
    /// Whether `name` is among what arrived.
    pub fn includes(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }

    /// Whether nothing arrived.
    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }
}

/// Committed metric names, shared by the writer and the alert engine.
#[derive(Debug, Default)]
pub struct MetricArrivals {
    pending: Mutex<Arrived>,
    notify: Notify,
}

impl MetricArrivals {
    /// Records the names of points just committed and wakes the taker.
    pub fn record<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut pending = self.pending.lock();
        let mut previous: Option<&str> = None;
        for name in names {
            // Batches hold runs of one metric: skip the repeats cheaply.
            if pending.all || previous == Some(name) {
                continue;
            }
            previous = Some(name);
            if !pending.names.contains(name) {
                if pending.names.len() >= MAX_NAMES {
                    pending.names.clear();
                    pending.all = true;
                    continue;
                }
                pending.names.insert(name.to_string());
            }
        }
        let any = !pending.is_empty();
        drop(pending);
        if any {
            self.notify.notify_one();
        }
    }

    /// Resolves once something arrived since the last [`Self::take`].
    pub async fn arrived(&self) {
        self.notify.notified().await;
    }

    /// What arrived since the last take, emptied.
    pub fn take(&self) -> Arrived {
        std::mem::take(&mut *self.pending.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_taken_once_and_the_set_stays_bounded() {
        let arrivals = MetricArrivals::default();
        arrivals.record(["lag", "lag", "depth", "lag"]);
        let got = arrivals.take();
        assert!(got.includes("lag") && got.includes("depth") && !got.includes("other"));
        assert_eq!(got.names.len(), 2);
        assert!(arrivals.take().is_empty(), "a take empties what arrived");

        let names: Vec<String> = (0..MAX_NAMES + 5).map(|i| format!("m{i}")).collect();
        arrivals.record(names.iter().map(String::as_str));
        let got = arrivals.take();
        assert!(
            got.all && got.names.is_empty(),
            "past the cap every metric counts"
        );
        assert!(got.includes("anything"));
    }

    #[tokio::test]
    async fn a_record_wakes_a_taker_that_was_not_yet_waiting() {
        let arrivals = MetricArrivals::default();
        arrivals.record(["lag"]);
        tokio::time::timeout(std::time::Duration::from_secs(10), arrivals.arrived())
            .await
            .expect("the permit left by record wakes the next wait");
        assert!(arrivals.take().includes("lag"));
    }
}
