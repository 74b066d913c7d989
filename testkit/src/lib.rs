//! Test-only helpers shared by weir's crates: throwaway PostgreSQL servers
//! and the engines of cluster mode (NATS JetStream, SeaweedFS's S3 API).
//!
//! weir runs on SQLite by default and on PostgreSQL when configured, so its
//! tests run both; cluster mode runs on NATS JetStream and S3-compatible
//! object storage. Every engine here is the real server, started from its
//! binary on free loopback ports with its data in a temporary directory:
//!
//! - [`PgServer::shared`]: one PostgreSQL per test binary, started by the
//!   first test that asks, so a crate's tests pay for `initdb` once;
//!   [`Postgres::start`]: a server of one's own with one database (what the
//!   end-to-end tests use). With `WEIR_TEST_DATABASE_URL` set
//!   (`postgres://user@host:port/db`), databases are made on that server
//!   instead and nothing is started.
//! - [`NatsCluster::start`]: nats-server nodes with JetStream, routed into
//!   one cluster, each of which a test may kill and restart.
//! - [`SeaweedFs::start`]: a SeaweedFS server with its S3 API and a bucket.
//!
//! Every server stops when its handle is dropped or, when no destructor
//! runs, when the test process exits however it exits: a watchdog process
//! waits for the test process to close a pipe.
//!
//! Nothing here skips: without an engine a test fails and says what to
//! install (`scripts/test` installs them all). It is a dev-dependency only;
//! no shipped crate may depend on it.

mod engines;
mod nats;
mod postgres;
mod seaweedfs;

pub use nats::NatsCluster;
pub use postgres::{PgServer, Postgres};
pub use seaweedfs::SeaweedFs;

use std::net::{SocketAddr, TcpListener};

/// A free TCP port on loopback, for a server about to be started.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port is free")
}
