//! End-to-end tests: the real `weir` binary over loopback, driven as users
//! drive it — OpenTelemetry SDK exporters, hand-written OTLP bodies, the JSON
//! API, kill -9 and restart, SQLite and PostgreSQL.

mod alerting;
mod bad_input;
mod browser;
mod charts;
mod cluster;
mod correlation;
mod dashboard;
mod durability;
mod harness;
mod hostile_input;
mod notifications;
mod otlp;
mod pipeline_health;
mod receiver;
mod retention;
mod rules_check;
mod sdk;
mod sdk_roundtrip;
mod security;
mod simulator;
mod spec_examples;
mod status;
mod storage_faults;
mod trace_view;
