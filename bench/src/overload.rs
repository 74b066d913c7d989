//! Overload: what weir acknowledges when offered three times what it can
//! take. First the sustained rate R is measured as in a normal run (closed
//! loop: each exporter sends its next export when the last is answered);
//! then exporters offer 3 × R open loop — exports start on a fixed
//! schedule whatever weir answers, as a fleet's functions do — and weir
//! must keep acknowledging about R while refusing the rest cheaply.

use crate::preencoded::{Exports, RawExporter};
use crate::profile::Profile;
use crate::{TRACE_EXPORT, drive, peak_rss_mib, start_weir};
use anyhow::Result;
use prost::Message;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What one overload run measured.
#[derive(Debug, Clone, Copy)]
pub struct OverloadFigures {
    /// Spans/s acknowledged under closed-loop load.
    pub sustained: f64,
    /// Spans/s offered in the open-loop phase.
    pub offered: f64,
    /// Spans/s acknowledged in the open-loop phase.
    pub acknowledged: f64,
    /// Exports refused (429 / UNAVAILABLE) per second in that phase.
    pub refusals_per_s: f64,
    /// Peak RSS of weir over the run, MiB.
    pub peak_rss_mib: f64,
    /// Exports weir refused after decoding them, per second of the open
    /// loop (the rest were refused on their headers).
    pub refused_after_decoding_per_s: f64,
    /// Cores weir used in the closed loop, and in the open loop.
    pub weir_cores_sustained: f64,
    pub weir_cores_overload: f64,
    /// Cores the generator (this process) used in each phase: it shares
    /// the machine with weir.
    pub generator_cores_sustained: f64,
    pub generator_cores_overload: f64,
}

/// Span exports weir has refused for `reason`, from its `/metrics`.
async fn refusals(web: std::net::SocketAddr, reason: &str) -> Result<f64> {
    let text = reqwest::get(format!("http://{web}/metrics"))
        .await?
        .text()
        .await?;
    let wanted = format!("reason=\"{reason}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("weir_refused_requests_total{") && l.contains(&wanted))
        .filter(|l| l.contains("signal=\"spans\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// CPU seconds (user + system) process `pid` has used, from /proc.
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 here.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// USER_HZ: 100 on every Linux architecture weir runs on.
fn clock_ticks_per_second() -> f64 {
    100.0
}

/// CPU seconds of weir and of the generator since `from`, per wall second.
struct CpuMeter {
    weir: String,
    started: Instant,
    weir_from: f64,
    generator_from: f64,
}

impl CpuMeter {
    fn start(weir_pid: u32) -> Self {
        let weir = weir_pid.to_string();
        CpuMeter {
            weir_from: cpu_seconds(&weir),
            generator_from: cpu_seconds("self"),
            weir,
            started: Instant::now(),
        }
    }

    /// (weir cores, generator cores) used since the start.
    fn cores(&self) -> (f64, f64) {
        let wall = self.started.elapsed().as_secs_f64().max(1e-3);
        (
            (cpu_seconds(&self.weir) - self.weir_from) / wall,
            (cpu_seconds("self") - self.generator_from) / wall,
        )
    }
}

/// Distinct requests offered in the open-loop phase, sent round-robin.
const POOL: u64 = 400;
/// How long the open-loop phase offers load.
const WINDOW: Duration = Duration::from_secs(20);
/// Exports in flight at most; past it the generator itself cannot offer more
/// and the run says so.
const MAX_IN_FLIGHT: usize = 2048;

/// One run: sustained phase with `spans` spans, then the open-loop phase at
/// `factor` × the sustained rate.
pub async fn run(
    binary: &Path,
    profile: Profile,
    spans: u64,
    concurrency: usize,
    batch: usize,
    factor: f64,
) -> Result<OverloadFigures> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench-overload")
        .tempdir_in(std::env::var("WEIR_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    let mut weir = start_weir(binary, root.path(), None, true, None).await?;
    let pid = weir.child.id().unwrap_or(0);
    let endpoint = format!("http://{}", weir.grpc);

    let bodies = Exports::build(spans, concurrency, batch, |c, seq, n| {
        Ok(profile.spans(c, seq, n).encode_to_vec())
    })?;
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        clients.push(RawExporter::connect(&endpoint, TRACE_EXPORT).await?);
    }
    let clients = Arc::new(clients);
    let meter = CpuMeter::start(pid);
    let (sustained, _) = drive(spans, concurrency, batch, move |c, seq, _| {
        let mut client = clients[c as usize].clone();
        let body = bodies.body(c, seq);
        async move { client.export_retrying(body).await }
    })
    .await?;
    let (weir_cores_sustained, generator_cores_sustained) = meter.cores();

    // Open loop: one export every `interval`, on as many connections as the
    // closed loop had, whatever weir answers.
    let pool = Exports::build(POOL * batch as u64, 1, batch, |_, seq, n| {
        Ok(profile.spans(500, seq, n).encode_to_vec())
    })?;
    let exports_per_s = factor * sustained / batch as f64;
    let interval = Duration::from_secs_f64(1.0 / exports_per_s);
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        senders.push(RawExporter::connect(&endpoint, TRACE_EXPORT).await?);
    }
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut offered = 0u64;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let after_decoding_before = refusals(weir.web, "overloaded after decoding").await?;
    let started = Instant::now();
    let meter = CpuMeter::start(pid);
    while started.elapsed() < WINDOW {
        ticker.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            anyhow::bail!(
                "the generator has {MAX_IN_FLIGHT} exports in flight: it cannot offer {factor}× here"
            );
        };
        let mut client = senders[(offered % concurrency as u64) as usize].clone();
        let body = pool.body(0, (offered % POOL) * batch as u64);
        let (acked, refused) = (acked.clone(), refused.clone());
        offered += 1;
        tokio::spawn(async move {
            match client.export(body).await {
                Ok(()) => acked.fetch_add(1, Ordering::Relaxed),
                Err(_) => refused.fetch_add(1, Ordering::Relaxed),
            };
            drop(permit);
        });
    }
    let window = started.elapsed().as_secs_f64();
    let (weir_cores_overload, generator_cores_overload) = meter.cores();
    let after_decoding =
        refusals(weir.web, "overloaded after decoding").await? - after_decoding_before;
    // Answers still on their way count: they were offered inside the window.
    let _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32).await;
    let figures = OverloadFigures {
        sustained,
        offered: offered as f64 * batch as f64 / window,
        acknowledged: acked.load(Ordering::Relaxed) as f64 * batch as f64 / window,
        refusals_per_s: refused.load(Ordering::Relaxed) as f64 / window,
        refused_after_decoding_per_s: after_decoding / window,
        peak_rss_mib: peak_rss_mib(pid),
        weir_cores_sustained,
        weir_cores_overload,
        generator_cores_sustained,
        generator_cores_overload,
    };
    weir.stop().await;
    Ok(figures)
}
