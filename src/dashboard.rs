//! The dashboard's view of alerting: the alert engine and notifier seen
//! through `weir_ui::AlertsView`, so the ui crate needs no alerts crate.

use std::sync::Arc;
use std::time::Duration;
use weir_alerts::Alerting;
use weir_alerts::silence::Matcher;
use weir_ui::alerts_view::{
    AlertRow, AlertsView, BoxFuture, HistoryRow, ReceiverRow, RuleRow, SilenceRow,
};

pub struct EngineView(pub Arc<Alerting>);

impl EngineView {
    /// The unit of each rule's values, by `group/alert`.
    fn units(&self) -> std::collections::HashMap<String, weir_core::human::Unit> {
        self.0
            .engine()
            .groups()
            .iter()
            .flat_map(|g| {
                g.rules
                    .iter()
                    .map(|r| (format!("{}/{}", g.name, r.alert), r.value_unit()))
            })
            .collect()
    }
}

impl weir_query::status::FiringAlerts for EngineView {
    fn firing(&self) -> Vec<weir_core::status::FiringAlert> {
        self.0
            .active()
            .iter()
            .filter_map(|a| a.as_firing())
            .collect()
    }
}

impl AlertsView for EngineView {
    fn firing(&self) -> Vec<weir_core::status::FiringAlert> {
        weir_query::status::FiringAlerts::firing(self)
    }

    fn rules(&self) -> Vec<RuleRow> {
        let engine = self.0.engine();
        let status = engine.status();
        let counts = engine.counts_by_rule();
        engine
            .groups()
            .iter()
            .flat_map(|g| {
                g.rules.iter().map(|r| {
                    let key = format!("{}/{}", g.name, r.alert);
                    let s = status.get(&key).cloned().unwrap_or_default();
                    let (firing, pending) = counts.get(&key).copied().unwrap_or_default();
                    RuleRow {
                        group: g.name.clone(),
                        name: r.alert.clone(),
                        kind: r.kind.as_str().to_string(),
                        state: if firing > 0 {
                            "firing"
                        } else if pending > 0 {
                            "pending"
                        } else {
                            "inactive"
                        }
                        .into(),
                        firing,
                        last_evaluation: s.last_evaluation,
                        evaluation_ms: s.duration_ms,
                        error: s.error,
                        definition: r.definition().text,
                    }
                })
            })
            .collect()
    }

    fn active(&self) -> Vec<AlertRow> {
        let units = self.units();
        self.0
            .active()
            .into_iter()
            .map(|a| {
                let (state, since) = match a.state {
                    weir_alerts::state::AlertState::Firing { since, .. } => ("firing", since),
                    weir_alerts::state::AlertState::Pending { since } => ("pending", since),
                    _ => ("inactive", 0),
                };
                AlertRow {
                    name: a.alertname,
                    component: a.component,
                    partition: a.partition,
                    state: state.into(),
                    since,
                    value: a.value,
                    unit: units.get(&a.rule).copied().unwrap_or_default(),
                    summary: a
                        .annotations
                        .get("summary")
                        .or_else(|| a.annotations.get("description"))
                        .cloned()
                        .unwrap_or_default(),
                    silenced: a.silenced,
                }
            })
            .collect()
    }

    fn silences(&self) -> Vec<SilenceRow> {
        let now = weir_core::now_unix_nanos();
        self.0
            .silences()
            .list()
            .into_iter()
            .map(|s| SilenceRow {
                matchers: s
                    .matchers
                    .iter()
                    .map(|m| {
                        let op = match (m.is_equal, m.is_regex) {
                            (true, false) => "=",
                            (false, false) => "!=",
                            (true, true) => "=~",
                            (false, true) => "!~",
                        };
                        format!("{}{op}{}", m.name, m.value)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                state: format!("{:?}", s.state(now)).to_lowercase(),
                id: s.id,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                created_by: s.created_by,
                comment: s.comment,
            })
            .collect()
    }

    fn receivers(&self) -> Vec<ReceiverRow> {
        let stats = self.0.outbox().stats();
        self.0
            .routing()
            .receivers
            .iter()
            .map(|r| {
                let s = stats.get(&r.name).cloned().unwrap_or_default();
                ReceiverRow {
                    name: r.name.clone(),
                    delivered: s.delivered,
                    failed_attempts: s.failed_attempts,
                    gave_up: s.gave_up,
                    last_error: s.last_error,
                }
            })
            .collect()
    }

    fn history(&self, limit: usize) -> BoxFuture<'_, Vec<HistoryRow>> {
        Box::pin(async move {
            let units = self.units();
            self.0
                .db()
                .alert_history(limit)
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|c| HistoryRow {
                    unit: units.get(&c.rule).copied().unwrap_or_default(),
                    rule: c.rule,
                    component: if c.partition.is_empty() {
                        c.component
                    } else {
                        format!("{} ({})", c.component, c.partition)
                    },
                    transition: c.transition,
                    at: c.at,
                    value: c.value,
                })
                .collect()
        })
    }

    fn create_silence(
        &self,
        matchers: Vec<(String, String)>,
        duration: Duration,
        created_by: String,
        comment: String,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let now = weir_core::now_unix_nanos();
            let matchers = matchers
                .into_iter()
                .map(|(name, value)| Matcher {
                    name,
                    value,
                    is_regex: false,
                    is_equal: true,
                })
                .collect();
            self.0
                .silences()
                .put(
                    None,
                    matchers,
                    now,
                    now.saturating_add(duration.as_nanos() as u64),
                    created_by,
                    comment,
                )
                .await
                .map(|s| s.id)
                .map_err(|e| e.to_string())
        })
    }

    fn expire_silence(&self, id: String) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0
                .silences()
                .expire(&id)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
