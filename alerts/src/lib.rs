//! Alerting for weir: rule files, the evaluator, the alert state machine,
//! silences, and webhook delivery through a durable outbox.
//!
//! Rules read pipeline health through the store (rollups and metric points);
//! alert state and the notification outbox live in the database so a restart
//! neither loses a firing alert nor notifies it twice. This crate does not
//! ingest, index or render anything.
//!
//! Pure parts: rule files ([`rules`], behind `weir rules check`), evaluation
//! ([`evaluate`]), the state machine ([`state`]), receivers and routes
//! ([`routing`]), silences ([`silence`]), deciding notifications
//! ([`notify`]) and the webhook body ([`webhook`]). I/O at the edges: the
//! evaluation loop ([`engine`]), recording and delivering notifications
//! ([`notifier`]), and the HTTP API ([`api`]).

mod alerting;
pub mod api;
pub mod clock;
pub mod dispatch;
pub mod engine;
pub mod glob;
pub mod grouping;
pub mod outbox;
pub mod routing;
pub mod rules;
pub mod silence;
pub mod silences;
pub mod state;
pub mod template;
pub mod unsaved;
pub mod webhook;
pub mod webhook_client;

pub use alerting::{Alerting, LoadError};
pub use clock::Clock;

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
    /// Whether resolved alerts are sent (default true).
    pub send_resolved: Option<bool>,
    /// How often a still-firing alert is sent again.
    pub repeat_interval: String,
    /// When set, bodies are signed with HMAC-SHA256.
    pub hmac_secret: String,
    /// Request timeout.
    pub timeout: String,
    /// How long a notification is retried before it is recorded as failed.
    pub max_age: String,
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
    /// Wait before the first notification of a group.
    pub group_wait: String,
    /// Wait between notifications of a changing group.
    pub group_interval: String,
}
