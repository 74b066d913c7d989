//! `weir-bench --cluster`: spans/s acknowledged by one and by two weir
//! nodes on NATS JetStream, S3-compatible storage and PostgreSQL, beside
//! the embedded mode on the same data in the same run; ingest → searchable
//! latency and trace lookups measured on the node the probe did not export
//! to; object-store bytes per span. `bench/scripts/with-cluster-engines.sh`
//! starts the engines and passes their addresses.
//!
//! On one machine the nodes share its cores with each other and with the
//! engines, so two nodes measure the cost of the cluster's coordination,
//! not its capacity; docs/CAPACITY.md turns the per-stage figures into a
//! sizing.

use crate::preencoded::Exports;
use crate::profile::Profile;
use crate::report::median;
use crate::{Args, Weir, ms, searchable_probe, start_weir};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use prost::Message;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where the engines are, from the environment the script sets.
struct Engines {
    nats: String,
    s3_endpoint: String,
    bucket: String,
    database_url: String,
}

impl Engines {
    fn from_env() -> Result<Engines> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| {
                format!("{name} is not set: run under bench/scripts/with-cluster-engines.sh")
            })
        };
        Ok(Engines {
            nats: var("NATS_URLS")?,
            s3_endpoint: var("S3_ENDPOINT")?,
            bucket: var("S3_BUCKET")?,
            database_url: var("PG_URL")?,
        })
    }
}

#[derive(Debug, Default, Clone)]
struct ClusterRun {
    embedded_spans_per_s: f64,
    one_node_spans_per_s: f64,
    two_nodes_spans_per_s: f64,
    searchable_p50_ms: f64,
    searchable_p99_ms: f64,
    lookup_p50_ms: f64,
    lookup_p99_ms: f64,
    /// Lookups on a node whose cache holds nothing (NaN: not supported).
    cold_lookup_p50_ms: f64,
    cold_lookup_p99_ms: f64,
    split_bytes_per_span: f64,
    /// CPU of the weir process per span, receive to searchable.
    embedded_cpu_us_per_span: f64,
    /// The same for one cluster node.
    node_cpu_us_per_span: f64,
    /// CPU of the engines (NATS, SeaweedFS, PostgreSQL) per span meanwhile.
    engines_cpu_us_per_span: f64,
}

/// Processes of the engines on this machine, by command name.
fn engine_pids() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            matches!(comm.trim(), "nats-server" | "weed" | "postgres")
        })
        .collect()
}

/// CPU seconds used so far by `pids` together.
fn cpu_of(pids: &[String]) -> f64 {
    pids.iter().map(|p| crate::overload::cpu_seconds(p)).sum()
}

/// Trace lookups on a node whose cache holds nothing (`cache_max_bytes` 1):
/// before each, the cache has evicted what the last one fetched. NaN when
/// the node cannot answer them (a weir that searches only its cache).
async fn cold_lookups(args: &Args, profile: Profile, cold: &Weir) -> Result<(f64, f64)> {
    let empty = || async {
        Ok::<_, anyhow::Error>(
            crate::scrape(cold.web, "weir_cluster_cache_bytes").await? == 0.0
                && crate::scrape(cold.web, "weir_cluster_cache_misses_total").await? > 0.0,
        )
    };
    let http = reqwest::Client::new();
    let mut lookups = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for k in 0..args.lookups.min(100) as u64 {
        let waited = Instant::now();
        while !empty().await? {
            if waited.elapsed() > Duration::from_secs(120) {
                bail!("the cold node's cache does not empty");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let id = crate::stored_trace(args, profile, k * 37, 0);
        let t = Instant::now();
        let resp = http
            .get(format!("http://{}/api/v1/traces/{id}", cold.web))
            .send()
            .await?;
        let status = resp.status();
        let _ = resp.bytes().await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok((f64::NAN, f64::NAN));
        }
        if !status.is_success() {
            bail!("cold lookup of trace {id} failed: {status}");
        }
        lookups.record(t.elapsed().as_micros().max(1) as u64)?;
    }
    Ok((ms(&lookups, 0.5), ms(&lookups, 0.99)))
}

/// Waits until `weir` finds every one of `expected` spans.
async fn until_searchable(weir: &Weir, expected: u64) -> Result<()> {
    let waited = Instant::now();
    while crate::indexed_spans(weir.web).await? < expected {
        if waited.elapsed() > Duration::from_secs(600) {
            bail!("the node does not see all {expected} spans after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A database of its own for one measurement.
fn fresh_database(admin_url: &str, name: &str) -> Result<String> {
    let status = std::process::Command::new("psql")
        .args([admin_url, "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .context("psql is needed (apt-get install postgresql-client)")?;
    if !status.success() {
        bail!("cannot create database {name}");
    }
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

fn node_config(
    args: &Args,
    engines: &Engines,
    db: &str,
    stream: &str,
    node: &str,
    dir: &Path,
    cluster_extra: &str,
) -> Result<std::path::PathBuf> {
    let urls: Vec<String> = engines.nats.split(',').map(|u| format!("{u:?}")).collect();
    let lag = match args.cluster_max_indexing_lag.as_str() {
        "" => String::new(),
        bound => format!("max_indexing_lag = {bound:?}\n"),
    };
    let text = format!(
        "[database]\nurl = {db:?}\n[ingest]\ncommit_interval = {:?}\n[cluster]\n{cluster_extra}{lag}node_id = {node:?}\nnats_urls = [{}]\npartitions = {}\n\
         [cluster.stream]\nname = {stream:?}\nreplicas = {}\nmax_bytes = 1073741824\n\
         [cluster.object_store]\nurl = \"s3://{}/{stream}\"\nendpoint = {:?}\n",
        args.cluster_commit_interval,
        urls.join(", "),
        args.cluster_partitions,
        if urls.len() >= 3 { 3 } else { 1 },
        engines.bucket,
        engines.s3_endpoint,
    );
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Sends the run's spans to `nodes` (exporter c to node c mod n); spans/s.
async fn ingest(args: &Args, nodes: &[&Weir], bodies: Arc<Exports>) -> Result<f64> {
    let addrs: Vec<SocketAddr> = nodes.iter().map(|w| w.grpc).collect();
    Ok(crate::send_spans(args, &addrs, bodies).await?.0)
}

fn build_bodies(args: &Args, profile: Profile) -> Result<Arc<Exports>> {
    Exports::build(args.spans, args.concurrency, args.batch, |c, seq, n| {
        Ok(profile.spans(c, seq, n).encode_to_vec())
    })
}

async fn one_run(
    args: &Args,
    binary: &Path,
    engines: &Engines,
    run: usize,
    tag: &str,
) -> Result<ClusterRun> {
    let profile = Profile::Default;
    let mut r = ClusterRun::default();
    let root = tempfile::Builder::new()
        .prefix("weir-bench-cluster")
        .tempdir()?;

    // The embedded mode on the same data and load.
    let expected = (args.spans / args.concurrency as u64) * args.concurrency as u64;
    let mut embedded = start_weir(binary, &root.path().join("embedded"), None, true, None).await?;
    let pid = [embedded.pid()];
    let cpu_from = cpu_of(&pid);
    r.embedded_spans_per_s = ingest(args, &[&embedded], build_bodies(args, profile)?).await?;
    until_searchable(&embedded, expected).await?;
    r.embedded_cpu_us_per_span = (cpu_of(&pid) - cpu_from) * 1e6 / expected as f64;
    embedded.stop().await;

    for nodes in [1usize, 2] {
        let stream = format!("BENCH_{}_{tag}_{run}_{nodes}", std::process::id());
        let db = fresh_database(&engines.database_url, &stream.to_lowercase())?;
        let mut weirs = Vec::new();
        for n in 0..nodes {
            let dir = root.path().join(format!("{stream}-{n}"));
            std::fs::create_dir_all(&dir)?;
            let config = node_config(args, engines, &db, &stream, &format!("node-{n}"), &dir, "")?;
            weirs.push(start_weir(binary, &dir, None, true, Some(&config)).await?);
        }
        let refs: Vec<&Weir> = weirs.iter().collect();
        let last = refs[nodes - 1];
        let stop = Arc::new(AtomicBool::new(false));
        // Exported to the first node, looked for on the last.
        let probe = tokio::spawn(searchable_probe(refs[0].grpc, last.web, stop.clone()));
        let (node_pids, engine_procs) = (vec![refs[0].pid()], engine_pids());
        let (node_from, engines_from) = (cpu_of(&node_pids), cpu_of(&engine_procs));
        let rate = ingest(args, &refs, build_bodies(args, profile)?).await?;
        stop.store(true, Ordering::Relaxed);
        let (_, searchable) = probe.await??;
        if nodes == 1 {
            r.one_node_spans_per_s = rate;
            until_searchable(last, expected).await?;
            r.node_cpu_us_per_span = (cpu_of(&node_pids) - node_from) * 1e6 / expected as f64;
            r.engines_cpu_us_per_span =
                (cpu_of(&engine_procs) - engines_from) * 1e6 / expected as f64;
        } else {
            r.two_nodes_spans_per_s = rate;
            r.searchable_p50_ms = ms(&searchable, 0.5);
            r.searchable_p99_ms = ms(&searchable, 0.99);
            // Every span visible on the last node, then lookups there.
            until_searchable(last, expected).await?;
            let http = reqwest::Client::new();
            let mut lookups = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            for k in 0..args.lookups as u64 {
                let id = crate::stored_trace(args, profile, k, 0);
                let t = Instant::now();
                let resp = http
                    .get(format!("http://{}/api/v1/traces/{id}", last.web))
                    .send()
                    .await?;
                let status = resp.status();
                let _ = resp.bytes().await?;
                lookups.record(t.elapsed().as_micros().max(1) as u64)?;
                if !status.is_success() {
                    bail!("lookup of trace {id} on the last node failed: {status}");
                }
            }
            r.lookup_p50_ms = ms(&lookups, 0.5);
            r.lookup_p99_ms = ms(&lookups, 0.99);
            let mut uploaded = 0.0;
            for w in &refs {
                uploaded += crate::scrape(w.web, "weir_cluster_split_upload_bytes_total").await?;
            }
            r.split_bytes_per_span = uploaded / expected as f64;
            let dir = root.path().join(format!("{stream}-cold"));
            std::fs::create_dir_all(&dir)?;
            let config = node_config(
                args,
                engines,
                &db,
                &stream,
                "node-cold",
                &dir,
                "cache_max_bytes = 1\n",
            )?;
            let mut cold = start_weir(binary, &dir, None, true, Some(&config)).await?;
            (r.cold_lookup_p50_ms, r.cold_lookup_p99_ms) =
                cold_lookups(args, profile, &cold).await?;
            cold.stop().await;
        }
        for w in &mut weirs {
            w.stop().await;
        }
    }
    Ok(r)
}

/// Runs `args.runs` rounds and prints the medians.
pub async fn run(args: &Args, binary: &Path) -> Result<()> {
    let engines = Engines::from_env()?;
    let (mut runs, mut old_runs) = (Vec::new(), Vec::new());
    for i in 0..args.runs {
        // With --baseline, old then new in each round, on the same engines.
        if let Some(baseline) = &args.baseline {
            let r = one_run(args, baseline, &engines, i, "old").await?;
            eprintln!("cluster run {} (baseline): {r:?}", i + 1);
            old_runs.push(r);
        }
        let r = one_run(args, binary, &engines, i, "new").await?;
        eprintln!("cluster run {}: {r:?}", i + 1);
        runs.push(r);
    }
    println!(
        "## cluster mode, {} spans per run, {} runs (medians)\n",
        args.spans, args.runs
    );
    // (figure, shown with two decimals)
    let figures = [
        ("embedded node, spans/s", false),
        ("one cluster node, spans/s", false),
        ("two cluster nodes, spans/s", false),
        ("one cluster node / embedded", true),
        (
            "ingest → searchable on the other node, p50 ms (two nodes, under load)",
            false,
        ),
        (
            "ingest → searchable on the other node, p99 ms (two nodes, under load)",
            false,
        ),
        (
            "trace lookup on a node that did not ingest it, p50 ms",
            true,
        ),
        (
            "trace lookup on a node that did not ingest it, p99 ms",
            true,
        ),
        ("trace lookup on a node with a cold cache, p50 ms", true),
        ("trace lookup on a node with a cold cache, p99 ms", true),
        ("split bytes uploaded per span", false),
        (
            "embedded node, weir CPU µs per span (receive to searchable)",
            true,
        ),
        (
            "one cluster node, weir CPU µs per span (receive to searchable)",
            true,
        ),
        ("one cluster node, engines' CPU µs per span meanwhile", true),
        ("one cluster node / embedded, by weir CPU per span", true),
    ];
    let values = |runs: &[ClusterRun]| -> Vec<f64> {
        let m = |f: fn(&ClusterRun) -> f64| median(runs.iter().map(f).collect());
        vec![
            m(|r| r.embedded_spans_per_s),
            m(|r| r.one_node_spans_per_s),
            m(|r| r.two_nodes_spans_per_s),
            m(|r| r.one_node_spans_per_s / r.embedded_spans_per_s.max(1.0)),
            m(|r| r.searchable_p50_ms),
            m(|r| r.searchable_p99_ms),
            m(|r| r.lookup_p50_ms),
            m(|r| r.lookup_p99_ms),
            m(|r| r.cold_lookup_p50_ms),
            m(|r| r.cold_lookup_p99_ms),
            m(|r| r.split_bytes_per_span),
            m(|r| r.embedded_cpu_us_per_span),
            m(|r| r.node_cpu_us_per_span),
            m(|r| r.engines_cpu_us_per_span),
            m(|r| r.embedded_cpu_us_per_span / r.node_cpu_us_per_span.max(f64::MIN_POSITIVE)),
        ]
    };
    let new = values(&runs);
    let fmt = |v: f64, precise: bool| {
        if v.is_nan() {
            "n/a".to_string()
        } else if precise {
            format!("{v:.2}")
        } else {
            format!("{v:.0}")
        }
    };
    if old_runs.is_empty() {
        println!("| figure | value |\n|---|---|");
        for ((name, precise), v) in figures.iter().zip(&new) {
            println!("| {name} | {} |", fmt(*v, *precise));
        }
    } else {
        let old = values(&old_runs);
        println!("| figure | baseline | new | new / baseline |\n|---|---|---|---|");
        for (((name, precise), v), o) in figures.iter().zip(&new).zip(&old) {
            let ratio = if o.is_nan() || v.is_nan() {
                "n/a".to_string()
            } else {
                format!("{:.2}", v / o.max(f64::MIN_POSITIVE))
            };
            println!(
                "| {name} | {} | {} | {ratio} |",
                fmt(*o, *precise),
                fmt(*v, *precise),
            );
        }
    }
    Ok(())
}
