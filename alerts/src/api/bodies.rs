//! The JSON shapes of the alerting API, one struct per shape.
//!
//! Fields are declared in alphabetical order: these bodies were serde_json
//! maps (whose keys sort) before they were structs, and the same order keeps
//! every response byte for byte as it was.

use crate::engine::{ActiveAlert, ReloadStatus};
use crate::outbox::ReceiverStats;
use crate::routing::Receiver;
use crate::silence::{Matcher, Silence, SilenceState};
use crate::state::AlertState;
use crate::webhook::{LabelSet, rfc3339};
use serde::Serialize;
use weir_store::db::{AlertChange, OutboxRow};

/// `{"error": "..."}`, with any 4xx or 5xx.
#[derive(Serialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `GET /api/v1/rules`.
#[derive(Serialize)]
pub struct RulesBody {
    pub groups: Vec<GroupBody>,
    pub last_reload: ReloadStatus,
}

/// One group of `GET /api/v1/rules`.
#[derive(Serialize)]
pub struct GroupBody {
    pub evaluation_ms: f64,
    pub interval_s: f64,
    pub last_error: Option<String>,
    pub last_evaluation_unix_nano: u64,
    pub name: String,
    pub rules: Vec<RuleBody>,
}

/// One rule of a group.
#[derive(Serialize)]
pub struct RuleBody {
    /// What the rule says: its settings and, in words, `text`.
    pub definition: crate::rules::Definition,
    pub evaluation_ms: f64,
    pub firing: usize,
    pub kind: &'static str,
    pub last_error: Option<String>,
    pub last_evaluation_unix_nano: u64,
    pub name: String,
    pub pending: usize,
    /// `firing`, `pending` or `inactive`.
    pub state: &'static str,
}

/// `POST /api/v1/rules/reload` that worked.
#[derive(Serialize)]
pub struct ReloadedBody {
    pub rules: usize,
    pub status: &'static str,
}

/// `GET /api/v1/alerts`.
#[derive(Serialize)]
pub struct AlertsBody {
    pub alerts: Vec<AlertBody>,
    pub receivers: Vec<ReceiverBody>,
}

/// One active alert, its state's fields inline.
#[derive(Serialize)]
pub struct AlertBody {
    pub alertname: String,
    pub annotations: LabelSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    pub component: String,
    pub labels: LabelSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_held: Option<u64>,
    pub partition: Option<String>,
    pub rule: String,
    pub silenced: bool,
    pub silenced_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub state: &'static str,
    pub value: Option<f64>,
}

impl From<ActiveAlert> for AlertBody {
    fn from(a: ActiveAlert) -> Self {
        let (state, since, last_held, at) = match a.state {
            AlertState::Inactive => ("inactive", None, None, None),
            AlertState::Pending { since } => ("pending", Some(since), None, None),
            AlertState::Firing { since, last_held } => {
                ("firing", Some(since), Some(last_held), None)
            }
            AlertState::Resolved { since, at } => ("resolved", Some(since), None, Some(at)),
        };
        AlertBody {
            alertname: a.alertname,
            annotations: a.annotations,
            at,
            component: a.component,
            labels: a.labels,
            last_held,
            partition: a.partition,
            rule: a.rule,
            silenced: a.silenced,
            silenced_by: a.silenced_by,
            since,
            state,
            value: a.value,
        }
    }
}

/// One receiver's delivery record.
#[derive(Serialize)]
pub struct ReceiverBody {
    pub delivered: u64,
    pub failed_attempts: u64,
    pub gave_up: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub name: String,
    pub url: String,
}

impl ReceiverBody {
    /// `r` with its record.
    pub fn new(r: &Receiver, s: ReceiverStats) -> Self {
        ReceiverBody {
            delivered: s.delivered,
            failed_attempts: s.failed_attempts,
            gave_up: s.gave_up,
            last_error: s.last_error,
            last_error_at: s.last_error_at.map(rfc3339),
            name: r.name.clone(),
            url: r.url.clone(),
        }
    }
}

/// `GET /api/v1/alerts/history`.
#[derive(Serialize)]
pub struct HistoryBody {
    pub history: Vec<HistoryEntry>,
}

/// One transition.
#[derive(Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub at_unix_nano: u64,
    pub component: String,
    pub partition: Option<String>,
    pub rule: String,
    pub transition: String,
    pub value: Option<f64>,
}

impl From<AlertChange> for HistoryEntry {
    fn from(c: AlertChange) -> Self {
        HistoryEntry {
            at: rfc3339(c.at),
            at_unix_nano: c.at,
            component: c.component,
            partition: Some(c.partition).filter(|p| !p.is_empty()),
            rule: c.rule,
            transition: c.transition,
            value: c.value,
        }
    }
}

/// `GET /api/v1/notifications`.
#[derive(Serialize)]
pub struct NotificationsBody {
    pub notifications: Vec<NotificationEntry>,
}

/// One outbox row.
#[derive(Serialize)]
pub struct NotificationEntry {
    pub attempts: u32,
    /// The webhook body as sent; `null` if it does not parse.
    pub body: serde_json::Value,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub group_key: String,
    pub id: i64,
    pub last_error: Option<String>,
    /// Only while pending.
    pub next_attempt_at: Option<String>,
    pub receiver: String,
    pub state: String,
}

impl From<OutboxRow> for NotificationEntry {
    fn from(n: OutboxRow) -> Self {
        NotificationEntry {
            attempts: n.attempts,
            body: serde_json::from_str(&n.body).unwrap_or(serde_json::Value::Null),
            created_at: rfc3339(n.created_at),
            finished_at: n.finished_at.map(rfc3339),
            group_key: n.group_key,
            id: n.id,
            last_error: n.last_error,
            next_attempt_at: (n.state == "pending").then(|| rfc3339(n.next_attempt_at)),
            receiver: n.receiver,
            state: n.state,
        }
    }
}

/// `GET /api/v1/silences`.
#[derive(Serialize)]
pub struct SilencesBody {
    pub silences: Vec<SilenceBody>,
}

/// `POST /api/v1/silences` that worked.
#[derive(Serialize)]
pub struct CreatedBody {
    pub silence: SilenceBody,
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}

/// `DELETE /api/v1/silences/{id}` that worked.
#[derive(Serialize)]
pub struct ExpiredBody {
    pub silence: SilenceBody,
}

/// A silence in Alertmanager's shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceBody {
    pub comment: String,
    pub created_by: String,
    pub ends_at: String,
    pub id: String,
    pub matchers: Vec<MatcherBody>,
    pub starts_at: String,
    pub status: SilenceStatus,
    pub updated_at: String,
}

impl SilenceBody {
    /// `s` as it stands at `now`.
    pub fn new(s: &Silence, now: u64) -> Self {
        SilenceBody {
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            ends_at: rfc3339(s.ends_at),
            id: s.id.clone(),
            matchers: s.matchers.iter().map(MatcherBody::from).collect(),
            starts_at: rfc3339(s.starts_at),
            status: SilenceStatus {
                state: s.state(now),
            },
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// `{"state": "active"}`.
#[derive(Serialize)]
pub struct SilenceStatus {
    pub state: SilenceState,
}

/// One matcher of a silence.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatcherBody {
    pub is_equal: bool,
    pub is_regex: bool,
    pub name: String,
    pub value: String,
}

impl From<&Matcher> for MatcherBody {
    fn from(m: &Matcher) -> Self {
        MatcherBody {
            is_equal: m.is_equal,
            is_regex: m.is_regex,
            name: m.name.clone(),
            value: m.value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each shape against the `json!` value the API built before these
    //! structs (kept here as the oracle), compared as text: same keys, same
    //! order, same values.
    use super::*;
    use serde_json::json;

    fn labels() -> LabelSet {
        [("alertname", "Lag"), ("component", "c")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn same(built: impl Serialize, before: serde_json::Value) {
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            serde_json::to_string(&before).unwrap()
        );
    }

    #[test]
    fn an_active_alert_reads_as_before() {
        for state in [
            AlertState::Pending { since: 5 },
            AlertState::Firing {
                since: 5,
                last_held: 9,
            },
        ] {
            let alert = ActiveAlert {
                rule: "g/Lag".into(),
                alertname: "Lag".into(),
                component: "c".into(),
                partition: None,
                state,
                value: Some(1500.0),
                labels: labels(),
                annotations: LabelSet::new(),
                silenced: true,
                silenced_by: vec!["s1".into()],
                threshold: None,
            };
            let before = json!({ "alerts": [alert.clone()] });
            same(
                AlertsBody {
                    alerts: vec![alert.into()],
                    receivers: Vec::new(),
                },
                json!({ "alerts": before["alerts"], "receivers": [] }),
            );
        }
    }

    #[test]
    fn a_silence_reads_as_before() {
        let s = Silence::new(
            "s1".into(),
            vec![Matcher {
                name: "component".into(),
                value: "c.*".into(),
                is_regex: true,
                is_equal: true,
            }],
            1_000_000_000,
            2_000_000_000,
            "me".into(),
            "deploy".into(),
            1_000_000_000,
        )
        .unwrap();
        let before = json!({
            "id": s.id,
            "matchers": s.matchers,
            "startsAt": rfc3339(s.starts_at),
            "endsAt": rfc3339(s.ends_at),
            "createdBy": s.created_by,
            "comment": s.comment,
            "updatedAt": rfc3339(s.updated_at),
            "status": { "state": s.state(1_500_000_000) },
        });
        same(
            CreatedBody {
                silence: SilenceBody::new(&s, 1_500_000_000),
                silence_id: s.id.clone(),
            },
            json!({ "silenceID": s.id, "silence": before }),
        );
    }

    #[test]
    fn a_notification_and_a_history_entry_read_as_before() {
        let n = OutboxRow {
            id: 7,
            receiver: "ops".into(),
            group_key: "{}/{route=0}:{}".into(),
            body: r#"{"version":"4","status":"firing"}"#.into(),
            created_at: 1_000_000_000,
            state: "pending".into(),
            attempts: 2,
            next_attempt_at: 3_000_000_000,
            last_error: Some("http://x answered 500".into()),
            finished_at: None,
        };
        let before = json!({
            "id": n.id,
            "receiver": n.receiver,
            "group_key": n.group_key,
            "state": n.state,
            "attempts": n.attempts,
            "created_at": rfc3339(n.created_at),
            "next_attempt_at": (n.state == "pending").then(|| rfc3339(n.next_attempt_at)),
            "finished_at": n.finished_at.map(rfc3339),
            "last_error": n.last_error,
            "body": serde_json::from_str::<serde_json::Value>(&n.body).unwrap(),
        });
        same(NotificationEntry::from(n), before);
        let c = AlertChange {
            rule: "g/Lag".into(),
            component: "c".into(),
            partition: String::new(),
            transition: "firing".into(),
            value: Some(0.25),
            at: 1_000_000_000,
        };
        let before = json!({
            "rule": c.rule,
            "component": c.component,
            "partition": Some(c.partition.clone()).filter(|p| !p.is_empty()),
            "transition": c.transition,
            "value": c.value,
            "at": rfc3339(c.at),
            "at_unix_nano": c.at,
        });
        same(HistoryEntry::from(c), before);
    }
}
