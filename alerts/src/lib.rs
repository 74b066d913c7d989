//! Alerting for weir: rule files, their evaluation, the alert state
//! machine, silences, and webhook delivery through a durable outbox.
//!
//! Rules read pipeline health through the store (rollups and metric points);
//! alert state, the notification log, the outbox and silences live in the
//! database, so a restart neither loses a firing alert nor notifies it twice.
//! This crate does not ingest, index or render anything; the binary gets one
//! [`Alerting`] handle to run and an [`api`] router to merge.
//!
//! The path an alert takes: the loop (`engine::run`) evaluates each group
//! on its interval — [`engine::reads`] reads the windows from the store,
//! each rule kind ([`rules`], one module per kind) gives verdicts over them,
//! and [`engine::table`] steps the alerts through [`state`] — then writes the
//! changes and hands the firing and resolved alerts to the dispatcher
//! ([`dispatch`]), which plans what each receiver's group is told
//! ([`grouping`], muted by [`silence_service`]) and records it in the [`outbox`];
//! the outbox delivers it with retries through [`webhook_client`].
//!
//! Pure, unit-tested without sockets, files or clocks: [`rules`] (parsing,
//! checks and evaluation), [`glob`], [`state`], [`engine::table`],
//! [`grouping`], [`routing`], [`silence`], [`template`], [`webhook`] (the
//! body and its fingerprint) and [`unsaved`]. I/O: [`engine`] (its reads,
//! writes and loop), [`dispatch`] and [`outbox`] (database),
//! [`webhook_client`] (HTTP), [`silence_service`] (database) and [`api`]. Time comes
//! from a [`Clock`], the system's or, in tests, tokio's paused one.

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
pub mod silence_service;
pub mod state;
pub mod template;
pub mod unsaved;
pub mod webhook;
pub mod webhook_client;

pub use alerting::{Alerting, LoadError};
pub use clock::Clock;
pub use config::{AlertsConfig, ReceiverConfig, RouteConfig};
