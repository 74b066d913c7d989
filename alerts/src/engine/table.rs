//! The alert table: every pending, firing or resolved alert by rule and
//! series, stepped through the state machine by a rule's verdicts, and the
//! rows and history each step leaves to write. Pure: the engine reads the
//! verdicts, passes `now`, and writes what is returned.

use crate::grouping::AlertInstance;
use crate::rules::Rule;
use crate::rules::window::Verdict;
use crate::state::{AlertState, Transition};
use crate::template::render;
use crate::webhook::LabelSet;
use std::collections::{HashMap, HashSet};
use weir_store::db::{AlertChange, AlertRow};

/// One alert of a rule: its component and partition ('' when none), kept
/// in one string so the table can look alerts up by borrowed names without
/// allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series(String);

/// Separates component and partition; neither contains it in practice.
const SERIES_SEPARATOR: char = '\u{0}';

impl Series {
    /// The series of `component` and `partition` ('' when none).
    pub fn new(component: &str, partition: &str) -> Self {
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

    /// The component.
    pub fn component(&self) -> &str {
        self.0.split(SERIES_SEPARATOR).next().unwrap_or_default()
    }

    /// The partition, '' when none.
    pub fn partition(&self) -> &str {
        self.0.split_once(SERIES_SEPARATOR).map_or("", |(_, p)| p)
    }
}

impl std::borrow::Borrow<str> for Series {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An alert's state and the last value compared.
pub type Entry = (AlertState, Option<f64>);

/// State rows and history entries to write, in the order they were decided.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Writes {
    /// The newest state of each alert that changed.
    pub rows: Vec<AlertRow>,
    /// Transitions for the history.
    pub changes: Vec<AlertChange>,
}

/// Alerts by rule key (`group/alert`), then by series. Inactive alerts are
/// not kept, so the table holds only what is pending, firing or resolved.
#[derive(Debug, Default, Clone)]
pub struct AlertTable {
    alerts: HashMap<String, HashMap<Series, Entry>>,
}

/// `group/alert`, how rules are known in the table and the database.
pub fn rule_key(group: &str, alert: &str) -> String {
    format!("{group}/{alert}")
}

impl AlertTable {
    /// The table as stored; rows that do not parse or are inactive are skipped.
    pub fn from_rows(rows: Vec<AlertRow>) -> Self {
        let mut alerts: HashMap<String, HashMap<Series, Entry>> = HashMap::new();
        for row in rows {
            if let Ok(state) = serde_json::from_str::<AlertState>(&row.state)
                && state != AlertState::Inactive
            {
                let series = Series::new(&row.component, &row.partition);
                alerts
                    .entry(row.rule)
                    .or_default()
                    .insert(series, (state, row.value));
            }
        }
        AlertTable { alerts }
    }

    /// Every alert: rule key, series, entry.
    pub fn each(&self) -> impl Iterator<Item = (&String, &Series, &Entry)> {
        self.alerts
            .iter()
            .flat_map(|(rule, alerts)| alerts.iter().map(move |(series, e)| (rule, series, e)))
    }

    /// How many alerts of each rule fire and how many are pending.
    pub fn counts_by_rule(&self) -> HashMap<String, (usize, usize)> {
        self.alerts
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

    /// The alerts of the rule known as `key`.
    pub fn alerts_of<'a>(&'a self, key: &str) -> impl Iterator<Item = (&'a Series, &'a Entry)> {
        self.alerts.get(key).into_iter().flatten()
    }

    /// Steps the alerts of `rule` (known as `key`) by its verdicts at `now`.
    /// With `series_end`, a pending or firing series that gave no verdict
    /// stopped reporting and no longer holds, as in Prometheus.
    pub fn apply<'a>(
        &mut self,
        key: &str,
        rule: &Rule,
        verdicts: impl Iterator<Item = Verdict<'a>>,
        series_end: bool,
        now: u64,
        writes: &mut Writes,
    ) {
        let alerts = self.alerts.entry(key.to_string()).or_default();
        let mut seen: HashSet<Series> = HashSet::new();
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
            if series_end {
                seen.insert(Series(lookup.clone()));
            }
            step_alert(
                alerts,
                Series(lookup.clone()),
                current,
                (verdict.holds, verdict.value, verdict.observed_at),
                (rule, key, now),
                writes,
            );
        }
        if series_end {
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
                    (Some(false), None, None),
                    (rule, key, now),
                    writes,
                );
            }
        }
    }

    /// Resolves the firing alerts of rules not in `keep` and forgets their
    /// pending ones; returns the alerts resolved now, for receivers to hear.
    pub fn retire(
        &mut self,
        keep: &HashSet<String>,
        now: u64,
        writes: &mut Writes,
    ) -> Vec<(String, Series, Entry)> {
        let mut resolved = Vec::new();
        for (rule_key, alerts) in self.alerts.iter_mut() {
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
                    writes
                        .changes
                        .push(change(rule_key, key, "resolved", *value, now));
                    resolved.push((rule_key.clone(), key.clone(), (next, *value)));
                }
                *state = next;
                writes.rows.push(row(rule_key, key, &next, *value, now));
            }
            alerts.retain(|_, (s, _)| *s != AlertState::Inactive);
        }
        resolved
    }
}

/// Steps one alert through the state machine, keeps what it became (inactive
/// alerts are dropped), and records the rows and history to write.
fn step_alert(
    alerts: &mut HashMap<Series, Entry>,
    series: Series,
    current: Option<Entry>,
    (holds, value, observed_at): (Option<bool>, Option<f64>, Option<u64>),
    (rule, rule_key, now): (&Rule, &str, u64),
    writes: &mut Writes,
) {
    let current = current.unwrap_or((AlertState::Inactive, None));
    let (next, transition) = current.0.step_observed(
        holds,
        now,
        observed_at.unwrap_or(now),
        rule.for_.0,
        rule.keep_firing_for.0,
    );
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
        writes
            .changes
            .push(change(rule_key, &series, t, value, now));
    }
    if persist {
        writes
            .rows
            .push(row(rule_key, &series, &next, kept_value, now));
    }
    if next == AlertState::Inactive {
        alerts.remove(&series);
    } else {
        alerts.insert(series, (next, kept_value));
    }
}

/// An alert's labels: the rule's, plus alertname, component, kind and
/// partition (when there is one).
pub fn labels_of(rule: &Rule, key: &Series) -> LabelSet {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.alert.clone());
    labels.insert("component".into(), key.component().to_string());
    labels.insert("kind".into(), rule.kind.as_str().to_string());
    if !key.partition().is_empty() {
        labels.insert("partition".into(), key.partition().to_string());
    }
    labels
}

/// The rule's annotations rendered for one alert.
pub fn annotations_of(rule: &Rule, labels: &LabelSet, value: Option<f64>) -> LabelSet {
    rule.annotations
        .iter()
        .map(|(k, t)| (k.clone(), render(t, labels, value)))
        .collect()
}

/// A firing or resolved alert as receivers see it; `None` otherwise.
pub fn instance(
    rule: &Rule,
    key: &Series,
    (state, value): &Entry,
    generator_url: &str,
) -> Option<AlertInstance> {
    let (firing, starts_at, ends_at) = match *state {
        AlertState::Firing { since, .. } => (true, since, None),
        AlertState::Resolved { since, at } => (false, since, Some(at)),
        _ => return None,
    };
    let labels = labels_of(rule, key);
    Some(AlertInstance {
        annotations: annotations_of(rule, &labels, *value),
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
