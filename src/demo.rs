//! `weir demo`: serve, load the demo rules, print every webhook the demo
//! receiver gets, and drive all scenarios with faults on a schedule so
//! alerts fire and resolve within the first five minutes.

use anyhow::Context;
use std::net::SocketAddr;
use std::time::Duration;
use weir::config::WeirConfig;
use weir_sim::{Protocol, Schedule, SimConfig, Target};

/// The rules the demo loads.
const DEMO_RULES: &str = include_str!("demo-rules.yaml");

/// The faults the demo schedules, from the start of the run. Each trips
/// one kind of rule; all have resolved by about four and a half minutes.
pub const DEMO_FAULTS: [&str; 6] = [
    "poison@20s+60s",
    "lag@30s+60s",
    "errors@45s+45s",
    "cold-starts@100s+40s",
    "stall@100s+120s",
    "throttle@150s+30s",
];

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its data.
    #[arg(long, default_value = "weir-demo-data")]
    data_dir: std::path::PathBuf,
    /// Web listen address (dashboard and API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    web: SocketAddr,
    /// OTLP/gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:4317")]
    otlp_grpc: SocketAddr,
    /// OTLP/HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:4318")]
    otlp_http: SocketAddr,
    /// Units of work per second per scenario.
    #[arg(long, default_value_t = 3.0)]
    rate: f64,
    /// Run without faults.
    #[arg(long)]
    no_faults: bool,
}

/// A webhook receiver that prints what it gets, one line per alert.
async fn receiver() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open the demo webhook receiver")?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|body: axum::body::Bytes| async move {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                for a in v["alerts"].as_array().into_iter().flatten() {
                    println!(
                        "webhook: {:<8} {:<22} {:<24} {}",
                        a["status"].as_str().unwrap_or("?").to_uppercase(),
                        a["labels"]["alertname"].as_str().unwrap_or("?"),
                        a["labels"]["component"].as_str().unwrap_or("?"),
                        a["annotations"]["summary"].as_str().unwrap_or("")
                    );
                }
            }
            "ok"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let rules = args.data_dir.join("demo-rules.yaml");
    std::fs::write(&rules, DEMO_RULES)
        .with_context(|| format!("cannot write {}", rules.display()))?;
    let hook = receiver().await?;
    let toml = format!(
        "data_dir = {data:?}\n\
         [listen]\notlp_grpc = \"{grpc}\"\notlp_http = \"{http}\"\nweb = \"{web}\"\n\
         [alerts]\nrule_files = [{rules:?}]\n\
         [[alerts.receivers]]\nname = \"demo\"\nurl = \"{hook}\"\n\
         [[alerts.routes]]\nreceiver = \"demo\"\ngroup_wait = \"0s\"\ngroup_interval = \"10s\"\n",
        data = args.data_dir.display().to_string(),
        grpc = args.otlp_grpc,
        http = args.otlp_http,
        web = args.web,
        rules = rules.display().to_string(),
    );
    // Written out so users can see, and reuse, what the demo runs with.
    let config_path = args.data_dir.join("weir-demo.toml");
    std::fs::write(&config_path, &toml)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config: WeirConfig = weir::config::load(Some(&config_path), figment::Figment::new())
        .context("the demo configuration")?;
    // The demo owns the signals: on Ctrl-C it stops the simulation first, so
    // its exporters flush into a weir that is still listening.
    let (weir_stop_tx, weir_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::serve::run_until(config, async {
        let _ = weir_stop_rx.await;
    }));
    tokio::select! {
        ready = wait_ready(args.web) => ready?,
        // A weir that cannot start (a port in use) says why at once.
        result = &mut server => {
            result.context("weir stopped")??;
            anyhow::bail!("weir stopped before it was ready");
        }
    }

    let faults = if args.no_faults {
        Schedule::default()
    } else {
        Schedule(
            DEMO_FAULTS
                .iter()
                .map(|f| f.parse().expect("demo faults parse"))
                .collect(),
        )
    };
    println!();
    println!(
        "weir demo is running: every scenario at {} units/s.",
        args.rate
    );
    println!("  dashboard  http://{}/", args.web);
    println!("  alerts     http://{}/alerts", args.web);
    println!(
        "  OTLP       grpc {}  http {}",
        args.otlp_grpc, args.otlp_http
    );
    if !args.no_faults {
        println!("  faults     {}", DEMO_FAULTS.join("  "));
    }
    println!("Webhooks the demo receiver gets are printed below. Ctrl-C stops.");
    println!();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let simulation = tokio::spawn(weir_sim::run(
        SimConfig {
            target: Target {
                endpoint: format!("http://{}", args.otlp_grpc),
                protocol: Protocol::Grpc,
                headers: Vec::new(),
            },
            scenarios: weir_sim::scenarios::NAMES.map(String::from).to_vec(),
            rate: args.rate,
            duration: None,
            faults,
            seed: 1,
        },
        stop_rx,
    ));
    tokio::select! {
        _ = crate::serve::shutdown_signal() => {}
        result = &mut server => {
            let _ = stop_tx.send(true);
            let _ = simulation.await;
            return result.context("weir stopped")?;
        }
    }
    println!("stopping: flushing the simulated pipelines, then weir");
    let _ = stop_tx.send(true);
    let _ = simulation.await;
    let _ = weir_stop_tx.send(());
    server.await.context("weir stopped")?
}

async fn wait_ready(web: SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://{web}/readyz");
    for _ in 0..600 {
        if let Ok(r) = client.get(&url).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("weir did not become ready within 60 s")
}
