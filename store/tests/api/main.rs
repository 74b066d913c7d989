//! The store's crate tests, through its public API only: the database on
//! SQLite (a file in a temporary directory) and on PostgreSQL (a throwaway
//! server shared by this binary's tests, a database each), and the event
//! index in a temporary directory.
//!
//! Without PostgreSQL installed the PostgreSQL tests fail and say what to
//! install; they never skip.

#[macro_use]
mod common;

mod alerting;
mod checkpoints;
mod index;
mod metrics;
mod ownership;
mod rollups;
mod split_objects;
mod splits;
mod upgrade;
