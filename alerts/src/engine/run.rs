//! The evaluation loop: each group on its own interval, and in between as
//! soon as a metric it reads is committed or one of its alerts can change
//! (a `for` runs out, a reading leaves a window); then the alerts handed to
//! the dispatcher, woken for its group timers; old alerting history is
//! pruned hourly.

use super::{Engine, Evaluated};
use crate::clock::Clock;
use crate::dispatch::Dispatcher;
use crate::rules::RuleGroup;
use crate::rules::window::Reads;
use crate::silence_service::Silences;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use weir_store::arrivals::{Arrived, MetricArrivals};
use weir_store::db::Database;

/// How often the dispatcher's group timers are looked at between
/// evaluations.
const DISPATCH_EVERY: Duration = Duration::from_secs(1);
/// How often old alerting history is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long delivered and failed notifications, alert history and expired
/// silences are kept.
pub const KEEP_ALERTING_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The fewest time between two evaluations of a group outside its ticks.
const EXTRA_MIN_SPACING: Duration = Duration::from_millis(100);
/// Evaluations outside a group's ticks are spaced by this many times the
/// group's last evaluation, so that evaluating on arrival costs at most
/// about 5 % of a core per group however fast readings come.
const EXTRA_SPACING_FACTOR: u32 = 20;

/// What the loop drives.
pub(crate) struct Loop {
    pub engine: Arc<Engine>,
    pub dispatcher: Arc<Dispatcher>,
    pub silences: Arc<Silences>,
    pub db: Database,
    pub clock: Clock,
    /// Metric names just committed: groups reading them evaluate at once.
    pub arrivals: Option<Arc<MetricArrivals>>,
}

/// When one group evaluates next.
struct Schedule {
    /// The next tick of the group's grid: monotonic due time and its
    /// wall-clock timestamp.
    tick: (Instant, u64),
    /// An evaluation asked for before the tick, by an arrival or because
    /// an alert can change then.
    extra: Option<Instant>,
    /// When the last evaluation ended, and how long it took.
    last: Option<(Instant, Duration)>,
}

impl Schedule {
    /// Asks for an evaluation at `at`, no sooner than the spacing allows;
    /// one the tick comes before is left to the tick.
    fn ask(&mut self, at: Instant) {
        let earliest = self.last.map_or(at, |(ended, took)| {
            ended + EXTRA_MIN_SPACING.max(took * EXTRA_SPACING_FACTOR)
        });
        let at = at.max(earliest);
        if at < self.tick.0 {
            self.extra = Some(self.extra.map_or(at, |e| e.min(at)));
        }
    }

    /// The wall-clock time to evaluate at if one is due: a tick evaluates
    /// at its grid timestamp (as Prometheus does, so timer jitter cannot
    /// make a 2s `for` take a third interval), an extra one at `now`.
    fn due(&mut self, interval: Duration, now: u64) -> Option<u64> {
        let (due, at) = self.tick;
        if Instant::now() >= due {
            let mut next = due + interval;
            let mut next_at = at + interval.as_nanos() as u64;
            // Fallen behind by whole intervals: skip them.
            while next <= Instant::now() {
                next += interval;
                next_at += interval.as_nanos() as u64;
            }
            self.tick = (next, next_at);
            self.extra = None;
            return Some(at);
        }
        if self.extra.is_some_and(|e| Instant::now() >= e) {
            self.extra = None;
            return Some(now);
        }
        None
    }

    fn wake(&self) -> Instant {
        self.extra.map_or(self.tick.0, |e| e.min(self.tick.0))
    }
}

/// Whether a rule of `group` reads a metric that just arrived.
fn reads_arrived(group: &RuleGroup, arrived: &Arrived) -> bool {
    group
        .rules
        .iter()
        .any(|r| matches!(r.reads(), Reads::Points(name) if arrived.includes(name)))
}

/// The monotonic instant of wall-clock `at`, from the clock's `now`, no
/// later than `DISPATCH_EVERY` from now (the loop wakes by then anyway).
fn instant_of(at: u64, now: u64) -> Instant {
    let wait = Duration::from_nanos(at.saturating_sub(now)).min(DISPATCH_EVERY);
    Instant::now() + wait
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

    /// Runs every group on its interval, and sooner when a reading it
    /// reads arrives or one of its alerts can change, until `stop` turns
    /// true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut schedules: HashMap<String, Schedule> = HashMap::new();
        let mut last_prune: Option<Instant> = None;
        loop {
            let groups = self.engine.groups();
            schedules.retain(|name, _| groups.iter().any(|g| &g.name == name));
            for group in groups.iter() {
                schedules
                    .entry(group.name.clone())
                    .or_insert_with(|| Schedule {
                        tick: (Instant::now(), self.clock.now()),
                        extra: None,
                        last: None,
                    });
            }
            if let Some(arrived) = self.arrivals.as_ref().map(|a| a.take())
                && !arrived.is_empty()
            {
                for group in groups.iter().filter(|g| reads_arrived(g, &arrived)) {
                    if let Some(s) = schedules.get_mut(&group.name) {
                        s.ask(Instant::now());
                    }
                }
            }
            for group in groups.iter() {
                let interval = group.interval.0.max(Duration::from_secs(1));
                let Some(schedule) = schedules.get_mut(&group.name) else {
                    continue;
                };
                let Some(evaluate_at) = schedule.due(interval, self.clock.now()) else {
                    continue;
                };
                let started = Instant::now();
                let evaluation = self.engine.evaluate_group(group, evaluate_at).await;
                schedule.last = Some((Instant::now(), started.elapsed()));
                if let Some(at) = evaluation.wake_at {
                    let wait = Duration::from_nanos(at.saturating_sub(self.clock.now()));
                    if wait < interval {
                        schedule.ask(Instant::now() + wait);
                    }
                }
                match evaluation.outcome {
                    Evaluated::Changed => {
                        self.dispatcher.mark_changed();
                        self.dispatch().await;
                    }
                    Evaluated::Unchanged => self.dispatch().await,
                    Evaluated::Unsaved => {}
                }
            }
            self.dispatch().await;
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                prune(&self.db, &self.silences, self.clock.now()).await;
            }
            let dispatch_due = instant_of(self.dispatcher.next_due(), self.clock.now());
            let wake = schedules
                .values()
                .map(Schedule::wake)
                .chain([dispatch_due, Instant::now() + DISPATCH_EVERY])
                .min()
                .unwrap_or_else(|| Instant::now() + DISPATCH_EVERY);
            let arrived = async {
                match &self.arrivals {
                    Some(a) => a.arrived().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = arrived => {}
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
