//! weir.toml, layered: defaults, then the file, then `WEIR_*` variables, then flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_alerts::AlertsConfig;
use weir_cluster::config::ClusterConfig;
use weir_store::config::DatabaseConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeirConfig {
    /// WAL, index and the SQLite file live here.
    pub data_dir: PathBuf,
    /// `[listen]`: the three listeners.
    pub listen: ListenConfig,
    /// `[database]`: SQLite in data_dir, or PostgreSQL.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[auth]`: ingest and read tokens.
    #[serde(default)]
    pub auth: AuthConfig,
    /// `[retention]`: how long each kind of data is kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[pipeline]`: what the pipeline semantics read.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// `[alerts]`: rule files, receivers and routes.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[ingest]`: tuning of the ingest path (weir's own keys).
    #[serde(default)]
    pub ingest: IngestTuning,
    /// `[cluster]`: present, this process is a node of a cluster.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
}

/// `[listen]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// OTLP/gRPC listener.
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP listener.
    pub otlp_http: SocketAddr,
    /// Dashboard, API and probes.
    pub web: SocketAddr,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When non-empty, OTLP needs one of these as a bearer token.
    pub ingest_tokens: Vec<String>,
    /// When non-empty, the API and dashboard need one of these.
    pub read_tokens: Vec<String>,
}

/// `[retention]`: how long each signal is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How long spans are kept.
    #[serde(with = "humantime_serde")]
    pub spans: Duration,
    /// How long log records are kept.
    #[serde(with = "humantime_serde")]
    pub logs: Duration,
    /// How long metric points are kept.
    #[serde(with = "humantime_serde")]
    pub metrics: Duration,
    /// How long health rollups are kept.
    #[serde(with = "humantime_serde")]
    pub rollups: Duration,
    /// How often retention runs (an extension of the contract's keys).
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            spans: DAY * 7,
            logs: DAY * 7,
            metrics: DAY * 30,
            rollups: DAY * 90,
            check_interval: Duration::from_secs(5 * 60),
        }
    }
}

impl RetentionConfig {
    /// The policy the store applies.
    pub fn policy(&self) -> weir_store::retention::RetentionPolicy {
        weir_store::retention::RetentionPolicy {
            spans: self.spans,
            logs: self.logs,
            metrics: self.metrics,
            rollups: self.rollups,
        }
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Metric names that are lag readings.
    pub lag_metrics: Vec<String>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            lag_metrics: [
                "pipeline.iterator_age",
                "aws.lambda.iterator_age",
                "IteratorAge",
                "GetRecords.IteratorAgeMilliseconds",
                "OffsetLag",
                "messaging.consumer.lag",
                "messaging.kafka.consumer.lag",
                "kafka.consumer_group.lag",
                "kafka.consumer_group.lag_sum",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// `[ingest]`: tuning beyond the contract's keys, for operators and tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestTuning {
    /// Largest request body, compressed or not.
    pub max_body_bytes: usize,
    /// Accepted bytes that may wait for storage before exports get 429/UNAVAILABLE.
    pub max_pending_bytes: u64,
    /// How often storage commits (how soon data is searchable).
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Indexing heap for spans, MiB.
    pub span_index_heap_mib: usize,
    /// Indexing heap for logs, MiB.
    pub log_index_heap_mib: usize,
    /// Build health rollups and topology at ingest (off only to measure their cost).
    pub rollups: bool,
    /// Free bytes kept on the data directory's filesystem; below it exports
    /// get 503 so that what weir holds can still be committed.
    pub min_free_bytes: u64,
    /// Deadline for a request's headers on the HTTP listeners.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest pause while a request body arrives on the HTTP listeners.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
}

impl Default for IngestTuning {
    fn default() -> Self {
        IngestTuning {
            max_body_bytes: 64 << 20,
            max_pending_bytes: 16 << 20,
            commit_interval: Duration::from_secs(1),
            span_index_heap_mib: 128,
            log_index_heap_mib: 64,
            rollups: true,
            min_free_bytes: 256 << 20,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Serialize)]
struct Defaults {
    data_dir: PathBuf,
    listen: ListenConfig,
}

impl Defaults {
    /// The design contract's defaults: `./weir-data`, loopback listeners.
    fn builtin() -> Self {
        Defaults {
            data_dir: "./weir-data".into(),
            listen: ListenConfig {
                otlp_grpc: "127.0.0.1:4317".parse().expect("valid default"),
                otlp_http: "127.0.0.1:4318".parse().expect("valid default"),
                web: "127.0.0.1:8080".parse().expect("valid default"),
            },
        }
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Sections whose keys environment variables reach with one underscore:
/// `WEIR_LISTEN_WEB` is `listen.web`, `WEIR_DATA_DIR` is `data_dir`.
const SECTIONS: [&str; 8] = [
    "listen",
    "database",
    "auth",
    "retention",
    "pipeline",
    "alerts",
    "ingest",
    "cluster",
];

fn env_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    for section in SECTIONS {
        if let Some(rest) = lower
            .strip_prefix(section)
            .and_then(|r| r.strip_prefix('_'))
        {
            return format!("{section}.{rest}");
        }
    }
    lower
}

/// Reads `text` as a weir.toml and checks it as `weir serve` does at start
/// (keys, types, durations), without the environment: what `weir-fuzzing`
/// feeds arbitrary bytes to.
pub fn check_toml(text: &str) -> Result<WeirConfig, String> {
    Figment::from(Serialized::defaults(Defaults::builtin()))
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| e.to_string())
}

/// A configuration error in one line per problem, in the words of the
/// file: the key as written (`listen.webb`, not figment's
/// `default.listen.webb`), where it came from, and what would be right.
pub fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" in {s}"))
                .unwrap_or_default();
            match &e.kind {
                figment::error::Kind::UnknownField(_, expected) => format!(
                    "unknown key {key}{source}; the keys there are {}",
                    expected.join(", ")
                ),
                figment::error::Kind::MissingField(field) => {
                    let at = if key.is_empty() {
                        String::new()
                    } else {
                        format!("{key}.")
                    };
                    format!("missing key {at}{field}{source}")
                }
                kind if key.is_empty() => format!("{kind}{source}"),
                kind => format!("{key}{source}: {kind}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads the configuration: defaults ← `file` (when given) ← `WEIR_*` ← `overrides`.
pub fn load(file: Option<&Path>, overrides: Figment) -> Result<WeirConfig, Box<figment::Error>> {
    let mut figment = Figment::from(Serialized::defaults(Defaults::builtin()));
    if let Some(path) = file {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(
            Env::prefixed("WEIR_")
                .map(|k| env_key(k.as_str()).into())
                .lowercase(false),
        )
        .merge(overrides)
        .extract()
        .map_err(Box::new)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail dictates the closure's error type
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_reads_as_written_with_the_keys_that_exist() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("weir.toml", "[listen]\nwebb = \"127.0.0.1:1\"\n")?;
            let e = load(Some(Path::new("weir.toml")), Figment::new()).unwrap_err();
            let text = describe(&e);
            assert!(text.starts_with("unknown key listen.webb in "), "{text}");
            assert!(
                text.ends_with("the keys there are otlp_grpc, otlp_http, web"),
                "{text}"
            );
            assert!(!text.contains("default."), "{text}");
            Ok(())
        });
    }

    #[test]
    fn env_keys_map_to_sections() {
        assert_eq!(env_key("LISTEN_WEB"), "listen.web");
        assert_eq!(env_key("DATA_DIR"), "data_dir");
        assert_eq!(env_key("DATABASE_URL"), "database.url");
        assert_eq!(env_key("AUTH_INGEST_TOKENS"), "auth.ingest_tokens");
    }

    #[test]
    fn durations_read_as_durations_and_a_bad_one_names_its_key() {
        let c = check_toml("[ingest]\ncommit_interval = \"250ms\"\n[retention]\nspans = \"2d\"")
            .unwrap();
        assert_eq!(c.ingest.commit_interval, Duration::from_millis(250));
        assert_eq!(c.retention.spans, DAY * 2);
        assert_eq!(c.retention.logs, DAY * 7);
        let e = check_toml("[retention]\nlogs = \"a week\"").unwrap_err();
        assert!(e.contains("retention.logs"), "{e}");
        figment::Jail::expect_with(|jail| {
            jail.set_env("WEIR_INGEST_BODY_READ_TIMEOUT", "5s");
            let c = load(None, Figment::new()).unwrap();
            assert_eq!(c.ingest.body_read_timeout, Duration::from_secs(5));
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("weir.toml", "data_dir = \"/from-file\"\n[listen]\nweb = \"127.0.0.1:1\"\n[auth]\ningest_tokens = [\"t\"]\n")?;
            jail.set_env("WEIR_LISTEN_WEB", "127.0.0.1:2");
            let c = load(Some(Path::new("weir.toml")), Figment::new()).unwrap();
            assert_eq!(c.data_dir, PathBuf::from("/from-file"));
            assert_eq!(c.listen.web.port(), 2);
            assert_eq!(c.listen.otlp_grpc.port(), 4317);
            assert_eq!(c.auth.ingest_tokens, ["t"]);
            let flags = Figment::from(Serialized::default("data_dir", "/from-flag"));
            assert_eq!(
                load(Some(Path::new("weir.toml")), flags).unwrap().data_dir,
                PathBuf::from("/from-flag")
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_named_in_the_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("weir.toml", "[listen]\nwebb = \"127.0.0.1:1\"\n")?;
            let err = load(Some(Path::new("weir.toml")), Figment::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains("webb"), "{err}");
            Ok(())
        });
    }
}
