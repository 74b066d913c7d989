//! The evaluation loop: each group on its own interval, then the alerts
//! handed to the dispatcher, whose group timers are looked at between
//! evaluations; old alerting history is pruned hourly.

use super::{Engine, Evaluated};
use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::silence_service::Silences;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use weir_store::db::Database;

/// How often the dispatcher's group timers are looked at between
/// evaluations.
const DISPATCH_EVERY: Duration = Duration::from_secs(1);
/// How often old alerting history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long delivered and failed notifications, alert history and expired
/// silences are kept.
pub const KEEP_ALERTING_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the loop drives.
pub(crate) struct Loop {
    pub engine: Arc<Engine>,
    pub dispatcher: Arc<Dispatcher>,
    pub silences: Arc<Silences>,
    pub db: Database,
    pub clock: Clock,
}

impl Loop {
    /// Hands the alerts to the dispatcher when a change or a timer asks.
    async fn dispatch(&self) {
        let now = self.clock.now();
        if self.dispatcher.take_due(now, &self.silences) {
            self.dispatcher
                .dispatch(self.engine.instances(), &self.silences.list(), now)
                .await;
        }
    }

    /// Runs every group on its interval until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        // Each group runs on a grid: (monotonic due time, its wall-clock
        // timestamp). Evaluating at the grid's timestamps, as Prometheus
        // does, keeps `for` exact: timer jitter cannot make a 2s `for`
        // take a third interval.
        let mut next_due: HashMap<String, (Instant, u64)> = HashMap::new();
        let mut last_prune: Option<Instant> = None;
        loop {
            let groups = self.engine.groups();
            next_due.retain(|name, _| groups.iter().any(|g| &g.name == name));
            for group in groups.iter() {
                let interval = group.interval.0.max(Duration::from_secs(1));
                let (due, at) = next_due
                    .entry(group.name.clone())
                    .or_insert_with(|| (Instant::now(), self.clock.now()));
                if Instant::now() >= *due {
                    let evaluate_at = *at;
                    let mut next = *due + interval;
                    let mut next_at = *at + interval.as_nanos() as u64;
                    // Fallen behind by whole intervals: skip them.
                    while next <= Instant::now() {
                        next += interval;
                        next_at += interval.as_nanos() as u64;
                    }
                    *due = next;
                    *at = next_at;
                    match self.engine.evaluate_group(group, evaluate_at).await {
                        Evaluated::Changed => {
                            self.dispatcher.mark_changed();
                            self.dispatch().await;
                        }
                        Evaluated::Unchanged => self.dispatch().await,
                        Evaluated::Unsaved => {}
                    }
                }
            }
            self.dispatch().await;
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                prune(&self.db, &self.silences, self.clock.now()).await;
            }
            let wake = next_due
                .values()
                .map(|(due, _)| *due)
                .min()
                .unwrap_or_else(|| Instant::now() + DISPATCH_EVERY)
                .min(Instant::now() + DISPATCH_EVERY);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.engine.reloaded() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// Drops what has been kept long enough: finished notifications, alert
/// history and silences that ended more than a week ago.
async fn prune(db: &Database, silences: &Silences, now: u64) {
    let before = now.saturating_sub(KEEP_ALERTING_HISTORY.as_nanos() as u64);
    match db.prune_alerting(before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            rows = n,
            "pruned old notifications, alert history and silences"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot prune alerting history; will try again"),
    }
    silences.forget_ended_before(before);
}
