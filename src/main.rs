//! The `weir` binary: loads configuration, wires the crates together and
//! serves. It holds no domain logic of its own.

// Ingest allocates and frees many small strings per span on several threads;
// mimalloc's thread-local free lists cost a fraction of glibc malloc's here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use weir::config;
mod dashboard;
mod demo;
mod http_server;
mod ops;
mod serve;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use figment::Figment;
use figment::providers::Serialized;
use std::net::SocketAddr;
use std::path::PathBuf;

/// weir: OTLP collector, store and pipeline-health dashboard for event-driven
/// and serverless pipelines.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Receive OTLP, store it, and serve the API and dashboard.
    Serve(ServeArgs),
    /// Serve, and drive weir with every simulated pipeline and a schedule of
    /// faults, so alerts fire and resolve; prints the dashboard URL.
    Demo(demo::DemoArgs),
    /// Send the telemetry of simulated pipelines to an OTLP endpoint.
    Simulate(simulate::SimulateArgs),
    /// Work with alert rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate rule files; non-zero exit and line-numbered errors when wrong.
    Check {
        /// Rule files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Checks each file; prints `file: ok` or `file:line: problem` lines.
fn check_rules(files: &[PathBuf]) -> anyhow::Result<bool> {
    let mut all_ok = true;
    for path in files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
        match weir_alerts::rules::parse(&text, &name) {
            Ok(file) => {
                let rules: usize = file.groups.iter().map(|g| g.rules.len()).sum();
                println!("{name}: ok ({} groups, {rules} rules)", file.groups.len());
            }
            Err(errors) => {
                all_ok = false;
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
    }
    Ok(all_ok)
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (weir.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where data lives (overrides data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address (overrides listen.otlp_grpc).
    #[arg(long)]
    otlp_grpc: Option<SocketAddr>,
    /// OTLP/HTTP listen address (overrides listen.otlp_http).
    #[arg(long)]
    otlp_http: Option<SocketAddr>,
    /// Web listen address (overrides listen.web).
    #[arg(long)]
    web: Option<SocketAddr>,
    /// Database URL (overrides database.url).
    #[arg(long)]
    database_url: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Figment {
        let mut f = Figment::new();
        if let Some(d) = &self.data_dir {
            f = f.merge(Serialized::default("data_dir", d));
        }
        if let Some(a) = self.otlp_grpc {
            f = f.merge(Serialized::default("listen.otlp_grpc", a.to_string()));
        }
        if let Some(a) = self.otlp_http {
            f = f.merge(Serialized::default("listen.otlp_http", a.to_string()));
        }
        if let Some(a) = self.web {
            f = f.merge(Serialized::default("listen.web", a.to_string()));
        }
        if let Some(u) = &self.database_url {
            f = f.merge(Serialized::default("database.url", u));
        }
        f
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn,sqlx=warn"));
    // Colour codes only for a person at a terminal: in files and pipes they
    // are noise, and NO_COLOR (no-color.org) turns them off anywhere.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() {
    // One line that names the value and the fix, not anyhow's "Caused by:"
    // list over several lines.
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Rules {
        command: RulesCommand::Check { files },
    } = &cli.command
    {
        if !check_rules(files)? {
            std::process::exit(1);
        }
        return Ok(());
    }
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir")
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let config = config::load(args.config.as_deref(), args.overrides())
                .map_err(|e| anyhow::anyhow!("invalid configuration: {}", config::describe(&e)))?;
            runtime.block_on(serve::run(config))
        }
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Simulate(args) => runtime.block_on(simulate::run(args)),
        Command::Rules { .. } => Ok(()),
    }
}
