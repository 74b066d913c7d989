//! `weir simulate`: drives any OTLP endpoint with the simulator's pipelines.

use anyhow::Context;
use std::time::Duration;
use weir_sim::{Fault, Protocol, Schedule, SimConfig, Target};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// OTLP endpoint, without a path.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    endpoint: String,
    /// OTLP transport: grpc (4317) or http (HTTP/protobuf, 4318).
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http"])]
    protocol: String,
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
    /// Bearer token for weir's auth.ingest_tokens.
    #[arg(long)]
    token: Option<String>,
    /// Seed for the randomness, so runs can be repeated.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl SimulateArgs {
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let scenarios = if self.scenario.iter().any(|s| s == "all") {
            weir_sim::scenarios::NAMES.map(String::from).to_vec()
        } else {
            self.scenario.clone()
        };
        Ok(SimConfig {
            target: Target {
                endpoint: self.endpoint.clone(),
                protocol: if self.protocol == "http" {
                    Protocol::Http
                } else {
                    Protocol::Grpc
                },
                token: self.token.clone(),
            },
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
    tracing::info!(
        endpoint = %config.target.endpoint,
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
