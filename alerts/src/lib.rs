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
mod config;
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
pub use config::{AlertsConfig, ReceiverConfig, RouteConfig};
