//! The evaluation loop: each group on its own interval, every (rule,
//! component) stepped through the state machine and persisted, so a restart
//! resumes where it stopped.

use crate::evaluate::{evaluate, evaluate_points};
use crate::rules::{RuleGroup, RuleKind};
use crate::state::{AlertState, Transition};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::pipeline::minute_of;
use weir_store::Store;
use weir_store::db::{AlertChange, AlertRow, MetricQuery};

/// How far back a component counts as known, so `absent` sees it go silent.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);
const MINUTE: u64 = 60_000_000_000;

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
    /// Its state.
    #[serde(flatten)]
    pub state: AlertState,
    /// The last value compared.
    pub value: Option<f64>,
    /// Labels: the rule's, plus alertname, component and kind.
    pub labels: std::collections::BTreeMap<String, String>,
}

type AlertKey = (String, String);

/// Rules, their states and their evaluation status.
pub struct Engine {
    store: Arc<Store>,
    groups: Vec<RuleGroup>,
    states: Mutex<HashMap<AlertKey, (AlertState, Option<f64>)>>,
    status: Mutex<HashMap<String, RuleStatus>>,
}

fn rule_key(group: &str, alert: &str) -> String {
    format!("{group}/{alert}")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Engine {
    /// Loads the stored alert states for `groups`.
    pub async fn load(
        store: Arc<Store>,
        groups: Vec<RuleGroup>,
    ) -> Result<Arc<Self>, weir_store::StoreError> {
        let mut states = HashMap::new();
        for row in store.db.alert_states().await? {
            if let Ok(state) = serde_json::from_str::<AlertState>(&row.state) {
                states.insert((row.rule, row.component), (state, row.value));
            }
        }
        Ok(Arc::new(Engine {
            store,
            groups,
            states: Mutex::new(states),
            status: Mutex::new(HashMap::new()),
        }))
    }

    /// The loaded groups.
    pub fn groups(&self) -> &[RuleGroup] {
        &self.groups
    }

    /// Each rule's last evaluation.
    pub fn status(&self) -> HashMap<String, RuleStatus> {
        self.status.lock().clone()
    }

    /// Pending and firing alerts.
    pub fn active(&self) -> Vec<ActiveAlert> {
        let states = self.states.lock();
        let mut out = Vec::new();
        for group in &self.groups {
            for rule in &group.rules {
                let key = rule_key(&group.name, &rule.alert);
                for ((k, component), (state, value)) in states.iter() {
                    if *k != key
                        || !matches!(
                            state,
                            AlertState::Pending { .. } | AlertState::Firing { .. }
                        )
                    {
                        continue;
                    }
                    let mut labels = rule.labels.clone();
                    labels.insert("alertname".into(), rule.alert.clone());
                    labels.insert("component".into(), component.clone());
                    labels.insert("kind".into(), rule.kind.as_str().to_string());
                    out.push(ActiveAlert {
                        rule: key.clone(),
                        alertname: rule.alert.clone(),
                        component: component.clone(),
                        state: *state,
                        value: *value,
                        labels,
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.rule, &a.component).cmp(&(&b.rule, &b.component)));
        out
    }

    /// Evaluates one group as of `now` and persists what changed.
    pub async fn evaluate_group(&self, group: &RuleGroup, now: u64) {
        let known_from = now.saturating_sub(KNOWN_FOR.as_nanos() as u64);
        let known: Vec<String> = match self
            .store
            .db
            .component_health(minute_of(known_from), minute_of(now) + MINUTE)
            .await
        {
            Ok(all) => all.into_keys().collect(),
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot read components for rule evaluation");
                return;
            }
        };
        let mut rows = Vec::new();
        let mut changes = Vec::new();
        for rule in &group.rules {
            let started = Instant::now();
            let key = rule_key(&group.name, &rule.alert);
            let from = minute_of(now.saturating_sub(rule.window.0.as_nanos() as u64));
            let from_points = rule.kind == RuleKind::Metric
                || (rule.kind == RuleKind::Lag && rule.metric.is_some());
            let result = if from_points {
                let start = now.saturating_sub(rule.window.0.as_nanos() as u64);
                let query = MetricQuery {
                    name: rule.metric.clone().unwrap_or_default(),
                    service: None,
                    from: start,
                    to: now,
                    limit: 100_000,
                };
                self.store
                    .db
                    .metric_points(&query)
                    .await
                    .map(|points| {
                        evaluate_points(rule, &points, start, rule.window.0.as_nanos() as u64 + 1)
                    })
                    .map_err(|e| e.to_string())
            } else {
                self.store
                    .db
                    .component_health(from, minute_of(now) + MINUTE)
                    .await
                    .map(|window| evaluate(rule, &window, &known))
                    .map_err(|e| e.to_string())
            };
            let error = match result {
                Ok(verdicts) => {
                    let mut states = self.states.lock();
                    for verdict in verdicts {
                        let entry = states
                            .entry((key.clone(), verdict.component.clone()))
                            .or_insert((AlertState::Inactive, None));
                        let (next, transition) =
                            entry
                                .0
                                .step(verdict.holds, now, rule.for_.0, rule.keep_firing_for.0);
                        *entry = (next, verdict.value.or(entry.1));
                        let changed = match transition {
                            Transition::None => None,
                            Transition::Pending => Some("pending"),
                            Transition::Fired => Some("firing"),
                            Transition::Resolved => Some("resolved"),
                        };
                        if let Some(t) = changed {
                            changes.push(AlertChange {
                                rule: key.clone(),
                                component: verdict.component.clone(),
                                transition: t.into(),
                                value: verdict.value,
                                at: now,
                            });
                        }
                        rows.push(AlertRow {
                            rule: key.clone(),
                            component: verdict.component,
                            state: serde_json::to_string(&next).expect("states serialize"),
                            value: entry.1,
                            evaluated_at: now,
                        });
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
        if let Err(e) = self.store.db.save_alerts(&rows, &changes).await {
            tracing::warn!(error = %e, group = %group.name, "cannot save alert states; they will be saved at the next evaluation");
        }
    }

    /// Runs every group on its interval until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next_due: Vec<Instant> = self.groups.iter().map(|_| Instant::now()).collect();
        loop {
            for (i, group) in self.groups.iter().enumerate() {
                if Instant::now() >= next_due[i] {
                    next_due[i] = Instant::now() + group.interval.0.max(Duration::from_secs(1));
                    self.evaluate_group(group, now_nanos()).await;
                }
            }
            let wake = next_due
                .iter()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}
