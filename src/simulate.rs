//! `weir simulate`: drives any OTLP endpoint with the simulator's pipelines.

use anyhow::Context;
use std::time::Duration;
use weir_sim::{Fault, Protocol, Schedule, SimConfig, Target};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// OTLP endpoint, without a path [default: OTEL_EXPORTER_OTLP_ENDPOINT,
    /// else http://127.0.0.1:4318, or :4317 for grpc].
    #[arg(long)]
    endpoint: Option<String>,
    /// OTLP transport: grpc, http (HTTP/protobuf) or http/json [default:
    /// OTEL_EXPORTER_OTLP_PROTOCOL, else grpc for an endpoint on port 4317,
    /// else http/protobuf as the OpenTelemetry specification says].
    #[arg(long, value_parser = ["grpc", "http", "http/protobuf", "http/json"])]
    protocol: Option<String>,
    /// Scenario to run (repeatable, or `all`): clickstream, etl, api,
    /// fanout, cdc, kafka.
    #[arg(long, required = true)]
    scenario: Vec<String>,
    /// Units of work per second per scenario (clicks, requests, executions...).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// How long to run (e.g. 10m); until Ctrl-C when left out.
    #[arg(long)]
    duration: Option<humantime::Duration>,
    /// A fault: NAME[@START[+DURATION]], e.g. lag@30s+2m (repeatable). Names:
    /// lag, errors, cold-starts, stall, poison, throttle.
    #[arg(long)]
    fault: Vec<Fault>,
    /// Bearer token for weir's auth.ingest_tokens (also read from
    /// OTEL_EXPORTER_OTLP_HEADERS, `authorization=Bearer%20<token>`).
    #[arg(long)]
    token: Option<String>,
    /// Seed for the randomness, so runs can be repeated.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Where to send, from the flags and then the standard OTLP exporter
/// variables (`env` reads one): flags win.
fn target(
    endpoint: Option<&str>,
    protocol: Option<&str>,
    token: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Target> {
    let endpoint = endpoint
        .map(str::to_string)
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|e| !e.trim().is_empty()));
    let protocol_text = protocol
        .map(str::to_string)
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|p| !p.trim().is_empty()));
    let protocol = match protocol_text.as_deref().map(str::trim) {
        Some("grpc") => Protocol::Grpc,
        Some("http") | Some("http/protobuf") => Protocol::Http,
        Some("http/json") => Protocol::HttpJson,
        Some(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not a protocol; use grpc, http/protobuf or http/json"
        ),
        // The specification's default is http/protobuf; an endpoint on
        // gRPC's own port means gRPC.
        None if endpoint
            .as_deref()
            .is_some_and(|e| e.trim_end_matches('/').ends_with(":4317")) =>
        {
            Protocol::Grpc
        }
        None => Protocol::Http,
    };
    let endpoint = endpoint.unwrap_or_else(|| match protocol {
        Protocol::Grpc => "http://127.0.0.1:4317".into(),
        _ => "http://127.0.0.1:4318".into(),
    });
    let endpoint = endpoint.trim().trim_end_matches('/').to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        anyhow::bail!("endpoint {endpoint:?} has no scheme; write http://{endpoint} (or https://)");
    }
    let mut headers = match env("OTEL_EXPORTER_OTLP_HEADERS") {
        Some(text) => parse_headers(&text)?,
        None => Vec::new(),
    };
    if let Some(t) = token {
        headers.retain(|(k, _)| k != "authorization");
        headers.push(("authorization".into(), format!("Bearer {t}")));
    }
    Ok(Target {
        endpoint,
        protocol,
        headers,
    })
}

/// `key1=value1,key2=value2` with percent-encoded values, as the
/// OpenTelemetry specification writes `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_headers(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!(
                    "OTEL_EXPORTER_OTLP_HEADERS entry {pair:?} is not key=value; write e.g. authorization=Bearer%20<token>"
                )
            })?;
            let value = percent_encoding::percent_decode_str(v.trim())
                .decode_utf8_lossy()
                .into_owned();
            Ok((k.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

impl SimulateArgs {
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let scenarios = if self.scenario.iter().any(|s| s == "all") {
            weir_sim::scenarios::NAMES.map(String::from).to_vec()
        } else {
            self.scenario.clone()
        };
        Ok(SimConfig {
            target: target(
                self.endpoint.as_deref(),
                self.protocol.as_deref(),
                self.token.as_deref(),
                |name| std::env::var(name).ok(),
            )?,
            scenarios,
            rate: self.rate,
            duration: self.duration.map(Duration::from),
            faults: Schedule(self.fault.clone()),
            seed: self.seed,
        })
    }
}

/// Runs until the duration passes or Ctrl-C, then prints what was sent.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop_tx.send(true);
    });
    weir_sim::probe(&config.target).await?;
    tracing::info!(
        endpoint = %config.target.endpoint,
        protocol = ?config.target.protocol,
        scenarios = ?config.scenarios,
        rate = config.rate,
        faults = ?config.faults.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "simulating"
    );
    let summary = weir_sim::run(config, stop_rx)
        .await
        .context("the simulation stopped")?;
    println!(
        "sent {} units of work in {:.1} s ({:.1}/s): {} spans, {} log records, {} gauge readings",
        summary.units,
        summary.elapsed.as_secs_f64(),
        summary.units as f64 / summary.elapsed.as_secs_f64().max(1e-9),
        summary.spans,
        summary.logs,
        summary.gauges
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_standard_variables_are_read_and_flags_win() {
        let vars = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://weir.internal:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret,x-team=data",
            ),
        ]);
        let t = target(None, None, None, &vars).unwrap();
        assert_eq!(t.endpoint, "http://weir.internal:4318");
        assert_eq!(t.protocol, Protocol::Http, "the specification's default");
        assert_eq!(
            t.headers,
            [
                ("authorization".to_string(), "Bearer s3cret".to_string()),
                ("x-team".to_string(), "data".to_string())
            ]
        );
        let t = target(Some("http://other:4317"), None, Some("t2"), &vars).unwrap();
        assert_eq!(t.endpoint, "http://other:4317");
        assert_eq!(t.protocol, Protocol::Grpc, "gRPC's port means gRPC");
        assert!(
            t.headers
                .contains(&("authorization".into(), "Bearer t2".into()))
        );
        let grpc = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(
            target(None, None, None, &grpc).unwrap().endpoint,
            "http://127.0.0.1:4317"
        );
        assert_eq!(
            target(None, None, None, env(&[])).unwrap().endpoint,
            "http://127.0.0.1:4318"
        );
    }

    #[test]
    fn mistakes_are_one_line_that_names_the_fix() {
        let e = target(Some("127.0.0.1:4318"), None, None, env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "endpoint \"127.0.0.1:4318\" has no scheme; write http://127.0.0.1:4318 (or https://)"
        );
        let e = target(
            None,
            None,
            None,
            env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "udp")]),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("use grpc, http/protobuf or http/json"),
            "{e}"
        );
        let e = target(
            None,
            None,
            None,
            env(&[("OTEL_EXPORTER_OTLP_HEADERS", "oops")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is not key=value"), "{e}");
    }
}
