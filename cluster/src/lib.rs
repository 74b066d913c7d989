//! Cluster mode, as docs/CLUSTER.md designs it: stateless weir nodes on NATS
//! JetStream, S3-compatible object storage and PostgreSQL.
//!
//! Built so far: [`publish`], the write path's durability point in cluster
//! mode — a validated export split by partition and published to JetStream,
//! acknowledged only when every part is. The indexing side, the split
//! catalog and the query path follow the design's order of work.

pub mod publish;
