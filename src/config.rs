//! weir.toml, layered: defaults, then the file, then `WEIR_*` variables, then flags.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use weir_alerts::AlertsConfig;
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
    pub spans: String,
    /// How long log records are kept.
    pub logs: String,
    /// How long metric points are kept.
    pub metrics: String,
    /// How long health rollups are kept.
    pub rollups: String,
    /// How often retention runs (an extension of the contract's keys).
    pub check_interval: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            spans: "7d".into(),
            logs: "7d".into(),
            metrics: "30d".into(),
            rollups: "90d".into(),
            check_interval: "5m".into(),
        }
    }
}

impl RetentionConfig {
    /// The policy and how often to apply it, with errors that name the key.
    pub fn policy(
        &self,
    ) -> anyhow::Result<(weir_store::retention::RetentionPolicy, std::time::Duration)> {
        use anyhow::Context;
        let d = |key: &str, v: &str| {
            weir_core::parse_duration(v).with_context(|| format!("retention.{key}"))
        };
        Ok((
            weir_store::retention::RetentionPolicy {
                spans: d("spans", &self.spans)?,
                logs: d("logs", &self.logs)?,
                metrics: d("metrics", &self.metrics)?,
                rollups: d("rollups", &self.rollups)?,
            },
            d("check_interval", &self.check_interval)?,
        ))
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
    pub commit_interval: String,
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
    pub header_read_timeout: String,
    /// Longest pause while a request body arrives on the HTTP listeners.
    pub body_read_timeout: String,
}

impl Default for IngestTuning {
    fn default() -> Self {
        IngestTuning {
            max_body_bytes: 64 << 20,
            max_pending_bytes: 16 << 20,
            commit_interval: "1s".into(),
            span_index_heap_mib: 128,
            log_index_heap_mib: 64,
            rollups: true,
            min_free_bytes: 256 << 20,
            header_read_timeout: "10s".into(),
            body_read_timeout: "30s".into(),
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

/// Sections whose keys environment variables reach with one underscore:
/// `WEIR_LISTEN_WEB` is `listen.web`, `WEIR_DATA_DIR` is `data_dir`.
const SECTIONS: [&str; 7] = [
    "listen",
    "database",
    "auth",
    "retention",
    "pipeline",
    "alerts",
    "ingest",
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
    let config: WeirConfig = Figment::from(Serialized::defaults(Defaults::builtin()))
        .merge(Toml::string(text))
        .extract()
        .map_err(|e| e.to_string())?;
    config.retention.policy().map_err(|e| e.to_string())?;
    for (key, value) in [
        ("ingest.commit_interval", &config.ingest.commit_interval),
        (
            "ingest.header_read_timeout",
            &config.ingest.header_read_timeout,
        ),
        ("ingest.body_read_timeout", &config.ingest.body_read_timeout),
    ] {
        weir_core::parse_duration(value).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(config)
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
    fn env_keys_map_to_sections() {
        assert_eq!(env_key("LISTEN_WEB"), "listen.web");
        assert_eq!(env_key("DATA_DIR"), "data_dir");
        assert_eq!(env_key("DATABASE_URL"), "database.url");
        assert_eq!(env_key("AUTH_INGEST_TOKENS"), "auth.ingest_tokens");
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
