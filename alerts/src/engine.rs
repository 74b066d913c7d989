//! The evaluation loop: each group on its own interval, every (rule,
//! component, partition) stepped through the state machine and persisted,
//! then handed to the notifier; rules can be swapped while it runs.

use crate::notifier::{Notifier, now_nanos};
use crate::notify::AlertInstance;
use crate::rules::window::{HealthWindow, Reads, SeriesWindow, Verdict, Window};
use crate::rules::{Rule, RuleGroup};
use crate::state::{AlertState, Transition};
use crate::unsaved::Unsaved;
use crate::webhook::{LabelSet, render};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::pipeline::minute_of;
use weir_store::Store;
use weir_store::db::{AlertChange, AlertRow, MetricQuery};

/// How far back a component counts as known, so `absent` sees it go silent.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);
const MINUTE: u64 = 60_000_000_000;
/// How often the notifier looks at group timers between evaluations.
const DISPATCH_EVERY: Duration = Duration::from_secs(1);

/// The outcome of a rule's last evaluation.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RuleStatus {
    /// When, Unix nanoseconds.
    pub last_evaluation: u64,
    /// How long it took, milliseconds.
    pub duration_ms: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// One alert's current standing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveAlert {
    /// `group/alert`.
    pub rule: String,
    /// The alert name.
    pub alertname: String,
    /// The component.
    pub component: String,
    /// The shard or partition, for series that have one.
    pub partition: Option<String>,
    /// Its state.
    #[serde(flatten)]
    pub state: AlertState,
    /// The last value compared.
    pub value: Option<f64>,
    /// Labels: the rule's, plus alertname, component, kind and partition.
    pub labels: LabelSet,
    /// The rule's annotations, rendered.
    pub annotations: LabelSet,
    /// Whether a silence mutes its notifications.
    pub silenced: bool,
    /// The silences that do.
    pub silenced_by: Vec<String>,
}

/// The last reload, for `/api/v1/rules`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// When, Unix nanoseconds (0: never reloaded since start).
    pub at: u64,
    /// Why it failed; the previous rules kept running.
    pub error: Option<String>,
}

/// Reads the rule files: the groups, or every problem found.
pub type RuleLoader = Arc<dyn Fn() -> Result<Vec<RuleGroup>, String> + Send + Sync>;

/// One alert of a rule: its component and partition ('' when none), kept
/// in one string so the evaluation loop can look alerts up by borrowed
/// names without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Series(String);

/// Separates component and partition; neither contains it in practice.
const SERIES_SEPARATOR: char = '\u{0}';

impl Series {
    fn new(component: &str, partition: &str) -> Self {
        let mut key = String::with_capacity(component.len() + partition.len() + 1);
        Self::write_key(&mut key, component, partition);
        Series(key)
    }

    fn write_key(buf: &mut String, component: &str, partition: &str) {
        buf.clear();
        buf.push_str(component);
        buf.push(SERIES_SEPARATOR);
        buf.push_str(partition);
    }

    fn component(&self) -> &str {
        self.0.split(SERIES_SEPARATOR).next().unwrap_or_default()
    }

    fn partition(&self) -> &str {
        self.0.split_once(SERIES_SEPARATOR).map_or("", |(_, p)| p)
    }
}

impl std::borrow::Borrow<str> for Series {
    fn borrow(&self) -> &str {
        &self.0
    }
}

type Entry = (AlertState, Option<f64>);

/// Alerts by rule key, then by series. Inactive alerts are not kept, so
/// the map holds only what is pending, firing or resolved.
type States = HashMap<String, HashMap<Series, Entry>>;

fn each(states: &States) -> impl Iterator<Item = (&String, &Series, &Entry)> {
    states
        .iter()
        .flat_map(|(rule, alerts)| alerts.iter().map(move |(series, e)| (rule, series, e)))
}

/// Rules, their states and their evaluation status.
pub struct Engine {
    store: Arc<Store>,
    notifier: Arc<Notifier>,
    groups: RwLock<Arc<Vec<RuleGroup>>>,
    states: Mutex<States>,
    status: Mutex<HashMap<String, RuleStatus>>,
    group_status: Mutex<HashMap<String, RuleStatus>>,
    reload: Mutex<ReloadStatus>,
    reloaded: tokio::sync::Notify,
    /// Resolved alerts of rules a reload removed, kept for receivers until
    /// the Unix-nanosecond time beside them.
    retired: Mutex<Vec<(AlertInstance, u64)>>,
    /// State changes a failed write left behind, written with the next.
    unsaved: Mutex<Unsaved>,
    /// One write at a time, so a batch put back never lands after a newer one.
    saving: tokio::sync::Mutex<()>,
}

/// How long the resolution of a removed rule's alert stays to be told.
const RETIRED_FOR: Duration = Duration::from_secs(3600);

fn rule_key(group: &str, alert: &str) -> String {
    format!("{group}/{alert}")
}

fn labels_of(rule: &Rule, key: &Series) -> LabelSet {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.alert.clone());
    labels.insert("component".into(), key.component().to_string());
    labels.insert("kind".into(), rule.kind.as_str().to_string());
    if !key.partition().is_empty() {
        labels.insert("partition".into(), key.partition().to_string());
    }
    labels
}

fn annotations_of(rule: &Rule, labels: &LabelSet, value: Option<f64>) -> LabelSet {
    rule.annotations
        .iter()
        .map(|(k, t)| (k.clone(), render(t, labels, value)))
        .collect()
}

impl Engine {
    /// Loads the stored alert states for `groups`.
    pub async fn load(
        store: Arc<Store>,
        groups: Vec<RuleGroup>,
        notifier: Arc<Notifier>,
    ) -> Result<Arc<Self>, weir_store::StoreError> {
        let mut states = States::new();
        for row in store.db.alert_states().await? {
            if let Ok(state) = serde_json::from_str::<AlertState>(&row.state)
                && state != AlertState::Inactive
            {
                let series = Series::new(&row.component, &row.partition);
                states
                    .entry(row.rule)
                    .or_default()
                    .insert(series, (state, row.value));
            }
        }
        Ok(Arc::new(Engine {
            store,
            notifier,
            groups: RwLock::new(Arc::new(groups)),
            states: Mutex::new(states),
            status: Mutex::new(HashMap::new()),
            group_status: Mutex::new(HashMap::new()),
            reload: Mutex::new(ReloadStatus::default()),
            reloaded: tokio::sync::Notify::new(),
            retired: Mutex::new(Vec::new()),
            unsaved: Mutex::new(Unsaved::default()),
            saving: tokio::sync::Mutex::new(()),
        }))
    }

    /// The loaded groups.
    pub fn groups(&self) -> Arc<Vec<RuleGroup>> {
        self.groups.read().clone()
    }

    /// The store alerts are kept in.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The notifier alerts go to.
    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// Each rule's last evaluation.
    pub fn status(&self) -> HashMap<String, RuleStatus> {
        self.status.lock().clone()
    }

    /// Each group's last evaluation, as a whole (reads, every rule, the
    /// write of what changed).
    pub fn group_status(&self) -> HashMap<String, RuleStatus> {
        self.group_status.lock().clone()
    }

    /// The last reload's outcome.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reload.lock().clone()
    }

    fn rules_by_key(groups: &[RuleGroup]) -> HashMap<String, &Rule> {
        groups
            .iter()
            .flat_map(|g| g.rules.iter().map(|r| (rule_key(&g.name, &r.alert), r)))
            .collect()
    }

    /// How many alerts of each rule fire and how many are pending.
    pub fn counts_by_rule(&self) -> HashMap<String, (usize, usize)> {
        let states = self.states.lock();
        states
            .iter()
            .map(|(rule, alerts)| {
                let firing = alerts.values().filter(|(s, _)| s.is_firing()).count();
                let pending = alerts
                    .values()
                    .filter(|(s, _)| matches!(s, AlertState::Pending { .. }))
                    .count();
                (rule.clone(), (firing, pending))
            })
            .collect()
    }

    /// Pending and firing alerts.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let groups = self.groups();
        let rules = Self::rules_by_key(&groups);
        let now = now_nanos();
        let states = self.states.lock();
        let mut out: Vec<ActiveAlert> = each(&states)
            .filter(|(_, _, (s, _))| {
                matches!(s, AlertState::Pending { .. } | AlertState::Firing { .. })
            })
            .filter_map(|(rule_key, key, (state, value))| {
                let rule = rules.get(rule_key)?;
                let labels = labels_of(rule, key);
                let silenced_by = self.notifier.silenced_by(&labels, now);
                Some(ActiveAlert {
                    rule: rule_key.clone(),
                    alertname: rule.alert.clone(),
                    component: key.component().to_string(),
                    partition: Some(key.partition().to_string()).filter(|p| !p.is_empty()),
                    state: *state,
                    value: *value,
                    annotations: annotations_of(rule, &labels, *value),
                    labels,
                    silenced: !silenced_by.is_empty(),
                    silenced_by,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.rule, &a.component, &a.partition).cmp(&(&b.rule, &b.component, &b.partition))
        });
        out
    }

    fn generator_url(&self) -> String {
        format!(
            "{}/alerts",
            self.notifier.external_url().trim_end_matches('/')
        )
    }

    /// Firing and resolved alerts as receivers see them.
    pub fn instances(&self) -> Vec<AlertInstance> {
        let groups = self.groups();
        let rules = Self::rules_by_key(&groups);
        let generator_url = self.generator_url();
        let now = now_nanos();
        let mut retired = self.retired.lock();
        retired.retain(|(_, until)| *until > now);
        let mut out: Vec<AlertInstance> = retired.iter().map(|(a, _)| a.clone()).collect();
        drop(retired);
        let states = self.states.lock();
        out.extend(each(&states).filter_map(|(rule_key, key, (state, value))| {
            instance(rules.get(rule_key)?, key, state, *value, &generator_url)
        }));
        out
    }

    /// Writes state rows and history together with whatever an earlier
    /// failed write left; returns how many history entries were written.
    async fn save(
        &self,
        rows: Vec<AlertRow>,
        changes: Vec<AlertChange>,
    ) -> Result<usize, weir_store::StoreError> {
        let _one_at_a_time = self.saving.lock().await;
        let (rows, changes) = self.unsaved.lock().take_with(rows, changes);
        if rows.is_empty() && changes.is_empty() {
            return Ok(0);
        }
        match self.store.db.save_alerts(&rows, &changes).await {
            Ok(()) => {
                let mut unsaved = self.unsaved.lock();
                if unsaved.dropped_changes > 0 {
                    tracing::warn!(
                        dropped = unsaved.dropped_changes,
                        "alert history entries were dropped while the database refused writes"
                    );
                    unsaved.dropped_changes = 0;
                }
                Ok(changes.len())
            }
            Err(e) => {
                self.unsaved.lock().put_back(rows, changes);
                Err(e)
            }
        }
    }

    /// Swaps in new rule groups. Alerts of rules that are gone resolve (and
    /// their receivers hear so); alerts of rules that stay keep their state.
    pub async fn reload(&self, groups: Vec<RuleGroup>) {
        let now = now_nanos();
        let keep: std::collections::HashSet<String> =
            Self::rules_by_key(&groups).into_keys().collect();
        let mut rows = Vec::new();
        let mut changes = Vec::new();
        {
            let mut states = self.states.lock();
            for (rule_key, alerts) in states.iter_mut() {
                if keep.contains(rule_key) {
                    continue;
                }
                for (key, (state, value)) in alerts.iter_mut() {
                    let next = match *state {
                        AlertState::Firing { since, .. } => AlertState::Resolved { since, at: now },
                        AlertState::Pending { .. } => AlertState::Inactive,
                        _ => continue,
                    };
                    if next != AlertState::Inactive {
                        changes.push(change(rule_key, key, "resolved", *value, now));
                    }
                    *state = next;
                    rows.push(row(rule_key, key, &next, *value, now));
                }
                alerts.retain(|_, (s, _)| *s != AlertState::Inactive);
            }
        }
        // Receivers hear of the resolutions of removed rules: they stay
        // among the instances for a while after their rules go.
        let leaving: Vec<AlertInstance> = {
            let old = self.groups();
            let rules = Self::rules_by_key(&old);
            let states = self.states.lock();
            each(&states)
                .filter(|(r, _, (s, _))| {
                    !keep.contains(*r) && matches!(s, AlertState::Resolved { at, .. } if *at == now)
                })
                .filter_map(|(r, k, (s, v))| {
                    instance(rules.get(r)?, k, s, *v, &self.generator_url())
                })
                .collect()
        };
        self.retired.lock().extend(
            leaving
                .into_iter()
                .map(|a| (a, now + RETIRED_FOR.as_nanos() as u64)),
        );
        *self.groups.write() = Arc::new(groups);
        if let Err(e) = self.save(rows, changes).await {
            tracing::warn!(error = %e, "cannot save the alerts of removed rules yet; the next evaluation writes them");
        }
        *self.reload.lock() = ReloadStatus {
            at: now,
            error: None,
        };
        self.reloaded.notify_one();
    }

    /// Reads the rule files again through `load` and swaps them in; when
    /// they are broken the running rules stay and the error is kept for
    /// `/api/v1/rules`. Returns how many rules run.
    pub async fn reload_with(&self, load: &RuleLoader) -> Result<usize, String> {
        match load() {
            Ok(groups) => {
                let count = groups.iter().map(|g| g.rules.len()).sum();
                self.reload(groups).await;
                tracing::info!(rules = count, "alert rules reloaded");
                Ok(count)
            }
            Err(error) => {
                tracing::error!(%error, "alert rules not reloaded; the previous rules keep running");
                *self.reload.lock() = ReloadStatus {
                    at: now_nanos(),
                    error: Some(error.clone()),
                };
                Err(error)
            }
        }
    }

    /// Evaluates one group as of `now`, persists what changed, and hands the
    /// alerts to the notifier.
    pub async fn evaluate_group(&self, group: &RuleGroup, now: u64) {
        let known_from = now.saturating_sub(KNOWN_FOR.as_nanos() as u64);
        let group_started = Instant::now();
        let known: Vec<String> = match self
            .store
            .db
            .components_seen(minute_of(known_from), minute_of(now) + MINUTE)
            .await
        {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot read components for rule evaluation");
                return;
            }
        };
        // Rules of a group usually share a few windows and metrics: read
        // each once per evaluation.
        let mut rollups: HashMap<u64, Arc<HealthWindow>> = HashMap::new();
        let mut points: HashMap<(String, u64), Arc<SeriesWindow>> = HashMap::new();
        let mut rows = Vec::new();
        let mut changes = Vec::new();
        for rule in &group.rules {
            let started = Instant::now();
            let key = rule_key(&group.name, &rule.alert);
            let window = rule.window.0.as_nanos() as u64;
            let reads = rule.reads();
            let from_points = matches!(reads, Reads::Points(_));
            let result = if let Reads::Points(name) = reads {
                let start = now.saturating_sub(window);
                let name = name.to_string();
                let cached = match points.get(&(name.clone(), window)) {
                    Some(p) => Ok(p.clone()),
                    None => {
                        let query = MetricQuery {
                            name: name.clone(),
                            service: None,
                            from: start,
                            to: now,
                            limit: 100_000,
                        };
                        self.store.db.metric_points(&query).await.map(|p| {
                            let p = Arc::new(SeriesWindow::new(p, start, window + 1));
                            points.insert((name, window), p.clone());
                            p
                        })
                    }
                };
                cached.map(Source::Points).map_err(|e| e.to_string())
            } else {
                let cached = match rollups.get(&window) {
                    Some(r) => Ok(r.clone()),
                    None => self
                        .store
                        .db
                        .component_health(
                            minute_of(now.saturating_sub(window)),
                            minute_of(now) + MINUTE,
                        )
                        .await
                        .map(|r| {
                            let r = Arc::new(HealthWindow::new(r, &known));
                            rollups.insert(window, r.clone());
                            r
                        }),
                };
                cached.map(Source::Health).map_err(|e| e.to_string())
            };
            let error = match result {
                Ok(source) => {
                    let verdicts: Box<dyn Iterator<Item = Verdict<'_>>> = match &source {
                        Source::Points(series) => rule.evaluate(Window::Points(series)),
                        Source::Health(health) => rule.evaluate(Window::Health(health)),
                    };
                    let mut states = self.states.lock();
                    let alerts = states.entry(key.clone()).or_default();
                    let mut seen: std::collections::HashSet<Series> = Default::default();
                    let mut lookup = String::new();
                    for verdict in verdicts {
                        Series::write_key(
                            &mut lookup,
                            verdict.component,
                            verdict.partition.unwrap_or(""),
                        );
                        let current = alerts.get(lookup.as_str()).copied();
                        // Inactive and staying inactive: nothing to do.
                        if current.is_none() && verdict.holds != Some(true) {
                            continue;
                        }
                        if from_points {
                            seen.insert(Series(lookup.clone()));
                        }
                        step_alert(
                            alerts,
                            Series(lookup.clone()),
                            current,
                            verdict.holds,
                            verdict.value,
                            (rule, &key, now),
                            (&mut rows, &mut changes),
                        );
                    }
                    if from_points {
                        // A series that stopped reporting no longer holds,
                        // as in Prometheus: its alert resolves.
                        let gone: Vec<(Series, Entry)> = alerts
                            .iter()
                            .filter(|(k, (s, _))| {
                                matches!(s, AlertState::Pending { .. } | AlertState::Firing { .. })
                                    && !seen.contains(*k)
                            })
                            .map(|(k, e)| (k.clone(), *e))
                            .collect();
                        for (series, entry) in gone {
                            step_alert(
                                alerts,
                                series,
                                Some(entry),
                                Some(false),
                                None,
                                (rule, &key, now),
                                (&mut rows, &mut changes),
                            );
                        }
                    }
                    None
                }
                Err(e) => Some(e),
            };
            self.status.lock().insert(
                key,
                RuleStatus {
                    last_evaluation: now,
                    duration_ms: started.elapsed().as_secs_f64() * 1e3,
                    error,
                },
            );
        }
        let saved = self.save(rows, changes).await;
        self.group_status.lock().insert(
            group.name.clone(),
            RuleStatus {
                last_evaluation: now,
                duration_ms: group_started.elapsed().as_secs_f64() * 1e3,
                error: saved.as_ref().err().map(|e| e.to_string()),
            },
        );
        // Notifications are decided only from stored states: a crash must not
        // make weir tell something it then forgets.
        match saved {
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot save alert states; the next evaluation writes them");
                return;
            }
            Ok(0) => {}
            Ok(_) => self.notifier.mark_changed(),
        }
        self.notifier
            .dispatch(|| self.instances(), now_nanos())
            .await;
    }

    /// Runs every group on its interval, and the notifier's timers between
    /// evaluations, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        // Each group runs on a grid: (monotonic due time, its wall-clock
        // timestamp). Evaluating at the grid's timestamps, as Prometheus
        // does, keeps `for` exact: timer jitter cannot make a 2s `for`
        // take a third interval.
        let mut next_due: HashMap<String, (Instant, u64)> = HashMap::new();
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        loop {
            let groups = self.groups();
            next_due.retain(|name, _| groups.iter().any(|g| &g.name == name));
            for group in groups.iter() {
                let interval = group.interval.0.max(Duration::from_secs(1));
                let (due, at) = next_due
                    .entry(group.name.clone())
                    .or_insert_with(|| (Instant::now(), now_nanos()));
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
                    self.evaluate_group(group, evaluate_at).await;
                }
            }
            self.notifier
                .dispatch(|| self.instances(), now_nanos())
                .await;
            if last_prune.elapsed() >= Duration::from_secs(3600) {
                last_prune = Instant::now();
                self.notifier.prune(now_nanos()).await;
            }
            let wake = next_due
                .values()
                .map(|(due, _)| *due)
                .min()
                .unwrap_or_else(|| Instant::now() + DISPATCH_EVERY)
                .min(Instant::now() + DISPATCH_EVERY);
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = self.reloaded.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// What a rule reads: one window of health rollups or of metric points,
/// shared by the rules of a group that ask for the same.
enum Source {
    Health(Arc<HealthWindow>),
    Points(Arc<SeriesWindow>),
}

/// Steps one alert through the state machine, keeps what it became (inactive
/// alerts are dropped), and records the rows and history to write.
fn step_alert(
    alerts: &mut HashMap<Series, Entry>,
    series: Series,
    current: Option<Entry>,
    holds: Option<bool>,
    value: Option<f64>,
    (rule, rule_key, now): (&Rule, &str, u64),
    (rows, changes): (&mut Vec<AlertRow>, &mut Vec<AlertChange>),
) {
    let current = current.unwrap_or((AlertState::Inactive, None));
    let (next, transition) = current
        .0
        .step(holds, now, rule.for_.0, rule.keep_firing_for.0);
    // Written when its meaning changed: the state, or the last hold while
    // keep_firing_for depends on it.
    let persist = transition != Transition::None
        || std::mem::discriminant(&next) != std::mem::discriminant(&current.0)
        || (next != current.0 && !rule.keep_firing_for.0.is_zero());
    let kept_value = value.or(current.1);
    let told = match transition {
        Transition::None => None,
        Transition::Pending => Some("pending"),
        Transition::Fired => Some("firing"),
        Transition::Resolved => Some("resolved"),
    };
    if let Some(t) = told {
        changes.push(change(rule_key, &series, t, value, now));
    }
    if persist {
        rows.push(row(rule_key, &series, &next, kept_value, now));
    }
    if next == AlertState::Inactive {
        alerts.remove(&series);
    } else {
        alerts.insert(series, (next, kept_value));
    }
}

/// A firing or resolved alert as receivers see it; `None` otherwise.
fn instance(
    rule: &Rule,
    key: &Series,
    state: &AlertState,
    value: Option<f64>,
    generator_url: &str,
) -> Option<AlertInstance> {
    let (firing, starts_at, ends_at) = match *state {
        AlertState::Firing { since, .. } => (true, since, None),
        AlertState::Resolved { since, at } => (false, since, Some(at)),
        _ => return None,
    };
    let labels = labels_of(rule, key);
    Some(AlertInstance {
        annotations: annotations_of(rule, &labels, value),
        labels,
        firing,
        starts_at,
        ends_at,
        generator_url: generator_url.to_string(),
    })
}

fn row(rule: &str, key: &Series, state: &AlertState, value: Option<f64>, now: u64) -> AlertRow {
    AlertRow {
        rule: rule.to_string(),
        component: key.component().to_string(),
        partition: key.partition().to_string(),
        state: serde_json::to_string(state).expect("states serialize"),
        value,
        evaluated_at: now,
    }
}

fn change(rule: &str, key: &Series, transition: &str, value: Option<f64>, now: u64) -> AlertChange {
    AlertChange {
        rule: rule.to_string(),
        component: key.component().to_string(),
        partition: key.partition().to_string(),
        transition: transition.into(),
        value,
        at: now,
    }
}
