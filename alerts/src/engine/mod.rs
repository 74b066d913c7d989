//! The rule engine: the loaded rules, the alert table and each rule's
//! evaluation status. One group evaluation reads its windows
//! ([`reads`]), steps the table ([`table`], pure), writes what changed, and
//! tells its caller whether anything did; the loop (`run`) hands the
//! alerts on to the dispatcher. Rules can be swapped while it runs.

pub mod reads;
pub(crate) mod run;
pub mod table;

use crate::clock::Clock;
use crate::grouping::AlertInstance;
use crate::rules::Rule;
use crate::rules::RuleGroup;
use crate::silence_service::Silences;
use crate::state::AlertState;
use crate::unsaved::Unsaved;
use crate::webhook::LabelSet;
use parking_lot::{Mutex, RwLock};
use reads::Reader;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use table::{AlertTable, Writes, annotations_of, instance, labels_of, rule_key};
use weir_store::db::Database;

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
    /// The rule's comparison (none for `absent`).
    #[serde(skip)]
    pub threshold: Option<crate::rules::Threshold>,
}

impl ActiveAlert {
    /// The alert as a component's status reads it; `None` unless firing.
    pub fn as_firing(&self) -> Option<weir_core::status::FiringAlert> {
        if !matches!(self.state, AlertState::Firing { .. }) {
            return None;
        }
        Some(weir_core::status::FiringAlert {
            alertname: self.alertname.clone(),
            component: self.component.clone(),
            kind: self.labels.get("kind").cloned().unwrap_or_default(),
            partition: self.partition.clone(),
            value: self.value,
            op: self.threshold.map(|t| t.op.as_str().to_string()),
            threshold: self.threshold.map(|t| t.value),
            severity: self.labels.get("severity").cloned(),
        })
    }
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

/// How long the resolution of a removed rule's alert stays to be told.
const RETIRED_FOR: Duration = Duration::from_secs(3600);

/// Rules, their alerts and their evaluation status.
pub struct Engine {
    db: Database,
    clock: Clock,
    generator_url: String,
    groups: RwLock<Arc<Vec<RuleGroup>>>,
    table: Mutex<AlertTable>,
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

fn rules_by_key(groups: &[RuleGroup]) -> HashMap<String, &Rule> {
    groups
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| (rule_key(&g.name, &r.alert), r)))
        .collect()
}

impl Engine {
    /// Loads the stored alert states for `groups`; alerts link back to
    /// `external_url`.
    pub async fn load(
        db: Database,
        groups: Vec<RuleGroup>,
        external_url: &str,
        clock: Clock,
    ) -> Result<Arc<Self>, weir_store::StoreError> {
        let table = AlertTable::from_rows(db.alert_states().await?);
        Ok(Arc::new(Engine {
            db,
            clock,
            generator_url: format!("{}/alerts", external_url.trim_end_matches('/')),
            groups: RwLock::new(Arc::new(groups)),
            table: Mutex::new(table),
            status: Mutex::new(HashMap::new()),
            group_status: Mutex::new(HashMap::new()),
            reload: Mutex::new(ReloadStatus::default()),
            reloaded: tokio::sync::Notify::new(),
            retired: Mutex::new(Vec::new()),
            unsaved: Mutex::new(Unsaved::default()),
            saving: tokio::sync::Mutex::new(()),
        }))
    }

    /// Reads the alert states again from the database: in a cluster the
    /// rule leader wrote them, and a node that becomes leader, or answers
    /// the API without being it, starts from what is stored.
    pub async fn refresh_states(&self) -> Result<(), weir_store::StoreError> {
        let _saving = self.saving.lock().await;
        let table = AlertTable::from_rows(self.db.alert_states().await?);
        *self.table.lock() = table;
        Ok(())
    }

    /// The loaded groups.
    pub fn groups(&self) -> Arc<Vec<RuleGroup>> {
        self.groups.read().clone()
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

    /// How many alerts of each rule fire and how many are pending.
    pub fn counts_by_rule(&self) -> HashMap<String, (usize, usize)> {
        self.table.lock().counts_by_rule()
    }

    /// Pending and firing alerts, with the silences that mute them.
    pub fn active(&self, silences: &Silences) -> Vec<ActiveAlert> {
        let groups = self.groups();
        let rules = rules_by_key(&groups);
        let now = self.clock.now();
        let table = self.table.lock();
        let mut out: Vec<ActiveAlert> = table
            .each()
            .filter(|(_, _, (s, _))| {
                matches!(s, AlertState::Pending { .. } | AlertState::Firing { .. })
            })
            .filter_map(|(rule_key, key, (state, value))| {
                let rule = rules.get(rule_key)?;
                let labels = labels_of(rule, key);
                let silenced_by = silences.silenced_by(&labels, now);
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
                    threshold: rule.kind.threshold(),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.rule, &a.component, &a.partition).cmp(&(&b.rule, &b.component, &b.partition))
        });
        out
    }

    /// Firing and resolved alerts as receivers see them.
    pub fn instances(&self) -> Vec<AlertInstance> {
        let groups = self.groups();
        let rules = rules_by_key(&groups);
        let now = self.clock.now();
        let mut retired = self.retired.lock();
        retired.retain(|(_, until)| *until > now);
        let mut out: Vec<AlertInstance> = retired.iter().map(|(a, _)| a.clone()).collect();
        drop(retired);
        let table = self.table.lock();
        out.extend(table.each().filter_map(|(rule_key, key, entry)| {
            instance(rules.get(rule_key)?, key, entry, &self.generator_url)
        }));
        out
    }

    /// Writes state rows and history together with whatever an earlier
    /// failed write left; returns how many history entries were written.
    async fn save(&self, writes: Writes) -> Result<usize, weir_store::StoreError> {
        let _one_at_a_time = self.saving.lock().await;
        let (rows, changes) = self.unsaved.lock().take_with(writes.rows, writes.changes);
        if rows.is_empty() && changes.is_empty() {
            return Ok(0);
        }
        match self.db.save_alerts(&rows, &changes).await {
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
        let now = self.clock.now();
        let keep: HashSet<String> = rules_by_key(&groups).into_keys().collect();
        let mut writes = Writes::default();
        let resolved = self.table.lock().retire(&keep, now, &mut writes);
        // Receivers hear of the resolutions of removed rules: they stay
        // among the instances for a while after their rules go.
        let leaving: Vec<AlertInstance> = {
            let old = self.groups();
            let rules = rules_by_key(&old);
            resolved
                .iter()
                .filter_map(|(r, k, e)| instance(rules.get(r)?, k, e, &self.generator_url))
                .collect()
        };
        self.retired.lock().extend(
            leaving
                .into_iter()
                .map(|a| (a, now + RETIRED_FOR.as_nanos() as u64)),
        );
        *self.groups.write() = Arc::new(groups);
        if let Err(e) = self.save(writes).await {
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
                    at: self.clock.now(),
                    error: Some(error.clone()),
                };
                Err(error)
            }
        }
    }

    /// Evaluates one group as of `now` and writes what changed. Returns
    /// whether alerts changed state, as stored: notifications are decided
    /// only from stored states, so a crash cannot make weir tell something
    /// it then forgets.
    pub async fn evaluate_group(&self, group: &RuleGroup, now: u64) -> GroupEvaluation {
        let group_started = Instant::now();
        let mut reader = match Reader::start(&self.db, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot read components for rule evaluation");
                return GroupEvaluation {
                    outcome: Evaluated::Unsaved,
                    wake_at: None,
                };
            }
        };
        let mut writes = Writes::default();
        let mut wake_at: Option<u64> = None;
        for rule in &group.rules {
            let started = Instant::now();
            let key = rule_key(&group.name, &rule.alert);
            let error = match reader.read(rule).await {
                Ok(source) => {
                    let series_end = matches!(source, reads::Source::Points(_));
                    let verdicts = rule.evaluate(source.window());
                    let mut table = self.table.lock();
                    table.apply(&key, rule, verdicts, series_end, now, &mut writes);
                    let due = next_change(&table, &key, rule, &source);
                    wake_at = [wake_at, due].into_iter().flatten().min();
                    None
                }
                Err(e) => Some(e.to_string()),
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
        let saved = self.save(writes).await;
        self.group_status.lock().insert(
            group.name.clone(),
            RuleStatus {
                last_evaluation: now,
                duration_ms: group_started.elapsed().as_secs_f64() * 1e3,
                error: saved.as_ref().err().map(|e| e.to_string()),
            },
        );
        let outcome = match saved {
            Err(e) => {
                tracing::warn!(error = %e, group = %group.name, "cannot save alert states; the next evaluation writes them");
                Evaluated::Unsaved
            }
            Ok(0) => Evaluated::Unchanged,
            Ok(_) => Evaluated::Changed,
        };
        GroupEvaluation {
            outcome,
            wake_at: wake_at.filter(|at| *at > now),
        }
    }

    /// Resolves when rules were swapped in.
    pub(crate) async fn reloaded(&self) {
        self.reloaded.notified().await;
    }
}

/// The earliest time (Unix nanoseconds) one of `rule`'s alerts can change
/// without a new reading: a pending alert's `for` runs out, a firing one's
/// `keep_firing_for` does, or the oldest reading of a firing series leaves
/// its window (how a recovered series resolves as soon as it can).
fn next_change(table: &AlertTable, key: &str, rule: &Rule, source: &reads::Source) -> Option<u64> {
    let nanos = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
    table
        .alerts_of(key)
        .filter_map(|(series, (state, _))| match *state {
            AlertState::Pending { since } => Some(since.saturating_add(nanos(rule.for_.0))),
            AlertState::Firing { last_held, .. } => {
                let kept = (!rule.keep_firing_for.0.is_zero())
                    .then(|| last_held.saturating_add(nanos(rule.keep_firing_for.0)));
                let expiry = match source {
                    reads::Source::Points(window) => window.first_expiry(
                        series.component(),
                        Some(series.partition()).filter(|p| !p.is_empty()),
                    ),
                    reads::Source::Health(_) => None,
                };
                [kept, expiry].into_iter().flatten().min()
            }
            _ => None,
        })
        .min()
}

/// One group evaluation: what it left, and when it should run again
/// before its next tick because an alert may change then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEvaluation {
    /// What it left.
    pub outcome: Evaluated,
    /// The earliest time an alert can change without new data, Unix
    /// nanoseconds, when that is after the evaluation.
    pub wake_at: Option<u64>,
}

/// What one group evaluation left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluated {
    /// Alerts changed state, and the change is stored.
    Changed,
    /// Nothing changed.
    Unchanged,
    /// It could not read or write; nothing is to be told from it.
    Unsaved,
}
