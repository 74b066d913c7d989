//! Alerting for weir: rule files, the evaluator, the alert state machine,
//! silences, and webhook delivery through a durable outbox.
//!
//! Rules read pipeline health through the store (rollups and metric points);
//! alert state and the notification outbox live in the database so a restart
//! neither loses a firing alert nor notifies it twice. This crate does not
//! ingest, index or render anything.
//!
//! Built so far: the `[alerts]` configuration section; rule files
//! ([`rules`]: parsing and checking with line-numbered errors, behind
//! `weir rules check`); the pure evaluation of health rules over rollups
//! ([`evaluate`]); the alert state machine ([`state`]); the evaluation loop
//! with states persisted in the database ([`engine`]); and `/api/v1/rules`,
//! `/api/v1/alerts` ([`api`]). Silences and webhook delivery through the
//! outbox follow.

pub mod api;
pub mod engine;
pub mod evaluate;
pub mod rules;
pub mod state;
pub mod webhook;

use serde::Deserialize;

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
    /// Whether resolved alerts are sent.
    pub send_resolved: bool,
    /// How often a still-firing alert is sent again.
    pub repeat_interval: String,
    /// When set, bodies are signed with HMAC-SHA256.
    pub hmac_secret: String,
    /// Request timeout.
    pub timeout: String,
}

/// One `[[alerts.routes]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Receiver name.
    pub receiver: String,
    /// Label matchers.
    pub matchers: std::collections::BTreeMap<String, String>,
    /// Grouping labels.
    pub group_by: Vec<String>,
    /// Wait before the first notification of a group.
    pub group_wait: String,
    /// Wait between notifications of a changing group.
    pub group_interval: String,
}
