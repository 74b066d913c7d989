//! weir-bench: starts a release `weir`, drives it with concurrent OTLP
//! clients, and reports ingest throughput, acknowledgement latency,
//! ingest-to-searchable latency, trace lookup latency, peak RSS and bytes on
//! disk per span — medians over several runs.

mod alerts;
mod bare;
mod cluster;
mod overload;
mod preencoded;
mod profile;
mod prometheus;
mod report;
mod soak;

use preencoded::{Exports, RawExporter};
use profile::Profile;
use prost::Message;
use report::median;
use weir_collector::fixtures::fleet as data;

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Measure weir on this machine.
#[derive(Parser, Clone)]
struct Args {
    /// The weir binary; by default the one built beside this benchmark.
    #[arg(long)]
    weir: Option<PathBuf>,
    /// Spans to send over gRPC per run (the lookup test needs at least 1M stored).
    #[arg(long, default_value_t = 1_200_000)]
    spans: u64,
    /// Spans to send over OTLP/JSON per run.
    #[arg(long, default_value_t = 200_000)]
    json_spans: u64,
    /// Log records per run.
    #[arg(long, default_value_t = 600_000)]
    logs: u64,
    /// Metric points per run.
    #[arg(long, default_value_t = 1_000_000)]
    points: u64,
    /// Concurrent exporters.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Records per export request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Runs; figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Trace-id lookups per run.
    #[arg(long, default_value_t = 1000)]
    lookups: usize,
    /// PostgreSQL URL for metric storage (default: SQLite).
    #[arg(long)]
    database_url: Option<String>,
    /// Build health rollups and topology at ingest (turn off to measure their cost).
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    rollups: String,
    /// Measure alerting (detection latency, rule evaluation time) instead of ingest.
    #[arg(long)]
    alerts: bool,
    /// Only index the profiles' span documents straight into tantivy (`--bare` without weir), `--runs` times
    #[arg(long)]
    bare_only: bool,
    /// Measure acknowledged spans/s under open-loop overload (--overload-factor × the sustained rate) instead
    #[arg(long)]
    overload: bool,
    /// Offered load in the overload phase, as a multiple of the sustained rate.
    #[arg(long, default_value_t = 3.0)]
    overload_factor: f64,
    /// Measure cluster mode instead: one and two nodes beside the embedded
    /// mode (run under bench/scripts/with-cluster-engines.sh).
    #[arg(long)]
    cluster: bool,
    /// Run the soak and chaos benchmark instead (needs root: it mounts a tmpfs).
    #[arg(long)]
    soak: bool,
    /// Soak length in minutes.
    #[arg(long, default_value_t = 30.0)]
    soak_minutes: f64,
    /// kill -9 moments during the soak.
    #[arg(long, default_value_t = 10)]
    soak_kills: usize,
    /// Offered load as a share of the capacity measured first.
    #[arg(long, default_value_t = 0.8)]
    soak_load: f64,
    /// Size of the soak's tmpfs data directory, MiB.
    #[arg(long, default_value_t = 12288)]
    soak_disk_mib: u64,
    /// Detection-latency samples per alerting run.
    #[arg(long, default_value_t = 20)]
    detection_samples: usize,
    /// Span loads to measure, each reported in its own table (repeatable).
    #[arg(long, value_enum, default_values_t = [Profile::Default])]
    profile: Vec<Profile>,
    /// An older weir binary: run it and the new one alternately (at least 3
    /// pairs, same data and load) and print each figure's ratio new / old.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Also index the same span documents straight into tantivy after each
    /// run (the physical limit) and print weir / bare.
    #[arg(long)]
    bare: bool,
    /// With --cluster: the nodes' `ingest.commit_interval` (how often each
    /// partition seals a split), e.g. `1s` (weir's default) or `5s`.
    #[arg(long, default_value = "1s")]
    cluster_commit_interval: String,
    /// With --cluster: the cluster's partition count.
    #[arg(long, default_value_t = 16)]
    cluster_partitions: u32,
    /// With --cluster: the nodes' `cluster.max_indexing_lag` (backpressure
    /// bound); empty: weir's default. An older binary must know the key.
    #[arg(long, default_value = "")]
    cluster_max_indexing_lag: String,
}

#[derive(Debug, Default, Clone)]
struct RunResult {
    spans_per_s: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    json_spans_per_s: f64,
    logs_per_s: f64,
    points_per_s: f64,
    searchable_p50_ms: f64,
    searchable_p99_ms: f64,
    searchable_idle_p50_ms: f64,
    ack_idle_p50_ms: f64,
    ack_idle_p99_ms: f64,
    searchable_idle_p99_ms: f64,
    lookup_p50_ms: f64,
    lookup_p99_ms: f64,
    log_search_p50_ms: f64,
    log_search_p99_ms: f64,
    log_search_broad_p50_ms: f64,
    log_search_broad_p99_ms: f64,
    correlate_p50_ms: f64,
    correlate_p99_ms: f64,
    components_p50_ms: f64,
    components_p99_ms: f64,
    topology_p50_ms: f64,
    topology_p99_ms: f64,
    /// Dashboard pages: (p50, p99) ms, in the order of `PAGES`.
    pages: Vec<(f64, f64)>,
    peak_rss_mib: f64,
    /// Peak anonymous memory (heap, not mapped index files), sampled.
    peak_anon_mib: f64,
    span_index_bytes_per_span: f64,
    spans_stored: u64,
    /// Span documents/s of the bare index on the same documents, if measured.
    bare_docs_per_s: Option<f64>,
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Weir {
    /// Stops weir as an operator would (SIGTERM) and waits up to a minute.
    pub(crate) async fn stop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
    }
}

pub(crate) struct Weir {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
    web: SocketAddr,
    data_dir: PathBuf,
}

impl Weir {
    /// Its process id, as /proc names it.
    pub(crate) fn pid(&self) -> String {
        self.child.id().unwrap_or(0).to_string()
    }
}

pub(crate) async fn start_weir(
    binary: &Path,
    root: &Path,
    database_url: Option<&str>,
    rollups: bool,
    config: Option<&Path>,
) -> Result<Weir> {
    let (grpc, http, web) = (free_addr(), free_addr(), free_addr());
    let data_dir = root.join("data");
    let mut cmd = Command::new(binary);
    cmd.args(["serve", "--data-dir"])
        .arg(&data_dir)
        .args([
            "--otlp-grpc",
            &grpc.to_string(),
            "--otlp-http",
            &http.to_string(),
            "--web",
            &web.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .env("WEIR_INGEST_ROLLUPS", rollups.to_string())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("http://{web}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("weir did not become ready in 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Weir {
        child,
        grpc,
        http,
        web,
        data_dir,
    })
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// Sends `total` records of one signal from `concurrency` clients; returns
/// records/s and the acknowledgement-latency histogram (µs).
pub(crate) async fn drive<F, Fut>(
    total: u64,
    concurrency: usize,
    batch: usize,
    send: F,
) -> Result<(f64, Histogram<u64>)>
where
    F: Fn(u64, u64, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let per_client = total / concurrency as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency as u64 {
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
            let mut sent = 0u64;
            let mut seq = 0u64;
            while sent < per_client {
                let n = batch.min((per_client - sent) as usize);
                let t = Instant::now();
                send(c, seq, n).await?;
                h.record(t.elapsed().as_micros().max(1) as u64)?;
                seq += n as u64;
                sent += n as u64;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    for t in tasks {
        all.add(t.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(((per_client * concurrency as u64) as f64 / secs, all))
}

pub(crate) const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_EXPORT: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const METRICS_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Retries an export while weir answers with backpressure, as exporters do.
macro_rules! export_with_retry {
    ($call:expr) => {{
        loop {
            match $call.await {
                Ok(_) => break,
                Err(s) if s.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(s) => bail!("export failed: {s}"),
            }
        }
    }};
}

/// Sends `args.spans` pre-encoded spans over gRPC, exporter `c` to
/// `nodes[c % n]`; returns spans/s and the acknowledgement latencies (µs).
pub(crate) async fn send_spans(
    args: &Args,
    nodes: &[SocketAddr],
    bodies: Arc<Exports>,
) -> Result<(f64, Histogram<u64>)> {
    let mut clients = Vec::new();
    for c in 0..args.concurrency {
        let endpoint = format!("http://{}", nodes[c % nodes.len()]);
        clients.push(RawExporter::connect(&endpoint, TRACE_EXPORT).await?);
    }
    let clients = Arc::new(clients);
    drive(
        args.spans,
        args.concurrency,
        args.batch,
        move |c, seq, _| {
            let mut client = clients[c as usize].clone();
            let body = bodies.body(c, seq);
            async move {
                client.export_retrying(body).await?;
                Ok(())
            }
        },
    )
    .await
}

/// The id of the `k`-th of a spread of the traces `args.spans` stored;
/// `salt` picks another spread. Each request of `batch` spans sent at
/// record offset `o` holds traces `o + 1 ..= o + batch / 4` (see data::spans).
pub(crate) fn stored_trace(args: &Args, profile: Profile, k: u64, salt: u64) -> String {
    let batches_per_client = (args.spans / args.concurrency as u64 / args.batch as u64).max(1);
    let traces_per_batch = (args.batch as u64 / 4).max(1);
    let batch_no = (k * 7919 + salt) % batches_per_client;
    let offset = batch_no * args.batch as u64;
    let j = (k * 104_729) % traces_per_batch;
    hex::encode(profile.trace_id(k % args.concurrency as u64, offset, j))
}

/// Sends one span every 200 ms; returns the histograms of its
/// acknowledgement latency and of acknowledgement-to-searchable latency (µs).
async fn searchable_probe(
    weir_grpc: SocketAddr,
    web: SocketAddr,
    stop: Arc<AtomicBool>,
) -> Result<(Histogram<u64>, Histogram<u64>)> {
    let mut client = TraceServiceClient::connect(format!("http://{weir_grpc}")).await?;
    let http = reqwest::Client::new();
    let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    let mut acks = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    let mut seq = 1u64 << 40;
    while !stop.load(Ordering::Relaxed) {
        let req = data::spans(900, &mut seq, 1);
        let id = hex::encode(&req.resource_spans[0].scope_spans[0].spans[0].trace_id);
        let sent = Instant::now();
        export_with_retry!(client.export(req.clone()));
        acks.record(sent.elapsed().as_micros().max(1) as u64)?;
        let acked = Instant::now();
        loop {
            let r = http
                .get(format!("http://{web}/api/v1/traces/{id}"))
                .send()
                .await?;
            if r.status().is_success() {
                break;
            }
            if acked.elapsed() > Duration::from_secs(60) {
                bail!("probe span {id} not searchable after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.record(acked.elapsed().as_micros().max(1) as u64)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((acks, h))
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

pub(crate) fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:").unwrap_or(0.0)
}

/// A value of `/proc/PID/status` in MiB (the kernel reports kB).
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// Samples weir's anonymous memory (`RssAnon`: heap and stacks, not the
/// index files tantivy maps, which `VmHWM` also counts) every 250 ms and
/// keeps the peak, which the kernel does not.
struct AnonSampler {
    peak_kib: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl AnonSampler {
    fn start(pid: u32) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let peak = peak_kib.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(mib) = status_mib(pid, "RssAnon:") {
                    peak.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        AnonSampler { peak_kib, task }
    }

    fn peak_mib(&self) -> f64 {
        self.task.abort();
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

/// One sample of weir's `/metrics`, 0 when absent.
pub(crate) async fn scrape(web: SocketAddr, series: &str) -> Result<f64> {
    let text = reqwest::get(format!("http://{web}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

async fn indexed_spans(web: SocketAddr) -> Result<u64> {
    Ok(scrape(web, "weir_index_documents{signal=\"spans\"}").await? as u64)
}

async fn one_run(args: &Args, binary: &Path, profile: Profile) -> Result<RunResult> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench")
        .tempdir_in(std::env::var("WEIR_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    let mut weir = start_weir(
        binary,
        root.path(),
        args.database_url.as_deref(),
        args.rollups == "on",
        None,
    )
    .await?;
    let pid = weir.child.id().unwrap_or(0);
    let anon = AnonSampler::start(pid);
    let mut r = RunResult::default();

    // Every body is encoded before its phase starts (see `preencoded`).
    let span_bodies = Exports::build(args.spans, args.concurrency, args.batch, |c, seq, n| {
        Ok(profile.spans(c, seq, n).encode_to_vec())
    })?;

    // Spans over gRPC, with the searchable probe running alongside.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(searchable_probe(weir.grpc, weir.web, stop.clone()));
    let endpoint = format!("http://{}", weir.grpc);
    let (rate, acks) = send_spans(args, &[weir.grpc], span_bodies).await?;
    r.spans_per_s = rate;
    r.ack_p50_ms = ms(&acks, 0.5);
    r.ack_p99_ms = ms(&acks, 0.99);
    stop.store(true, Ordering::Relaxed);
    let (_, searchable) = probe.await??;
    r.searchable_p50_ms = ms(&searchable, 0.5);
    r.searchable_p99_ms = ms(&searchable, 0.99);

    // Spans over OTLP/JSON; distinct trace ids from the gRPC phase: clients 100+.
    let json_bodies = Exports::build(
        args.json_spans,
        args.concurrency,
        args.batch,
        |c, seq, n| Ok(serde_json::to_vec(&profile.spans(c + 100, seq, n))?),
    )?;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/traces", weir.http);
    let (rate, _) = drive(
        args.json_spans,
        args.concurrency,
        args.batch,
        move |c, seq, _| {
            let http = http.clone();
            let url = url.clone();
            let body = json_bodies.body(c, seq);
            async move {
                loop {
                    let resp = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await?;
                    match resp.status().as_u16() {
                        200 => break,
                        429 | 503 => tokio::time::sleep(Duration::from_millis(100)).await,
                        other => bail!("JSON export failed: {other}"),
                    }
                }
                Ok(())
            }
        },
    )
    .await?;
    r.json_spans_per_s = rate;

    // Logs and metric points over gRPC.
    let log_bodies = Exports::build(args.logs, args.concurrency, args.batch, |c, seq, n| {
        let mut s = seq;
        Ok(data::logs(c, &mut s, n).encode_to_vec())
    })?;
    let logs_client = RawExporter::connect(&endpoint, LOGS_EXPORT).await?;
    let (rate, _) = drive(args.logs, args.concurrency, args.batch, move |c, seq, _| {
        let mut client = logs_client.clone();
        let body = log_bodies.body(c, seq);
        async move {
            client.export_retrying(body).await?;
            Ok(())
        }
    })
    .await?;
    r.logs_per_s = rate;
    let point_bodies = Exports::build(
        args.points,
        args.concurrency,
        args.batch * 2,
        |c, seq, n| {
            let mut s = seq;
            Ok(data::metrics(c, &mut s, n).encode_to_vec())
        },
    )?;
    let metrics_client = RawExporter::connect(&endpoint, METRICS_EXPORT).await?;
    let (rate, _) = drive(
        args.points,
        args.concurrency,
        args.batch * 2,
        move |c, seq, _| {
            let mut client = metrics_client.clone();
            let body = point_bodies.body(c, seq);
            async move {
                client.export_retrying(body).await?;
                Ok(())
            }
        },
    )
    .await?;
    r.points_per_s = rate;

    // Everything indexed, then trace-id lookups over the HTTP API.
    let expected = (args.spans / args.concurrency as u64) * args.concurrency as u64
        + (args.json_spans / args.concurrency as u64) * args.concurrency as u64;
    let waited = Instant::now();
    loop {
        let n = indexed_spans(weir.web).await?;
        if n >= expected {
            r.spans_stored = n;
            break;
        }
        if waited.elapsed() > Duration::from_secs(300) {
            bail!("only {n} of {expected} spans indexed after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Ingest-to-searchable with no other load: what a user sees in normal operation.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(searchable_probe(weir.grpc, weir.web, stop.clone()));
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);
    let (idle_acks, idle) = probe.await??;
    r.ack_idle_p50_ms = ms(&idle_acks, 0.5);
    r.ack_idle_p99_ms = ms(&idle_acks, 0.99);
    r.searchable_idle_p50_ms = ms(&idle, 0.5);
    r.searchable_idle_p99_ms = ms(&idle, 0.99);

    let http = reqwest::Client::new();
    let mut lookups = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let stored_trace = |k: u64, salt: u64| stored_trace(args, profile, k, salt);
    let batches_per_client = (args.spans / args.concurrency as u64 / args.batch as u64).max(1);
    for k in 0..args.lookups as u64 {
        let id = stored_trace(k, 0);
        let t = Instant::now();
        let resp = http
            .get(format!("http://{}/api/v1/traces/{id}", weir.web))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        lookups.record(t.elapsed().as_micros().max(1) as u64)?;
        if !status.is_success() {
            bail!(
                "lookup of trace {id} failed: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    r.lookup_p50_ms = ms(&lookups, 0.5);
    r.lookup_p99_ms = ms(&lookups, 0.99);
    // Correlation by a record key (one span's attribute), and the health views.
    let mut urls = Vec::new();
    for k in 0..200u64 {
        let client = k % args.concurrency as u64;
        let batch_no = (k * 7919) % batches_per_client;
        let span_no = (k * 104_729) % args.batch as u64;
        let record = profile.record_key(client, batch_no * args.batch as u64, span_no);
        urls.push(format!("http://{}/api/v1/correlate/{record}", weir.web));
    }
    let h = timed_gets(&http, &urls).await?;
    (r.correlate_p50_ms, r.correlate_p99_ms) = (ms(&h, 0.5), ms(&h, 0.99));
    // Full-text log search over every stored log: one record's words (a
    // phrase that matches one log), and a phrase one log in 40 holds.
    let logs_per_client = args.logs / args.concurrency as u64;
    let search = |q: String| {
        reqwest::Url::parse_with_params(
            &format!("http://{}/api/v1/search", weir.web),
            &[("signal", "logs"), ("limit", "20"), ("q", q.as_str())],
        )
        .expect("a valid URL")
        .to_string()
    };
    let urls: Vec<String> = (0..200u64)
        .map(|k| {
            let client = k % args.concurrency as u64;
            let seq = (k * 7919) % logs_per_client.max(1);
            search(format!("\"processed record rec-{client}-{seq}\""))
        })
        .collect();
    let h = timed_gets(&http, &urls).await?;
    (r.log_search_p50_ms, r.log_search_p99_ms) = (ms(&h, 0.5), ms(&h, 0.99));
    let urls: Vec<String> = (0..200u64)
        .map(|k| search(format!("\"in {} ms\"", k % 40)))
        .collect();
    let h = timed_gets(&http, &urls).await?;
    (r.log_search_broad_p50_ms, r.log_search_broad_p99_ms) = (ms(&h, 0.5), ms(&h, 0.99));
    let h = timed_gets(
        &http,
        &vec![format!("http://{}/api/v1/components?window=15m", weir.web); 200],
    )
    .await?;
    (r.components_p50_ms, r.components_p99_ms) = (ms(&h, 0.5), ms(&h, 0.99));
    let h = timed_gets(
        &http,
        &vec![format!("http://{}/api/v1/topology?window=15m", weir.web); 200],
    )
    .await?;
    (r.topology_p50_ms, r.topology_p99_ms) = (ms(&h, 0.5), ms(&h, 0.99));
    // Dashboard pages, rendered on the server, with everything above stored.
    // Pages about one record or trace ask for a different one each time, as
    // people do, so caches do not flatter them.
    for (_, path) in PAGES {
        let page_urls: Vec<String> = (0..100usize)
            .map(|k| {
                let record = urls[k].rsplit('/').next().unwrap_or_default().to_string();
                let trace = stored_trace(k as u64, 13);
                let path = path
                    .replace("{trace}", &trace)
                    .replace("{record}", &record)
                    .replace("{component}", profile.component());
                format!("http://{}{path}", weir.web)
            })
            .collect();
        let h = timed_gets(&http, &page_urls).await?;
        r.pages.push((ms(&h, 0.5), ms(&h, 0.99)));
    }
    r.peak_rss_mib = peak_rss_mib(pid);
    r.peak_anon_mib = anon.peak_mib();
    r.span_index_bytes_per_span =
        dir_bytes(&weir.data_dir.join("index/spans")) as f64 / r.spans_stored.max(1) as f64;

    weir.stop().await;
    Ok(r)
}

/// The dashboard pages the benchmark times.
const PAGES: [(&str, &str); 6] = [
    ("overview", "/?window=15m"),
    ("component", "/components/{component}?window=1h"),
    ("search", "/search?q=status:error&window=24h"),
    ("correlate", "/correlate?id={record}"),
    ("trace", "/traces/{trace}"),
    ("alerts", "/alerts"),
];

/// GETs each URL in turn; the latency histogram (µs). Any non-2xx fails the run.
async fn timed_gets(http: &reqwest::Client, urls: &[String]) -> Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for url in urls {
        let t = Instant::now();
        let resp = http.get(url).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        h.record(t.elapsed().as_micros().max(1) as u64)?;
        if !status.is_success() {
            bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
        }
    }
    Ok(h)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match &args.weir {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("weir"),
    };
    if !binary.exists() {
        bail!(
            "{} not found: build it with `cargo build --release` or pass --weir",
            binary.display()
        );
    }
    if args.alerts {
        return alerting(&args, &binary).await;
    }
    if args.cluster {
        return cluster::run(&args, &binary).await;
    }
    if args.overload {
        return overloaded(&args, &binary).await;
    }
    if args.bare_only {
        for profile in args.profile.clone() {
            let mut rates = Vec::new();
            for _ in 0..args.runs {
                rates.push(bare::run(profile, args.spans, args.concurrency, args.batch).await?);
                eprintln!(
                    "{} bare: {:.0} docs/s",
                    profile.as_str(),
                    rates.last().unwrap()
                );
            }
            println!(
                "| bare index, {} profile (docs/s, median of {}) | {:.0} |",
                profile.as_str(),
                rates.len(),
                median(rates)
            );
        }
        return Ok(());
    }
    if args.soak {
        return soak::run(
            &binary,
            soak::SoakPlan {
                minutes: args.soak_minutes,
                kills: args.soak_kills,
                load_share: args.soak_load,
                tmpfs_mib: args.soak_disk_mib,
            },
        )
        .await;
    }
    for profile in args.profile.clone() {
        let (new, old) = measure(&args, &binary, profile).await?;
        report::print(&args, profile, &new, old.as_deref());
    }
    Ok(())
}

/// The runs of one profile: `--runs` of the new binary, or with
/// `--baseline` at least three pairs, old then new, alternating.
async fn measure(
    args: &Args,
    binary: &Path,
    profile: Profile,
) -> Result<(Vec<RunResult>, Option<Vec<RunResult>>)> {
    let pairs = if args.baseline.is_some() {
        args.runs.max(3)
    } else {
        args.runs
    };
    let mut new = Vec::new();
    let mut old = Vec::new();
    for i in 0..pairs {
        if let Some(baseline) = &args.baseline {
            let r = one_run(args, baseline, profile)
                .await
                .with_context(|| format!("{} run {} of the baseline", profile.as_str(), i + 1))?;
            eprintln!("{} run {} (baseline): {r:?}", profile.as_str(), i + 1);
            old.push(r);
        }
        let mut r = one_run(args, binary, profile)
            .await
            .with_context(|| format!("{} run {}", profile.as_str(), i + 1))?;
        if args.bare {
            r.bare_docs_per_s =
                Some(bare::run(profile, args.spans, args.concurrency, args.batch).await?);
        }
        eprintln!("{} run {}: {r:?}", profile.as_str(), i + 1);
        new.push(r);
    }
    Ok((new, args.baseline.is_some().then_some(old)))
}

/// One overload figure read from a run.
type OverloadValue = fn(&overload::OverloadFigures) -> f64;

async fn overloaded(args: &Args, binary: &Path) -> Result<()> {
    let profile = args.profile.first().copied().unwrap_or(Profile::Default);
    let mut runs: Vec<(&str, overload::OverloadFigures)> = Vec::new();
    for i in 0..args.runs {
        let mut binaries = vec![("new", binary)];
        if let Some(old) = &args.baseline {
            binaries.insert(0, ("baseline", old.as_path()));
        }
        for (label, b) in binaries {
            let f = overload::run(
                b,
                profile,
                args.spans,
                args.concurrency,
                args.batch,
                args.overload_factor,
            )
            .await
            .with_context(|| format!("overload run {} of {label}", i + 1))?;
            eprintln!("overload run {} ({label}): {f:?}", i + 1);
            runs.push((label, f));
        }
    }
    println!(
        "| figure ({} profile, offered {}× the sustained rate open loop for 20 s) | binary | median of {} runs |",
        profile.as_str(),
        args.overload_factor,
        args.runs
    );
    println!("|---|---|---|");
    for label in ["baseline", "new"] {
        let of: Vec<_> = runs
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, f)| *f)
            .collect();
        if of.is_empty() {
            continue;
        }
        let rows: [(&str, usize, OverloadValue); 13] = [
            ("spans/s acknowledged, closed loop (sustained)", 0, |f| {
                f.sustained
            }),
            ("spans/s offered, open loop", 0, |f| f.offered),
            ("spans/s acknowledged under overload", 0, |f| f.acknowledged),
            ("acknowledged under overload / sustained", 2, |f| {
                f.acknowledged / f.sustained
            }),
            ("exports refused per second", 0, |f| f.refusals_per_s),
            ("of which refused after decoding", 0, |f| {
                f.refused_after_decoding_per_s
            }),
            ("weir's cores, closed loop", 2, |f| f.weir_cores_sustained),
            ("weir's cores, open loop", 2, |f| f.weir_cores_overload),
            ("the generator's cores, closed loop", 2, |f| {
                f.generator_cores_sustained
            }),
            ("the generator's cores, open loop", 2, |f| {
                f.generator_cores_overload
            }),
            (
                "spans acknowledged per weir CPU-second, closed loop",
                0,
                |f| f.sustained / f.weir_cores_sustained.max(1e-3),
            ),
            (
                "spans acknowledged per weir CPU-second, open loop",
                0,
                |f| f.acknowledged / f.weir_cores_overload.max(1e-3),
            ),
            ("peak RSS (MiB)", 0, |f| f.peak_rss_mib),
        ];
        for (figure, decimals, value) in rows {
            let m = median(of.iter().map(value).collect());
            println!("| {figure} | {label} | {m:.decimals$} |");
        }
    }
    Ok(())
}

async fn alerting(args: &Args, binary: &Path) -> Result<()> {
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let r = alerts::run(binary, args.detection_samples)
            .await
            .with_context(|| format!("alerting run {}", i + 1))?;
        eprintln!("alerting run {}: {r:?}", i + 1);
        runs.push(r);
    }
    let m = |f: fn(&alerts::AlertFigures) -> f64| median(runs.iter().map(f).collect());
    println!("| figure | median of {} runs |", runs.len());
    println!("|---|---|");
    println!(
        "| detection latency p50 / p99 (ms; lag reading acknowledged → webhook received; interval 5s, group_wait 0s; {} samples a run) | {:.0} / {:.0} |",
        args.detection_samples,
        m(|r| r.detection_p50_ms),
        m(|r| r.detection_p99_ms)
    );
    println!(
        "| Prometheus-like settings (gauge every 1 s, max over 5s, for 2s, interval 1s, group_wait 0s): lag jump → firing webhook p50 / p99 (ms; {} cycles a run) | {:.0} / {:.0} |",
        args.detection_samples.div_ceil(2),
        m(|r| r.like_prometheus_fire_p50_ms),
        m(|r| r.like_prometheus_fire_p99_ms)
    );
    println!(
        "| same settings: recovery → resolved webhook p50 / p99 (ms) | {:.0} / {:.0} |",
        m(|r| r.like_prometheus_resolve_p50_ms),
        m(|r| r.like_prometheus_resolve_p99_ms)
    );
    let prometheus = |f: fn(&alerts::AlertFigures) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(f).collect();
        (values.len() == runs.len()).then(|| median(values))
    };
    if let (Some(fire50), Some(fire99), Some(resolve50), Some(resolve99)) = (
        prometheus(|r| r.prometheus_fire_p50_ms),
        prometheus(|r| r.prometheus_fire_p99_ms),
        prometheus(|r| r.prometheus_resolve_p50_ms),
        prometheus(|r| r.prometheus_resolve_p99_ms),
    ) {
        println!(
            "| Debian's Prometheus 2.42 + Alertmanager 0.25 on the same gauge, same run (scrape 1 s): lag jump → firing webhook p50 / p99 (ms) | {fire50:.0} / {fire99:.0} |"
        );
        println!(
            "| Prometheus + Alertmanager: recovery → resolved webhook p50 / p99 (ms) | {resolve50:.0} / {resolve99:.0} |"
        );
        println!(
            "| weir / Prometheus, firing p50 / p99 | {:.2} / {:.2} |",
            m(|r| r.like_prometheus_fire_p50_ms) / fire50,
            m(|r| r.like_prometheus_fire_p99_ms) / fire99
        );
        println!(
            "| weir / Prometheus, resolved p50 / p99 | {:.2} / {:.2} |",
            m(|r| r.like_prometheus_resolve_p50_ms) / resolve50,
            m(|r| r.like_prometheus_resolve_p99_ms) / resolve99
        );
    }
    println!(
        "| evaluation of 1,000 rules × 100 components p50 / p99 (ms, steady state, 20 evaluations a run) | {:.1} / {:.1} |",
        m(|r| r.eval_p50_ms),
        m(|r| r.eval_p99_ms)
    );
    println!(
        "| slowest evaluation while the data arrives (ms, includes writing every alert that changes state) | {:.1} |",
        m(|r| r.eval_settling_ms)
    );
    Ok(())
}
