//! The evaluation loop: each group on its own interval, every (rule,
//! component, partition) stepped through the state machine and persisted,
//! then handed to the notifier; rules can be swapped while it runs.

use crate::evaluate::{Verdict, evaluate, evaluate_points};
use crate::notifier::{Notifier, now_nanos};
use crate::notify::AlertInstance;
use crate::rules::{Rule, RuleGroup, RuleKind};
use crate::state::{AlertState, Transition};
use crate::webhook::{LabelSet, render};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::pipeline::minute_of;
use weir_core::{HealthRollup, MetricPoint};
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

/// One alert's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct AlertKey {
    rule: String,
    component: String,
    partition: String,
}

/// Rules, their states and their evaluation status.
pub struct Engine {
    store: Arc<Store>,
    notifier: Arc<Notifier>,
    groups: RwLock<Arc<Vec<RuleGroup>>>,
    states: Mutex<HashMap<AlertKey, (AlertState, Option<f64>)>>,
    status: Mutex<HashMap<String, RuleStatus>>,
    group_status: Mutex<HashMap<String, RuleStatus>>,
    reload: Mutex<ReloadStatus>,
    reloaded: tokio::sync::Notify,
    /// Resolved alerts of rules a reload removed, kept for receivers until
    /// the Unix-nanosecond time beside them.
    retired: Mutex<Vec<(AlertInstance, u64)>>,
}

/// How long the resolution of a removed rule's alert stays to be told.
const RETIRED_FOR: Duration = Duration::from_secs(3600);

fn rule_key(group: &str, alert: &str) -> String {
    format!("{group}/{alert}")
}

fn labels_of(rule: &Rule, key: &AlertKey) -> LabelSet {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.alert.clone());
    labels.insert("component".into(), key.component.clone());
    labels.insert("kind".into(), rule.kind.as_str().to_string());
    if !key.partition.is_empty() {
        labels.insert("partition".into(), key.partition.clone());
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
        let mut states = HashMap::new();
        for row in store.db.alert_states().await? {
            if let Ok(state) = serde_json::from_str::<AlertState>(&row.state) {
                let key = AlertKey {
                    rule: row.rule,
                    component: row.component,
                    partition: row.partition,
                };
                states.insert(key, (state, row.value));
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

    /// Pending and firing alerts.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let groups = self.groups();
        let rules = Self::rules_by_key(&groups);
        let now = now_nanos();
        let states = self.states.lock();
        let mut out: Vec<ActiveAlert> = states
            .iter()
            .filter(|(_, (s, _))| {
                matches!(s, AlertState::Pending { .. } | AlertState::Firing { .. })
            })
            .filter_map(|(key, (state, value))| {
                let rule = rules.get(&key.rule)?;
                let labels = labels_of(rule, key);
                let silenced_by = self.notifier.silenced_by(&labels, now);
                Some(ActiveAlert {
                    rule: key.rule.clone(),
                    alertname: rule.alert.clone(),
                    component: key.component.clone(),
                    partition: Some(key.partition.clone()).filter(|p| !p.is_empty()),
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
        out.extend(states.iter().filter_map(|(key, (state, value))| {
            instance(rules.get(&key.rule)?, key, state, *value, &generator_url)
        }));
        out
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
            for (key, (state, value)) in states.iter_mut() {
                if keep.contains(&key.rule) {
                    continue;
                }
                let next = match *state {
                    AlertState::Firing { since, .. } => AlertState::Resolved { since, at: now },
                    AlertState::Pending { .. } => AlertState::Inactive,
                    _ => continue,
                };
                if next != AlertState::Inactive {
                    changes.push(change(key, "resolved", *value, now));
                }
                *state = next;
                rows.push(row(key, &next, *value, now));
            }
        }
        // Receivers hear of the resolutions of removed rules: they stay
        // among the instances for a while after their rules go.
        let leaving: Vec<AlertInstance> = {
            let old = self.groups();
            let rules = Self::rules_by_key(&old);
            let states = self.states.lock();
            states
                .iter()
                .filter(|(k, (s, _))| {
                    !keep.contains(&k.rule)
                        && matches!(s, AlertState::Resolved { at, .. } if *at == now)
                })
                .filter_map(|(k, (s, v))| {
                    instance(rules.get(&k.rule)?, k, s, *v, &self.generator_url())
                })
                .collect()
        };
        self.retired.lock().extend(
            leaving
                .into_iter()
                .map(|a| (a, now + RETIRED_FOR.as_nanos() as u64)),
        );
        *self.groups.write() = Arc::new(groups);
        if let Err(e) = self.store.db.save_alerts(&rows, &changes).await {
            tracing::warn!(error = %e, "cannot save the alerts of removed rules");
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
        let mut rollups: HashMap<u64, Arc<BTreeMap<String, HealthRollup>>> = HashMap::new();
        let mut points: HashMap<(String, u64), Arc<Vec<MetricPoint>>> = HashMap::new();
        let mut rows = Vec::new();
        let mut changes = Vec::new();
        for rule in &group.rules {
            let started = Instant::now();
            let key = rule_key(&group.name, &rule.alert);
            let window = rule.window.0.as_nanos() as u64;
            let from_points = rule.kind == RuleKind::Metric
                || (rule.kind == RuleKind::Lag && rule.metric.is_some());
            let result = if from_points {
                let start = now.saturating_sub(window);
                let name = rule.metric.clone().unwrap_or_default();
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
                            let p = Arc::new(p);
                            points.insert((name, window), p.clone());
                            p
                        })
                    }
                };
                cached
                    .map(|points| evaluate_points(rule, &points, start, window + 1))
                    .map_err(|e| e.to_string())
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
                            let r = Arc::new(r);
                            rollups.insert(window, r.clone());
                            r
                        }),
                };
                cached
                    .map(|window| evaluate(rule, &window, &known))
                    .map_err(|e| e.to_string())
            };
            let error = match result {
                Ok(mut verdicts) => {
                    let mut states = self.states.lock();
                    if from_points {
                        // A series that stopped reporting no longer holds,
                        // as in Prometheus: its alert resolves.
                        let seen: std::collections::HashSet<(&str, &str)> = verdicts
                            .iter()
                            .map(|v| (v.component.as_str(), v.partition.as_deref().unwrap_or("")))
                            .collect();
                        let gone: Vec<Verdict> = states
                            .iter()
                            .filter(|(k, (s, _))| {
                                k.rule == key
                                    && matches!(
                                        s,
                                        AlertState::Pending { .. } | AlertState::Firing { .. }
                                    )
                                    && !seen.contains(&(k.component.as_str(), k.partition.as_str()))
                            })
                            .map(|(k, _)| Verdict {
                                component: k.component.clone(),
                                partition: Some(k.partition.clone()).filter(|p| !p.is_empty()),
                                value: None,
                                holds: Some(false),
                            })
                            .collect();
                        verdicts.extend(gone);
                    }
                    for verdict in verdicts {
                        let alert = AlertKey {
                            rule: key.clone(),
                            component: verdict.component,
                            partition: verdict.partition.unwrap_or_default(),
                        };
                        let entry = states
                            .entry(alert.clone())
                            .or_insert((AlertState::Inactive, None));
                        let (next, transition) =
                            entry
                                .0
                                .step(verdict.holds, now, rule.for_.0, rule.keep_firing_for.0);
                        // Written when its meaning changed: the state, or the
                        // last hold while keep_firing_for depends on it.
                        let persist = transition != Transition::None
                            || std::mem::discriminant(&next) != std::mem::discriminant(&entry.0)
                            || (next != entry.0 && !rule.keep_firing_for.0.is_zero());
                        *entry = (next, verdict.value.or(entry.1));
                        let told = match transition {
                            Transition::None => None,
                            Transition::Pending => Some("pending"),
                            Transition::Fired => Some("firing"),
                            Transition::Resolved => Some("resolved"),
                        };
                        if let Some(t) = told {
                            changes.push(change(&alert, t, verdict.value, now));
                        }
                        if persist {
                            rows.push(row(&alert, &next, entry.1, now));
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
        let saved = self.store.db.save_alerts(&rows, &changes).await;
        self.group_status.lock().insert(
            group.name.clone(),
            RuleStatus {
                last_evaluation: now,
                duration_ms: group_started.elapsed().as_secs_f64() * 1e3,
                error: saved.as_ref().err().map(|e| e.to_string()),
            },
        );
        if let Err(e) = saved {
            tracing::warn!(error = %e, group = %group.name, "cannot save alert states; the next evaluation saves them");
            return;
        }
        self.notifier.dispatch(&self.instances(), now_nanos()).await;
    }

    /// Runs every group on its interval, and the notifier's timers between
    /// evaluations, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next_due: HashMap<String, Instant> = HashMap::new();
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        loop {
            let groups = self.groups();
            next_due.retain(|name, _| groups.iter().any(|g| &g.name == name));
            for group in groups.iter() {
                let due = next_due
                    .entry(group.name.clone())
                    .or_insert_with(Instant::now);
                if Instant::now() >= *due {
                    *due = Instant::now() + group.interval.0.max(Duration::from_secs(1));
                    self.evaluate_group(group, now_nanos()).await;
                }
            }
            self.notifier.dispatch(&self.instances(), now_nanos()).await;
            if last_prune.elapsed() >= Duration::from_secs(3600) {
                last_prune = Instant::now();
                self.notifier.prune(now_nanos()).await;
            }
            let wake = next_due
                .values()
                .min()
                .copied()
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

/// A firing or resolved alert as receivers see it; `None` otherwise.
fn instance(
    rule: &Rule,
    key: &AlertKey,
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

fn row(key: &AlertKey, state: &AlertState, value: Option<f64>, now: u64) -> AlertRow {
    AlertRow {
        rule: key.rule.clone(),
        component: key.component.clone(),
        partition: key.partition.clone(),
        state: serde_json::to_string(state).expect("states serialize"),
        value,
        evaluated_at: now,
    }
}

fn change(key: &AlertKey, transition: &str, value: Option<f64>, now: u64) -> AlertChange {
    AlertChange {
        rule: key.rule.clone(),
        component: key.component.clone(),
        partition: key.partition.clone(),
        transition: transition.into(),
        value,
        at: now,
    }
}
