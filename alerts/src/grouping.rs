//! The Alertmanager grouping planner: which (receiver, group) is told what,
//! and when.
//! Pure: the caller passes the alerts, silences, what each group was last
//! told, and `now`. The rules follow Alertmanager's: a new group waits
//! `group_wait`, later changes wait `group_interval`, an unchanged firing
//! group is told again after `repeat_interval`, and resolutions are told when
//! the receiver wants them.

use crate::routing::{Routing, group_key};
use crate::silence::Silence;
use crate::webhook::{
    LabelSet, WebhookAlert, WebhookBody, ZERO_TIME, common, fingerprint, rfc3339,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One alert as receivers see it: firing, or resolved after firing.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstance {
    /// alertname, component, kind, partition (if any) and the rule's labels.
    pub labels: LabelSet,
    /// The rule's annotations, rendered.
    pub annotations: LabelSet,
    /// Firing (true) or resolved (false).
    pub firing: bool,
    /// When it started firing, Unix nanoseconds.
    pub starts_at: u64,
    /// When it resolved, Unix nanoseconds.
    pub ends_at: Option<u64>,
    /// Where to look at it.
    pub generator_url: String,
}

impl AlertInstance {
    /// The 16-hex fingerprint of its labels.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }
}

/// What one (receiver, group) was last told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupLog {
    /// Fingerprints told as firing.
    pub firing: BTreeSet<String>,
    /// Fingerprints told as resolved.
    pub resolved: BTreeSet<String>,
    /// When, Unix nanoseconds.
    pub sent_at: u64,
}

/// A decided notification.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Receiver name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// What the group will have been told.
    pub log: GroupLog,
    /// The body to send; `None` when nothing is left to send (resolutions
    /// to a receiver that does not want them).
    pub body: Option<WebhookBody>,
}

/// (receiver, group key).
pub type GroupId = (String, String);

/// What [`plan`] decided.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The notifications due now.
    pub notifications: Vec<Planned>,
    /// The earliest time a group timer (group_wait, group_interval,
    /// repeat_interval) falls due, if nothing else changes before it.
    pub next_due: Option<u64>,
}

struct Group<'a> {
    route: &'a crate::routing::Route,
    labels: LabelSet,
    alerts: Vec<(&'a AlertInstance, String)>,
}

/// Decides every notification due at `now`.
pub fn plan(
    alerts: &[AlertInstance],
    silences: &[Silence],
    routing: &Routing,
    logs: &HashMap<GroupId, GroupLog>,
    external_url: &str,
    now: u64,
) -> Plan {
    let mut groups: BTreeMap<GroupId, Group<'_>> = BTreeMap::new();
    let mut next_due: Option<u64> = None;
    let mut due_at = |t: u64| next_due = Some(next_due.map_or(t, |n| n.min(t)));
    for alert in alerts {
        if silences.iter().any(|s| s.mutes(&alert.labels, now)) {
            continue;
        }
        let Some(route) = routing.route(&alert.labels) else {
            continue;
        };
        let index = routing
            .routes
            .iter()
            .position(|r| std::ptr::eq(r, route))
            .unwrap_or(0);
        let labels = route.group_labels(&alert.labels);
        let id = (
            routing.receivers[route.receiver].name.clone(),
            group_key(index, &labels),
        );
        groups
            .entry(id)
            .or_insert_with(|| Group {
                route,
                labels,
                alerts: Vec::new(),
            })
            .alerts
            .push((alert, alert.fingerprint()));
    }

    let mut planned = Vec::new();
    for ((receiver_name, key), group) in groups {
        let receiver = &routing.receivers[group.route.receiver];
        let last = logs
            .get(&(receiver_name.clone(), key.clone()))
            .filter(|l| !l.firing.is_empty());
        let firing: Vec<&(&AlertInstance, String)> =
            group.alerts.iter().filter(|(a, _)| a.firing).collect();
        let resolved: Vec<&(&AlertInstance, String)> = group
            .alerts
            .iter()
            .filter(|(a, fp)| !a.firing && last.is_some_and(|l| l.firing.contains(fp)))
            .collect();
        let opens_at = match last {
            None => match firing.iter().map(|(a, _)| a.starts_at).min() {
                Some(first) => first.saturating_add(nanos(group.route.group_wait)),
                None => continue,
            },
            Some(l) => l.sent_at.saturating_add(nanos(group.route.group_interval)),
        };
        if now < opens_at {
            due_at(opens_at);
            continue;
        }
        let firing_set: BTreeSet<String> = firing.iter().map(|(_, fp)| fp.clone()).collect();
        let resolved_set: BTreeSet<String> = resolved.iter().map(|(_, fp)| fp.clone()).collect();
        let repeat = nanos(receiver.repeat_interval);
        let Some(reason) = needs_update(
            last,
            &firing_set,
            &resolved_set,
            receiver.send_resolved,
            repeat,
            now,
        ) else {
            if let Some(l) = last {
                due_at(l.sent_at.saturating_add(repeat).max(opens_at));
            }
            continue;
        };
        if !firing_set.is_empty() {
            due_at(now.saturating_add(repeat));
        }
        let mut told: Vec<&AlertInstance> = firing.iter().map(|(a, _)| *a).collect();
        if receiver.send_resolved {
            told.extend(resolved.iter().map(|(a, _)| *a));
        }
        told.sort_by(|a, b| a.labels.cmp(&b.labels));
        let body = (!told.is_empty()).then(|| {
            body(
                &receiver_name,
                &key,
                &group.labels,
                &told,
                external_url,
                reason,
            )
        });
        planned.push(Planned {
            receiver: receiver_name,
            group_key: key,
            log: GroupLog {
                firing: firing_set,
                resolved: if receiver.send_resolved {
                    resolved_set
                } else {
                    BTreeSet::new()
                },
                sent_at: now,
            },
            body,
        });
    }
    Plan {
        notifications: planned,
        next_due,
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// Whether a group must be told again, and why (Alertmanager's dedup).
fn needs_update(
    last: Option<&GroupLog>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_interval: u64,
    now: u64,
) -> Option<&'static str> {
    let Some(last) = last else {
        return (!firing.is_empty()).then_some("firing");
    };
    if !firing.is_subset(&last.firing) {
        return Some("firing");
    }
    if firing.is_empty() {
        // Everything told as firing has resolved.
        return Some("resolved");
    }
    if send_resolved && !resolved.is_subset(&last.resolved) {
        return Some("resolved");
    }
    (now >= last.sent_at.saturating_add(repeat_interval)).then_some("repeat")
}

fn body(
    receiver: &str,
    group_key: &str,
    group_labels: &LabelSet,
    alerts: &[&AlertInstance],
    external_url: &str,
    reason: &str,
) -> WebhookBody {
    let labels: Vec<&LabelSet> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&LabelSet> = alerts.iter().map(|a| &a.annotations).collect();
    WebhookBody {
        version: "4",
        group_key: group_key.to_string(),
        truncated_alerts: 0,
        status: if alerts.iter().any(|a| a.firing) {
            "firing"
        } else {
            "resolved"
        }
        .into(),
        receiver: receiver.to_string(),
        group_labels: group_labels.clone(),
        common_labels: common(&labels),
        common_annotations: common(&annotations),
        external_url: external_url.to_string(),
        alerts: alerts
            .iter()
            .map(|a| WebhookAlert {
                status: if a.firing { "firing" } else { "resolved" }.into(),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: rfc3339(a.starts_at),
                ends_at: a.ends_at.map_or_else(|| ZERO_TIME.to_string(), rfc3339),
                generator_url: a.generator_url.clone(),
                fingerprint: a.fingerprint(),
            })
            .collect(),
        notification_reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silence::Matcher;
    use crate::{AlertsConfig, ReceiverConfig, RouteConfig};

    const S: u64 = 1_000_000_000;

    fn routing(send_resolved: bool, group_wait: &str) -> Routing {
        Routing::from_config(&AlertsConfig {
            receivers: vec![ReceiverConfig {
                name: "ops".into(),
                url: "http://127.0.0.1:1/hook".into(),
                send_resolved: Some(send_resolved),
                repeat_interval: weir_core::parse_duration("1h").ok(),
                ..Default::default()
            }],
            routes: vec![RouteConfig {
                receiver: "ops".into(),
                group_by: Some(vec!["alertname".into()]),
                group_wait: weir_core::parse_duration(group_wait).ok(),
                group_interval: weir_core::parse_duration("30s").ok(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap()
    }

    fn alert(component: &str, firing: bool, starts_at: u64) -> AlertInstance {
        AlertInstance {
            labels: [
                ("alertname", "Lagging"),
                ("component", component),
                ("kind", "lag"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            annotations: LabelSet::new(),
            firing,
            starts_at,
            ends_at: (!firing).then_some(starts_at + 100 * S),
            generator_url: "http://weir/alerts".into(),
        }
    }

    /// Runs `plan` and applies what it decided to `logs`, as the notifier does.
    fn step(
        alerts: &[AlertInstance],
        silences: &[Silence],
        routing: &Routing,
        logs: &mut HashMap<GroupId, GroupLog>,
        now: u64,
    ) -> Vec<WebhookBody> {
        let planned = plan(alerts, silences, routing, logs, "http://weir", now);
        let mut bodies = Vec::new();
        for p in planned.notifications {
            logs.insert((p.receiver, p.group_key), p.log);
            bodies.extend(p.body);
        }
        bodies
    }

    #[test]
    fn group_wait_then_once_then_group_interval_then_repeat() {
        let r = routing(true, "10s");
        let mut logs = HashMap::new();
        let a = [alert("consumer-a", true, 0)];
        assert!(
            step(&a, &[], &r, &mut logs, 5 * S).is_empty(),
            "group_wait holds"
        );
        assert_eq!(plan(&a, &[], &r, &logs, "", 5 * S).next_due, Some(10 * S));
        let sent = step(&a, &[], &r, &mut logs, 10 * S);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].notification_reason, "firing");
        assert_eq!(sent[0].group_labels.get("alertname").unwrap(), "Lagging");
        assert!(step(&a, &[], &r, &mut logs, 11 * S).is_empty(), "told once");
        assert!(
            step(&a, &[], &r, &mut logs, 1000 * S).is_empty(),
            "nothing changed"
        );

        // A second alert joins the group: it waits for group_interval from
        // the last notification, and the body carries both.
        let ab = [
            alert("consumer-a", true, 0),
            alert("consumer-b", true, 1005 * S),
        ];
        logs.values_mut().for_each(|l| l.sent_at = 1000 * S);
        assert!(step(&ab, &[], &r, &mut logs, 1010 * S).is_empty());
        let sent = step(&ab, &[], &r, &mut logs, 1030 * S);
        assert_eq!(sent[0].alerts.len(), 2);

        let sent = step(&ab, &[], &r, &mut logs, (1030 + 3600) * S);
        assert_eq!(sent[0].notification_reason, "repeat");
    }

    #[test]
    fn resolutions_are_told_once_and_only_when_wanted() {
        for send_resolved in [true, false] {
            let r = routing(send_resolved, "0s");
            let mut logs = HashMap::new();
            step(&[alert("c", true, 0)], &[], &r, &mut logs, 0);
            let resolved = [alert("c", false, 0)];
            let sent = step(&resolved, &[], &r, &mut logs, 60 * S);
            if send_resolved {
                assert_eq!(sent.len(), 1);
                assert_eq!(sent[0].status, "resolved");
                assert_ne!(sent[0].alerts[0].ends_at, ZERO_TIME);
            } else {
                assert!(sent.is_empty());
            }
            assert!(step(&resolved, &[], &r, &mut logs, 600 * S).is_empty());
            assert!(logs.values().all(|l| l.firing.is_empty()));
        }
    }

    #[test]
    fn an_alert_that_resolves_before_it_was_told_is_never_told() {
        let r = routing(true, "30s");
        let mut logs = HashMap::new();
        assert!(step(&[alert("c", true, 0)], &[], &r, &mut logs, 10 * S).is_empty());
        assert!(step(&[alert("c", false, 0)], &[], &r, &mut logs, 40 * S).is_empty());
    }

    #[test]
    fn a_silence_mutes_and_its_end_lets_the_alert_through() {
        let r = routing(true, "0s");
        let mut logs = HashMap::new();
        let silence = Silence::new(
            "s1".into(),
            vec![Matcher {
                name: "component".into(),
                value: "c".into(),
                is_regex: false,
                is_equal: true,
            }],
            0,
            100 * S,
            "me".into(),
            "deploying".into(),
            0,
        )
        .unwrap();
        let a = [alert("c", true, 0)];
        assert!(step(&a, std::slice::from_ref(&silence), &r, &mut logs, 50 * S).is_empty());
        assert_eq!(step(&a, &[silence], &r, &mut logs, 100 * S).len(), 1);
    }

    #[test]
    fn a_restored_log_means_no_second_notification() {
        let r = routing(true, "0s");
        let mut logs = HashMap::new();
        let a = [alert("c", true, 0)];
        assert_eq!(step(&a, &[], &r, &mut logs, S).len(), 1);
        let stored: HashMap<GroupId, GroupLog> = logs
            .iter()
            .map(|(k, v)| {
                let text = serde_json::to_string(v).unwrap();
                (k.clone(), serde_json::from_str(&text).unwrap())
            })
            .collect();
        let again = plan(&a, &[], &r, &stored, "", 120 * S);
        assert!(again.notifications.is_empty());
        assert_eq!(
            again.next_due,
            Some(S + 3600 * S),
            "the repeat is the next timer"
        );
    }
}
