//! The `[cluster]` section of weir.toml: a node's place in a cluster and the
//! three engines it runs on. Absent, weir runs as one embedded node.

use crate::publish::StreamSettings;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's name, unique among live nodes.
    pub node_id: String,
    /// NATS servers with JetStream, any of them (the client finds the rest).
    pub nats_urls: Vec<String>,
    /// Partitions of the event log: fixed for the life of the cluster.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// `[cluster.stream]`.
    #[serde(default)]
    pub stream: StreamConfig,
    /// `[cluster.object_store]`.
    pub object_store: ObjectStoreConfig,
    /// Where downloaded splits are kept; empty: `<data_dir>/split-cache`.
    #[serde(default)]
    pub cache_dir: PathBuf,
    /// Bytes of splits the cache may hold before the least recently used go.
    #[serde(default = "default_cache_bytes")]
    pub cache_max_bytes: u64,
    /// How long a publish may wait for JetStream's acknowledgement.
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// How long a split merged away or expired stays in the object store
    /// after the catalog dropped it, for queries already reading it.
    #[serde(default = "default_delete_grace", with = "humantime_serde")]
    pub delete_grace: Duration,
    /// How old an object the catalog does not list must be before the
    /// sweep deletes it (`orphans.rs`): longer than any upload waits for
    /// its commit.
    #[serde(default = "default_orphan_age", with = "humantime_serde")]
    pub orphan_age: Duration,
    /// How far behind a partition's owner may read before every node
    /// refuses exports of that signal (429 / UNAVAILABLE with a retry
    /// delay): the bound on how long a record waits to be indexed. `0s`:
    /// never refuse (the stream's `max_bytes` still does).
    #[serde(default = "default_max_indexing_lag", with = "humantime_serde")]
    pub max_indexing_lag: Duration,
}

/// `[cluster.stream]`: the JetStream stream that holds the event log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Stream name; subjects are `<name>.<signal>.<partition>`.
    pub name: String,
    /// Copies of each message: 1, 3 or 5, at most the NATS cluster's size.
    pub replicas: usize,
    /// How long a message is kept, indexed or not.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Bytes the stream may hold; at the limit exports are refused.
    pub max_bytes: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            name: "WEIR".into(),
            replicas: 3,
            max_age: Duration::from_secs(24 * 3600),
            max_bytes: 10 << 30,
        }
    }
}

/// `[cluster.object_store]`: where sealed splits live. Credentials come
/// from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, …).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// An S3-compatible endpoint (SeaweedFS, MinIO, …); empty: AWS.
    #[serde(default)]
    pub endpoint: String,
    /// The bucket's region.
    #[serde(default = "default_region")]
    pub region: String,
}

fn default_partitions() -> u32 {
    16
}
fn default_cache_bytes() -> u64 {
    10 << 30
}
fn default_ack_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_delete_grace() -> Duration {
    Duration::from_secs(60)
}
fn default_orphan_age() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_indexing_lag() -> Duration {
    Duration::from_secs(1)
}
fn default_region() -> String {
    "us-east-1".into()
}

/// A `[cluster]` section that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterConfigError {
    /// The metastore must be shared by every node.
    #[error(
        "cluster mode keeps its catalog, checkpoints and ownership in PostgreSQL: set database.url to postgres://… (it is {0})"
    )]
    NotPostgres(String),
    /// A key has a value that cannot be used.
    #[error("cluster.{key}: {problem}")]
    Invalid {
        /// The key, below `cluster.`.
        key: &'static str,
        /// What is wrong and what to write instead.
        problem: String,
    },
}

impl ClusterConfig {
    /// Checks the section against the database URL it will run with.
    pub fn validate(&self, database_url: &str) -> Result<(), ClusterConfigError> {
        let url = database_url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            let shown = if url.is_empty() {
                "empty, i.e. SQLite".to_string()
            } else {
                url.split(':').next().unwrap_or(url).to_string() + ":…"
            };
            return Err(ClusterConfigError::NotPostgres(shown));
        }
        let invalid = |key, problem: &str| {
            Err(ClusterConfigError::Invalid {
                key,
                problem: problem.into(),
            })
        };
        let id = self.node_id.trim();
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_graphic()) {
            return invalid(
                "node_id",
                "give each node a name of 1 to 64 printable characters without spaces",
            );
        }
        if self.nats_urls.is_empty() {
            return invalid(
                "nats_urls",
                "name at least one NATS server, e.g. [\"nats://127.0.0.1:4222\"]",
            );
        }
        if self.partitions == 0 || self.partitions > 1024 {
            return invalid(
                "partitions",
                "must be between 1 and 1024 (16 suits most clusters)",
            );
        }
        let name = &self.stream.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return invalid("stream.name", "use letters, digits, `_` and `-` only");
        }
        if ![1, 3, 5].contains(&self.stream.replicas) {
            return invalid("stream.replicas", "must be 1, 3 or 5");
        }
        if !self.object_store.url.starts_with("s3://") || self.object_store.url.len() <= 5 {
            return invalid(
                "object_store.url",
                "must be s3://bucket or s3://bucket/prefix",
            );
        }
        Ok(())
    }

    /// The stream as the publisher makes it.
    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            name: self.stream.name.clone(),
            replicas: self.stream.replicas,
            max_age: self.stream.max_age,
            max_bytes: i64::try_from(self.stream.max_bytes).unwrap_or(i64::MAX),
        }
    }

    /// The key this node's presence lock takes: its id, hashed. Two live
    /// nodes with the same id are refused at start.
    pub fn node_key(&self) -> i32 {
        xxhash_rust::xxh3::xxh3_64(self.node_id.trim().as_bytes()) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig {
            node_id: "a".into(),
            nats_urls: vec!["nats://127.0.0.1:4222".into()],
            partitions: 16,
            stream: StreamConfig::default(),
            object_store: ObjectStoreConfig {
                url: "s3://splits".into(),
                endpoint: String::new(),
                region: default_region(),
            },
            cache_dir: PathBuf::new(),
            cache_max_bytes: default_cache_bytes(),
            ack_timeout: default_ack_timeout(),
            delete_grace: default_delete_grace(),
            orphan_age: default_orphan_age(),
            max_indexing_lag: default_max_indexing_lag(),
        }
    }

    #[test]
    fn a_cluster_needs_postgresql() {
        let c = config();
        assert_eq!(
            c.validate(""),
            Err(ClusterConfigError::NotPostgres("empty, i.e. SQLite".into()))
        );
        assert!(matches!(
            c.validate("sqlite:///x.db"),
            Err(ClusterConfigError::NotPostgres(_))
        ));
        assert_eq!(c.validate("postgres://weir@db/weir"), Ok(()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let pg = "postgresql://db/weir";
        let key_of = |c: ClusterConfig| match c.validate(pg) {
            Err(ClusterConfigError::Invalid { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            key_of(ClusterConfig {
                node_id: " ".into(),
                ..config()
            }),
            "node_id"
        );
        assert_eq!(
            key_of(ClusterConfig {
                nats_urls: vec![],
                ..config()
            }),
            "nats_urls"
        );
        assert_eq!(
            key_of(ClusterConfig {
                partitions: 0,
                ..config()
            }),
            "partitions"
        );
        let mut c = config();
        c.stream.replicas = 2;
        assert_eq!(key_of(c), "stream.replicas");
        let mut c = config();
        c.stream.name = "a.b".into();
        assert_eq!(key_of(c), "stream.name");
        let mut c = config();
        c.object_store.url = "/tmp/splits".into();
        assert_eq!(key_of(c), "object_store.url");
    }

    #[test]
    fn node_keys_follow_the_id() {
        let a = config();
        let b = ClusterConfig {
            node_id: "b".into(),
            ..config()
        };
        assert_eq!(a.node_key(), config().node_key());
        assert_ne!(a.node_key(), b.node_key());
    }
}
