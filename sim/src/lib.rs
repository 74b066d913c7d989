//! weir's pipeline simulator: the telemetry of the event-driven and
//! serverless pipelines weir's users run (`clickstream`, `etl`, `api`,
//! `fanout`, `cdc`, `kafka`), with faults on demand, sent through the
//! OpenTelemetry SDK's OTLP exporters like any instrumented function.
//!
//! Scenarios ([`scenarios`]) decide what to emit — spans with parents and
//! links, log records with trace context and correlation ids, gauges — as
//! plain data ([`plan`]), and are unit-tested as such; [`emit`] hands that
//! to the SDK, and [`run`] paces it. This crate knows nothing of weir's
//! internals: it speaks OTLP only.

pub mod emit;
pub mod faults;
pub mod plan;
pub mod probe;
pub mod run;
pub mod scenarios;

pub use emit::{Protocol, Target};
pub use faults::{Fault, FaultKind, Schedule};
pub use probe::{ProbeError, probe};
pub use run::{SimConfig, Summary, run};
