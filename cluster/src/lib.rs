//! Cluster mode, as docs/CLUSTER.md designs it: stateless weir nodes on NATS
//! JetStream, S3-compatible object storage and PostgreSQL.
//!
//! The path of a record through a cluster:
//!
//! 1. [`publish`]: a validated export is split by partition and published to
//!    JetStream, acknowledged only when every part is (the ingest path's
//!    durability point, behind the collector's `ReplicatedLog` seam).
//! 2. [`node`]: each node holds a fair share of the partitions (PostgreSQL
//!    advisory locks) and runs an [`indexer`] per owned partition and
//!    signal, which builds splits ([`split_builder`]) with the embedded
//!    mode's documents, uploads them ([`objects`]) and records each with its
//!    partition's checkpoint and rollups in one transaction; the owner
//!    merges small splits ([`merger`]).
//! 3. [`split_cache`]: every node fetches the catalog's splits into a
//!    bounded local cache and attaches them to its index, so every read
//!    route answers the same on every node.
//!
//! [`backlog`] turns the owners' indexing lag into refused exports on every
//! node; [`config`] is the `[cluster]` section; [`telemetry`] the node's
//! counters.

pub mod backlog;
pub mod config;
pub mod indexer;
pub mod indexing;
pub mod merger;
pub mod node;
pub mod objects;
pub mod orphans;
pub mod publish;
pub mod split_builder;
pub mod split_cache;
pub mod telemetry;
