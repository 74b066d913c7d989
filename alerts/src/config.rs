//! The `[alerts]` section of weir.toml: rule files, receivers and routes,
//! with durations parsed as the file is read.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The `[alerts]` section of weir.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Paths or globs of rule files.
    pub rule_files: Vec<String>,
    /// Base URL used for generatorURL and externalURL in webhooks.
    pub external_url: String,
    /// Webhook receivers.
    pub receivers: Vec<ReceiverConfig>,
    /// Routes, first match wins.
    pub routes: Vec<RouteConfig>,
}

/// One `[[alerts.receivers]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Name routes refer to.
    pub name: String,
    /// Webhook URL.
    pub url: String,
    /// Whether resolved alerts are sent (default true).
    pub send_resolved: Option<bool>,
    /// How often a still-firing alert is sent again. Unset (or empty): the default.
    #[serde(deserialize_with = "duration")]
    pub repeat_interval: Option<Duration>,
    /// When set, bodies are signed with HMAC-SHA256.
    pub hmac_secret: String,
    /// Request timeout. Unset (or empty): the default.
    #[serde(deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// How long a notification is retried before it is recorded as failed. Unset (or empty): the default.
    #[serde(deserialize_with = "duration")]
    pub max_age: Option<Duration>,
    /// PEM file of CA certificates to trust, besides the system's, for an
    /// https:// receiver behind a private CA.
    pub ca_file: String,
}

/// One `[[alerts.routes]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Receiver name.
    pub receiver: String,
    /// Label matchers.
    pub matchers: std::collections::BTreeMap<String, String>,
    /// Grouping labels; `["..."]` groups by every label.
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a group. Unset (or empty): the default.
    #[serde(deserialize_with = "duration")]
    pub group_wait: Option<Duration>,
    /// Wait between notifications of a changing group. Unset (or empty): the default.
    #[serde(deserialize_with = "duration")]
    pub group_interval: Option<Duration>,
}

/// A duration key: `"30s"`, `"5m"`, `"1h30m"`; empty means the default.
// Not humantime-serde: it parses the same syntax but refuses the
// surrounding spaces and the empty string (the default) that weir.toml has
// always accepted here; weir_core::parse_duration is the parser every other
// weir.toml duration goes through.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    weir_core::parse_duration(&text).map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration; write it like \"30s\", \"5m\" or \"4h\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiver(json: &str) -> Result<ReceiverConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_parse_as_they_are_read_and_empty_means_the_default() {
        let r = receiver(r#"{"repeat_interval": " 1h30m ", "timeout": ""}"#).unwrap();
        assert_eq!(r.repeat_interval, Some(Duration::from_secs(5400)));
        assert_eq!(r.timeout, None);
        assert_eq!(r.max_age, None);
        let err = receiver(r#"{"max_age": "often"}"#).unwrap_err();
        assert!(err.contains("\"often\" is not a duration"), "{err}");
    }
}
