//! The Alertmanager webhook body (version 4) and the fingerprint that
//! names an alert in it, so existing receivers work unchanged.

use serde::Serialize;
use std::collections::BTreeMap;

/// Labels or annotations.
pub type LabelSet = BTreeMap<String, String>;

/// One alert in a notification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Its labels.
    pub labels: LabelSet,
    /// Its rendered annotations.
    pub annotations: LabelSet,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; Alertmanager's zero time while firing.
    pub ends_at: String,
    /// Where to see it.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// 16 hex characters identifying the label set.
    pub fingerprint: String,
}

/// A whole notification, as Alertmanager sends it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// Always "4".
    pub version: &'static str,
    /// Identifies the group.
    pub group_key: String,
    /// Alerts left out (never, here).
    pub truncated_alerts: u64,
    /// `firing` if any alert fires, else `resolved`.
    pub status: String,
    /// The receiver's name.
    pub receiver: String,
    /// The labels the group is keyed by.
    pub group_labels: LabelSet,
    /// Labels every alert shares.
    pub common_labels: LabelSet,
    /// Annotations every alert shares.
    pub common_annotations: LabelSet,
    /// `alerts.external_url`.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<WebhookAlert>,
    /// Why this was sent: `firing`, `resolved` or `repeat`.
    #[serde(rename = "notification_reason")]
    pub notification_reason: String,
}

/// Alertmanager's "no end yet".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// RFC 3339 of Unix nanoseconds.
pub fn rfc3339(unix_nanos: u64) -> String {
    humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos),
    )
    .to_string()
}

/// A stable 16-hex-character fingerprint of a label set (FNV-1a 64).
pub fn fingerprint(labels: &LabelSet) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Labels shared by every alert.
pub fn common(sets: &[&LabelSet]) -> LabelSet {
    let Some(first) = sets.first() else {
        return LabelSet::new();
    };
    first
        .iter()
        .filter(|(k, v)| sets.iter().all(|s| s.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> LabelSet {
        [
            ("alertname", "ConsumerLagging"),
            ("component", "page-view-counter"),
            ("kind", "lag"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn fingerprints_are_sixteen_hex_and_stable() {
        let f = fingerprint(&labels());
        assert_eq!(f.len(), 16);
        assert!(f.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(f, fingerprint(&labels()));
        let mut other = labels();
        other.insert("severity".into(), "page".into());
        assert_ne!(f, fingerprint(&other));
    }

    #[test]
    fn the_body_has_alertmanagers_field_names() {
        let l = labels();
        let body = WebhookBody {
            version: "4",
            group_key: "{}:{alertname=\"ConsumerLagging\"}".into(),
            truncated_alerts: 0,
            status: "firing".into(),
            receiver: "ops".into(),
            group_labels: l.clone(),
            common_labels: common(&[&l]),
            common_annotations: LabelSet::new(),
            external_url: "http://weir:8080".into(),
            alerts: vec![WebhookAlert {
                status: "firing".into(),
                labels: l.clone(),
                annotations: LabelSet::new(),
                starts_at: rfc3339(1_544_712_660_000_000_000),
                ends_at: ZERO_TIME.into(),
                generator_url: "http://weir:8080/alerts".into(),
                fingerprint: fingerprint(&l),
            }],
            notification_reason: "firing".into(),
        };
        let v = serde_json::to_value(&body).unwrap();
        for key in [
            "version",
            "groupKey",
            "truncatedAlerts",
            "status",
            "receiver",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "alerts",
            "notification_reason",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        for key in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert!(v["alerts"][0].get(key).is_some(), "{key}");
        }
        assert_eq!(v["alerts"][0]["startsAt"], "2018-12-13T14:51:00.000Z");
    }
}
