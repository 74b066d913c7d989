//! `weir-bench --soak`: sustained ingest at a share of the measured capacity
//! while weir is killed with SIGKILL at random moments, its disk is filled and
//! freed, and its database is write-locked by another process; at the end
//! every acknowledged span must be stored exactly once, RSS must have stayed
//! under its cap, and no process may have grown its file descriptors or
//! threads.
//!
//! The data directory is a tmpfs the benchmark mounts (it needs root), so
//! "the disk is full" is a real ENOSPC. Everything is bounded in time.

use crate::{Weir, data, free_addr, ms};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio::sync::Mutex;

/// Spans per export: traces of four spans.
const BATCH: usize = 200;
/// Exporters.
const CLIENTS: u64 = 6;
/// Anonymous memory (heap) above this fails the soak: index heaps (192 MiB),
/// the ingest budget (16 MiB), tantivy merges and readers, with room to
/// spare. VmRSS is reported too but not capped: it also counts the pages of
/// the memory-mapped index that are resident, which on the soak's tmpfs are
/// the index itself and grow with it.
const RSS_CAP_MIB: f64 = 1024.0;

/// What the soak was told to do.
pub struct SoakPlan {
    pub minutes: f64,
    pub kills: usize,
    pub load_share: f64,
    pub tmpfs_mib: u64,
}

/// Acknowledged exports: (client, first seq) of each, to check afterwards.
#[derive(Default)]
struct Ledger {
    acknowledged: Vec<(u64, u64)>,
    refused: u64,
    connection_errors: u64,
}

/// Uniform numbers in [0, 1) from a clock-seeded xorshift: the moments of
/// the kills differ between runs, as a real crash's would.
fn rng_from_clock() -> impl FnMut() -> f64 {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x5eed, |d| d.as_nanos() as u64)
        | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(mib: u64) -> Result<Tmpfs> {
        let dir = tempfile::Builder::new()
            .prefix("weir-soak")
            .tempdir()?
            .keep();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .context("mount")?;
        if !status.success() {
            bail!(
                "cannot mount a tmpfs at {} (the soak needs root)",
                dir.display()
            );
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn proc_field(pid: u32, field: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// One weir process's resource samples.
#[derive(Default, Debug, Clone, Copy)]
struct Lifetime {
    fds_first: usize,
    fds_last: usize,
    fds_max: usize,
    threads_first: f64,
    threads_last: f64,
    rss_max_mib: f64,
    anon_max_mib: f64,
    samples: usize,
}

async fn start(binary: &Path, data_dir: &Path, config: &Path, ports: &Ports) -> Result<Weir> {
    let mut cmd = Command::new(binary);
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting weir")?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        // Ready, or up but refusing for a full disk: both serve probes.
        if let Ok(r) = client
            .get(format!("http://{}/healthz", ports.web))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("weir did not come up in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Weir {
        child,
        grpc: ports.grpc,
        http: ports.http,
        web: ports.web,
        data_dir: data_dir.to_path_buf(),
    })
}

struct Ports {
    grpc: std::net::SocketAddr,
    http: std::net::SocketAddr,
    web: std::net::SocketAddr,
}

/// Sends exports from `CLIENTS` exporters at `rate` spans/s in total (0:
/// as fast as weir takes them) until `stop`, retrying refusals and lost
/// connections as OTel exporters do, and records what was acknowledged.
async fn load(
    grpc: std::net::SocketAddr,
    rate: f64,
    first_seq: u64,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    sent_spans: Arc<AtomicU64>,
) -> Result<()> {
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let stop = stop.clone();
        let ledger = ledger.clone();
        let sent_spans = sent_spans.clone();
        tasks.push(tokio::spawn(async move {
            let endpoint = format!("http://{grpc}");
            let per_client = rate / CLIENTS as f64;
            let interval = if per_client > 0.0 {
                Duration::from_secs_f64(BATCH as f64 / per_client)
            } else {
                Duration::ZERO
            };
            let mut next = Instant::now();
            let mut seq = first_seq;
            let mut client = None;
            while !stop.load(Ordering::Relaxed) {
                let start_seq = seq;
                let request = data::spans(c, &mut seq, BATCH);
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return anyhow::Ok(());
                    }
                    if client.is_none() {
                        client = TraceServiceClient::connect(endpoint.clone()).await.ok();
                    }
                    let Some(cl) = client.as_mut() else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    match cl.export(request.clone()).await {
                        Ok(_) => {
                            ledger.lock().await.acknowledged.push((c, start_seq));
                            sent_spans.fetch_add(BATCH as u64, Ordering::Relaxed);
                            break;
                        }
                        Err(s) if s.code() == tonic::Code::Unavailable => {
                            let mut l = ledger.lock().await;
                            if s.message().contains("transport") || s.message().contains("connect")
                            {
                                l.connection_errors += 1;
                                client = None;
                            } else {
                                l.refused += 1;
                            }
                            drop(l);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(_) => {
                            ledger.lock().await.connection_errors += 1;
                            client = None;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                if !interval.is_zero() {
                    next += interval;
                    let now = Instant::now();
                    if next > now {
                        tokio::time::sleep(next - now).await;
                    } else if now - next > Duration::from_secs(5) {
                        // Behind after an outage: do not burst to catch up.
                        next = now;
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn indexed_spans(web: std::net::SocketAddr) -> Option<u64> {
    let text = reqwest::get(format!("http://{web}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("weir_index_documents{signal=\"spans\"} "))
        .and_then(|v| v.trim().parse().ok())
}

/// Fills the tmpfs until ENOSPC, holds it, then frees it.
async fn fill_disk(mount: &Path, hold: Duration) -> Result<()> {
    let filler = mount.join("filler");
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", filler.display()))
        .args(["bs=1M", "status=none"])
        .status()
        .await?;
    tokio::time::sleep(hold).await;
    std::fs::remove_file(&filler)?;
    Ok(())
}

/// Holds SQLite's write lock on weir's database for `hold`.
async fn lock_database(data_dir: &Path, hold: Duration) -> Result<()> {
    let mut locker = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3, sys, time\n\
             db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
             db.execute('BEGIN IMMEDIATE')\n\
             time.sleep({})\n",
            hold.as_secs_f64()
        ))
        .arg(data_dir.join("weir.db"))
        .kill_on_drop(true)
        .spawn()?;
    locker.wait().await?;
    Ok(())
}

pub async fn run(binary: &Path, plan: SoakPlan) -> Result<()> {
    let disk = Tmpfs::mount(plan.tmpfs_mib)?;
    let data_dir = disk.0.join("data");
    let side = tempfile::tempdir()?;
    let config = side.path().join("weir.toml");
    let ports = Ports {
        grpc: free_addr(),
        http: free_addr(),
        web: free_addr(),
    };
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[listen]\notlp_grpc = \"{}\"\notlp_http = \"{}\"\nweb = \"{}\"\n",
            data_dir.display().to_string(),
            ports.grpc,
            ports.http,
            ports.web
        ),
    )?;
    let mut weir = start(binary, &data_dir, &config, &ports).await?;

    // Capacity: 20 s as fast as weir takes spans.
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let warm = tokio::spawn(load(
        weir.grpc,
        0.0,
        0,
        stop.clone(),
        ledger.clone(),
        sent.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(20)).await;
    stop.store(true, Ordering::Relaxed);
    warm.await??;
    let capacity = sent.load(Ordering::Relaxed) as f64 / 20.0;
    let rate = capacity * plan.load_share;
    println!(
        "capacity {capacity:.0} spans/s; soaking at {rate:.0} spans/s for {} min",
        plan.minutes
    );

    let total = Duration::from_secs_f64(plan.minutes * 60.0);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    // Sequence numbers of the soak start far above the capacity run's.
    let loader = tokio::spawn(load(
        weir.grpc,
        rate,
        1 << 32,
        stop.clone(),
        ledger.clone(),
        sent.clone(),
    ));

    // Probes: /healthz every second while the process is up.
    let probe_stop = Arc::new(AtomicBool::new(false));
    let probes = {
        let stop = probe_stop.clone();
        let web = ports.web;
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client");
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut down = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.get(format!("http://{web}/healthz")).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    _ => down += 1,
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (h, down)
        })
    };

    // The chaos schedule: kills spread over the run with jitter, two disk
    // fills, one database lock.
    let mut rng = rng_from_clock();
    let mut events: Vec<(Duration, &str)> = Vec::new();
    for k in 0..plan.kills {
        let slot = total.as_secs_f64() / (plan.kills + 1) as f64;
        let at = slot * (k as f64 + 0.5 + rng() * 0.8);
        events.push((Duration::from_secs_f64(at), "kill"));
    }
    events.push((total.mul_f64(0.28), "fill"));
    events.push((total.mul_f64(0.52), "lock"));
    events.push((total.mul_f64(0.76), "fill"));
    events.sort_by_key(|e| e.0);

    let mut lifetimes: Vec<Lifetime> = Vec::new();
    let mut current = Lifetime::default();
    let mut kills_done = 0;
    let mut fills_done = 0;
    let mut locks_done = 0;
    let mut events = events.into_iter().peekable();
    while started.elapsed() < total {
        if let Some((at, what)) = events.peek().copied()
            && started.elapsed() >= at
        {
            events.next();
            match what {
                "kill" => {
                    weir.child.start_kill()?;
                    weir.child.wait().await?;
                    lifetimes.push(current);
                    current = Lifetime::default();
                    weir = start(binary, &data_dir, &config, &ports).await?;
                    kills_done += 1;
                }
                "fill" => {
                    fill_disk(&disk.0, Duration::from_secs(30)).await?;
                    fills_done += 1;
                }
                _ => {
                    lock_database(&data_dir, Duration::from_secs(30)).await?;
                    locks_done += 1;
                }
            }
            continue;
        }
        let pid = weir.child.id().unwrap_or(0);
        if let (Some(fds), Some(threads), Some(rss), Some(anon)) = (
            open_fds(pid),
            proc_field(pid, "Threads:"),
            proc_field(pid, "VmRSS:"),
            proc_field(pid, "RssAnon:"),
        ) {
            current.anon_max_mib = current.anon_max_mib.max(anon / 1024.0);
            // The first samples of a process are its start-up, not growth.
            if current.samples == 3 {
                current.fds_first = fds;
                current.threads_first = threads;
            }
            current.samples += 1;
            current.fds_last = fds;
            current.fds_max = current.fds_max.max(fds);
            current.threads_last = threads;
            current.rss_max_mib = current.rss_max_mib.max(rss / 1024.0);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    lifetimes.push(current);
    stop.store(true, Ordering::Relaxed);
    loader.await??;
    probe_stop.store(true, Ordering::Relaxed);
    let (probe_hist, probe_down) = probes.await?;

    // Everything acknowledged must be stored once: wait until the index holds
    // at least what was acknowledged, then check the total and a sample.
    let ledger = ledger.lock().await;
    let acknowledged_spans = ledger.acknowledged.len() as u64 * BATCH as u64;
    let waited = Instant::now();
    let stored = loop {
        let stored = indexed_spans(weir.web).await.unwrap_or(0);
        if stored >= acknowledged_spans || waited.elapsed() > Duration::from_secs(300) {
            break stored;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let http = reqwest::Client::new();
    let mut sample_bad = 0;
    let mut sample_retried = 0;
    let samples = 500.min(ledger.acknowledged.len());
    let mut pick = rng_from_clock();
    for _ in 0..samples {
        let (c, seq) = ledger.acknowledged[(pick() * ledger.acknowledged.len() as f64) as usize];
        let id = hex::encode(data::trace_id(c, seq + 1));
        let r = http
            .get(format!("http://{}/api/v1/traces/{id}", weir.web))
            .send()
            .await?;
        let spans = if r.status().is_success() {
            r.json::<serde_json::Value>().await?["spans"]
                .as_array()
                .map_or(0, |a| a.len())
        } else {
            0
        };
        match spans {
            4 => {}
            // Sent once before a kill (fsynced, never answered) and again
            // by the exporter's retry: at-least-once, allowed.
            8 => sample_retried += 1,
            _ => sample_bad += 1,
        }
    }
    let fd_growth = lifetimes
        .iter()
        .filter(|l| l.samples > 6)
        .map(|l| l.fds_last as i64 - l.fds_first as i64)
        .max()
        .unwrap_or(0);
    let thread_growth = lifetimes
        .iter()
        .filter(|l| l.samples > 6)
        .map(|l| l.threads_last - l.threads_first)
        .fold(0.0, f64::max);
    let rss_max = lifetimes.iter().map(|l| l.rss_max_mib).fold(0.0, f64::max);
    let anon_max = lifetimes.iter().map(|l| l.anon_max_mib).fold(0.0, f64::max);

    println!("| what | figure |");
    println!("|---|---|");
    println!(
        "| duration | {:.1} min |",
        started.elapsed().as_secs_f64() / 60.0
    );
    println!("| capacity measured first | {capacity:.0} spans/s |");
    println!(
        "| offered load | {rate:.0} spans/s ({:.0} %) |",
        plan.load_share * 100.0
    );
    println!("| kill -9 and restart | {kills_done} |");
    println!("| disk filled to ENOSPC and freed | {fills_done} |");
    println!("| database write-locked for 30 s | {locks_done} |");
    println!("| spans acknowledged | {acknowledged_spans} |");
    println!("| spans indexed at the end | {stored} |");
    println!(
        "| sampled acknowledged traces stored whole and once | {}/{} ({sample_retried} twice: resent after a kill) |",
        samples - sample_bad - sample_retried,
        samples
    );
    let retried_bound = ledger.connection_errors * BATCH as u64;
    println!(
        "| spans stored beyond those acknowledged | {} (at most {retried_bound}: exports resent after a lost connection) |",
        stored.saturating_sub(acknowledged_spans)
    );
    println!(
        "| refusals retried (503 / UNAVAILABLE) | {} |",
        ledger.refused
    );
    println!(
        "| exports that lost their connection (weir down) | {} |",
        ledger.connection_errors
    );
    println!(
        "| /healthz p50 / p99 / max while up | {:.1} / {:.1} / {:.1} ms ({} probes, {probe_down} while down) |",
        ms(&probe_hist, 0.5),
        ms(&probe_hist, 0.99),
        probe_hist.max() as f64 / 1000.0,
        probe_hist.len()
    );
    println!(
        "| peak anonymous memory (RssAnon) of any process | {anon_max:.0} MiB (cap {RSS_CAP_MIB:.0}) |"
    );
    println!("| peak VmRSS, with resident pages of the mapped index | {rss_max:.0} MiB |");
    println!(
        "| largest growth of open files / threads within one process | {fd_growth} / {thread_growth:.0} |"
    );

    let mut failures = Vec::new();
    if stored < acknowledged_spans || stored > acknowledged_spans + retried_bound {
        failures.push(format!(
            "{stored} spans indexed for {acknowledged_spans} acknowledged"
        ));
    }
    if sample_bad > 0 {
        failures.push(format!(
            "{sample_bad} sampled traces not stored whole and once"
        ));
    }
    if anon_max > RSS_CAP_MIB {
        failures.push(format!("anonymous memory reached {anon_max:.0} MiB"));
    }
    if ms(&probe_hist, 0.99) > 1000.0 {
        failures.push("probe p99 above 1 s".into());
    }
    if fd_growth > 16 || thread_growth > 4.0 {
        failures.push(format!(
            "a process grew {fd_growth} file descriptors / {thread_growth} threads"
        ));
    }
    let _ = weir.child.start_kill();
    let _ = weir.child.wait().await;
    if failures.is_empty() {
        println!("\nsoak passed");
        Ok(())
    } else {
        bail!("soak failed: {}", failures.join("; "))
    }
}
