//! Alerting figures: detection latency (a lag reading over the threshold is
//! acknowledged → the webhook receives the alert) with a 5 s evaluation
//! interval, and how long one evaluation of 1,000 rules over 100 components
//! takes.

use crate::{Weir, prometheus, start_weir};
use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use shared_gauge::SharedGauge;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use weir_collector::fixtures::exact;
use weir_collector::fixtures::fleet::resource;
use weir_collector::fixtures::{attr_bool as b, attr_str as s};
use weir_core::now_unix_nanos as now_nanos;

/// What one alerting run measured.
#[derive(Debug, Default, Clone)]
pub struct AlertFigures {
    pub detection_p50_ms: f64,
    pub detection_p99_ms: f64,
    pub eval_p50_ms: f64,
    pub eval_p99_ms: f64,
    pub eval_settling_ms: f64,
    pub like_prometheus_fire_p50_ms: f64,
    pub like_prometheus_fire_p99_ms: f64,
    pub like_prometheus_resolve_p50_ms: f64,
    pub like_prometheus_resolve_p99_ms: f64,
    /// Debian's Prometheus + Alertmanager on the same gauge, when installed.
    pub prometheus_fire_p50_ms: Option<f64>,
    pub prometheus_fire_p99_ms: Option<f64>,
    pub prometheus_resolve_p50_ms: Option<f64>,
    pub prometheus_resolve_p99_ms: Option<f64>,
}

/// What the receiver saw: who sent it, component, `firing` or `resolved`,
/// when.
type Told = (Sender, String, String, Instant);

/// Who posted a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Weir,
    Alertmanager,
}

/// A webhook receiver that reports each alert as it arrives: weir posts to
/// `/hook`, Alertmanager to `/alertmanager`.
async fn receiver() -> Result<(String, String, mpsc::UnboundedReceiver<Told>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let route = |sender: Sender| {
        let tx: mpsc::UnboundedSender<Told> = tx.clone();
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    for a in v["alerts"].as_array().into_iter().flatten() {
                        if let (Some(c), Some(status)) =
                            (a["labels"]["component"].as_str(), a["status"].as_str())
                        {
                            let _ = tx.send((sender, c.to_string(), status.to_string(), at));
                        }
                    }
                }
                "ok"
            }
        })
    };
    let app = axum::Router::new()
        .route("/hook", route(Sender::Weir))
        .route("/alertmanager", route(Sender::Alertmanager));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("{base}/hook"), format!("{base}/alertmanager"), rx))
}

fn config(
    root: &Path,
    rules: &str,
    receiver_url: &str,
    group_interval: &str,
) -> Result<std::path::PathBuf> {
    let rules_path = root.join("rules.yaml");
    std::fs::write(&rules_path, rules)?;
    let config = root.join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\nrule_files = [{:?}]\n[[alerts.receivers]]\nname = \"bench\"\nurl = \"{receiver_url}\"\n\
             [[alerts.routes]]\nreceiver = \"bench\"\ngroup_wait = \"0s\"\ngroup_interval = \"{group_interval}\"\n",
            rules_path.display().to_string()
        ),
    )?;
    Ok(config)
}

fn gauge(
    service: &str,
    name: &str,
    unit: &str,
    partition: &str,
    value: f64,
) -> ExportMetricsServiceRequest {
    let mut request = exact::gauge_request(service, name, value);
    let resource_metrics = &mut request.resource_metrics[0];
    resource_metrics.resource = resource(service);
    let metric = &mut resource_metrics.scope_metrics[0].metrics[0];
    metric.unit = unit.into();
    if let Some(metric::Data::Gauge(gauge)) = &mut metric.data {
        gauge.data_points[0].attributes = vec![s("messaging.destination.partition.id", partition)];
    }
    request
}

/// `n` invocations of `service`: the first `errors` fail, the first `cold`
/// are cold starts.
fn invocations(
    service: &str,
    index: u64,
    n: u64,
    errors: u64,
    cold: u64,
) -> ExportTraceServiceRequest {
    let now = now_nanos();
    let spans = (0..n)
        .map(|k| {
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&(index + 1).to_be_bytes());
            trace_id[8..].copy_from_slice(&(k + 1).to_be_bytes());
            Span {
                trace_id: trace_id.to_vec(),
                span_id: (k + 1).to_be_bytes().to_vec(),
                name: "handle".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: now - 1_000_000_000 + k,
                end_time_unix_nano: now - 900_000_000 + k,
                attributes: vec![b("faas.coldstart", k < cold)],
                status: Some(Status {
                    code: if k < errors { 2 } else { 0 },
                    message: String::new(),
                }),
                ..Default::default()
            }
        })
        .collect();
    let mut request = exact::spans_request(service, spans);
    request.resource_spans[0].resource = resource(service);
    request
}

const DETECTION_RULES: &str = r#"groups:
  - name: detection
    interval: 5s
    rules:
      - alert: ConsumerLagging
        kind: lag
        metric: pipeline.iterator_age
        component: bench-consumer-*
        window: 1m
        op: ">"
        threshold: 60000
"#;

/// Sends a lag reading over the threshold for a new component each time, at
/// a random phase of the evaluation interval, and times the webhook.
async fn detection(binary: &Path, samples: usize) -> Result<Histogram<u64>> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench-alerts")
        .tempdir()?;
    let (url, _, mut told) = receiver().await?;
    let config = config(root.path(), DETECTION_RULES, &url, "5s")?;
    let weir = start_weir(binary, root.path(), None, true, Some(&config)).await?;
    let mut client = MetricsServiceClient::connect(format!("http://{}", weir.grpc)).await?;
    let mut latencies = Histogram::<u64>::new(3)?;
    for i in 0..samples {
        // A uniformly random phase against the 5 s evaluation ticks.
        tokio::time::sleep(Duration::from_millis(fastrand_ms(i))).await;
        let component = format!("bench-consumer-{i}");
        let sent = Instant::now();
        client
            .export(gauge(
                &component,
                "pipeline.iterator_age",
                "ms",
                "shard-0",
                120_000.0,
            ))
            .await
            .context("export the lag reading")?;
        let at = wait_told(&mut told, &component, "firing", false).await?.0;
        latencies.record(at.duration_since(sent).as_micros() as u64)?;
    }
    stop(weir).await;
    Ok(latencies)
}

/// Waits up to 30 s for weir to tell `status` for `component`, and with
/// `alertmanager` for Alertmanager to tell it too; when each was told.
async fn wait_told(
    told: &mut mpsc::UnboundedReceiver<Told>,
    component: &str,
    status: &str,
    alertmanager: bool,
) -> Result<(Instant, Option<Instant>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut by_weir, mut by_alertmanager) = (None, None);
    while by_weir.is_none() || (alertmanager && by_alertmanager.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, told.recv()).await {
            Ok(Some((sender, c, s, at))) if c == component && s == status => match sender {
                Sender::Weir => by_weir = by_weir.or(Some(at)),
                Sender::Alertmanager => by_alertmanager = by_alertmanager.or(Some(at)),
            },
            Ok(Some(_)) => continue,
            _ => bail!(
                "no {status} webhook for {component} within 30 s (weir told: {}, Alertmanager told: {})",
                by_weir.is_some(),
                by_alertmanager.is_some()
            ),
        }
    }
    Ok((by_weir.expect("waited for"), by_alertmanager))
}

const PROMETHEUS_LIKE_RULES: &str = r#"groups:
  - name: like-prometheus
    interval: 1s
    rules:
      - alert: ConsumerLagging
        kind: lag
        metric: pipeline.iterator_age
        component: gauge-*
        window: 5s
        aggregate: max
        op: ">"
        threshold: 60000
        for: 2s
"#;

/// Jump and recovery latencies, microseconds.
#[derive(Default)]
struct FireResolve {
    fire: Vec<u64>,
    resolve: Vec<u64>,
}

/// Records how long after `since` weir and (when it ran) Alertmanager told.
fn record(
    weir: &mut Vec<u64>,
    alertmanager: &mut Vec<u64>,
    since: Instant,
    (by_weir, by_alertmanager): (Instant, Option<Instant>),
) {
    weir.push(by_weir.duration_since(since).as_micros() as u64);
    if let Some(at) = by_alertmanager {
        alertmanager.push(at.duration_since(since).as_micros() as u64);
    }
}

/// The settings PERFORMANCE.md measured Prometheus and Alertmanager with: a
/// lag gauge reported every second, `max` over 5 s above 60000 for 2 s,
/// evaluated every second, group_wait 0s. Times the lag jump → firing
/// webhook and the recovery → resolved webhook, one component per cycle,
/// for weir (the gauge pushed by OTLP) and, when installed, for Debian's
/// Prometheus and Alertmanager scraping the same gauge in the same run.
async fn like_prometheus(
    binary: &Path,
    cycles: usize,
) -> Result<(FireResolve, Option<FireResolve>)> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench-alerts")
        .tempdir()?;
    let (url, alertmanager_url, mut told) = receiver().await?;
    let config = config(root.path(), PROMETHEUS_LIKE_RULES, &url, "1s")?;
    let weir = start_weir(binary, root.path(), None, true, Some(&config)).await?;
    let gauge_now = std::sync::Arc::new(SharedGauge::default());
    let prometheus = if prometheus::installed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let target = listener.local_addr()?.to_string();
        let shared = gauge_now.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let (component, value) = shared.get();
                async move { prometheus::exposition(&component, value) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Some(prometheus::start(root.path(), &target, &alertmanager_url).await?)
    } else {
        eprintln!(
            "  Prometheus and Alertmanager not installed (apt-get install prometheus prometheus-alertmanager): weir only"
        );
        None
    };
    let reporter = {
        let gauge_now = gauge_now.clone();
        let mut client = MetricsServiceClient::connect(format!("http://{}", weir.grpc)).await?;
        tokio::spawn(async move {
            // A periodic reader, as the SDK's: one report a second.
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let (component, value) = gauge_now.get();
                if component.is_empty() {
                    continue;
                }
                let _ = client
                    .export(gauge(
                        &component,
                        "pipeline.iterator_age",
                        "ms",
                        "shard-0",
                        value,
                    ))
                    .await;
            }
        })
    };
    let both = prometheus.is_some();
    let (mut weir_figures, mut prometheus_figures) =
        (FireResolve::default(), FireResolve::default());
    for i in 0..cycles {
        let component = format!("gauge-{i}");
        gauge_now.set(&component, 1_000.0);
        // Long enough for Prometheus to have scraped the low value and
        // for the previous component's series to go stale.
        tokio::time::sleep(Duration::from_millis(3_000 + fastrand_ms(i) % 1000)).await;
        let jumped = Instant::now();
        gauge_now.set(&component, 120_000.0);
        let told_at = wait_told(&mut told, &component, "firing", both).await?;
        record(
            &mut weir_figures.fire,
            &mut prometheus_figures.fire,
            jumped,
            told_at,
        );
        tokio::time::sleep(Duration::from_millis(fastrand_ms(i + 7) % 1000)).await;
        let recovered = Instant::now();
        gauge_now.set(&component, 1_000.0);
        let told_at = wait_told(&mut told, &component, "resolved", both).await?;
        record(
            &mut weir_figures.resolve,
            &mut prometheus_figures.resolve,
            recovered,
            told_at,
        );
    }
    reporter.abort();
    drop(prometheus);
    stop(weir).await;
    Ok((weir_figures, both.then_some(prometheus_figures)))
}

/// The gauge's current component and value, shared with the reporter.
mod shared_gauge {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct SharedGauge(Mutex<(String, f64)>);

    impl SharedGauge {
        pub fn set(&self, component: &str, value: f64) {
            *self.0.lock().unwrap() = (component.to_string(), value);
        }

        pub fn get(&self) -> (String, f64) {
            self.0.lock().unwrap().clone()
        }
    }
}

/// A pseudo-random pause in [0, 5000) ms, different for each sample.
fn fastrand_ms(i: usize) -> u64 {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ now_nanos();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % 5000
}

/// 1,000 rules of every kind, with thresholds spread so that about one
/// (rule, component) pair in twenty fires, as on a bad day.
fn load_rules() -> String {
    let mut out = String::from("groups:\n  - name: load\n    interval: 1s\n    rules:\n");
    for r in 0..1000u32 {
        let window = if r % 2 == 0 { "5m" } else { "15m" };
        let body = match r % 5 {
            0 => format!(
                "kind: error_rate\n        op: \">\"\n        threshold: {}\n        min_invocations: 20",
                0.9 + f64::from(r % 10) / 100.0
            ),
            1 => format!(
                "kind: cold_start_rate\n        op: \">\"\n        threshold: {}\n        min_invocations: 20",
                0.02 + f64::from(r % 40) / 100.0
            ),
            2 => format!(
                "kind: lag\n        op: \">\"\n        threshold: {}",
                9000 + (r % 100) * 10
            ),
            3 => "kind: absent\n        for: 1m".to_string(),
            _ => format!(
                "kind: metric\n        metric: kafka.consumer_group.lag\n        aggregate: {}\n        op: \">\"\n        threshold: {}",
                ["max", "avg", "p99"][r as usize % 3],
                9000 + (r % 100) * 10
            ),
        };
        out.push_str(&format!(
            "      - alert: Load{r}\n        window: {window}\n        {body}\n"
        ));
    }
    out
}

/// Feeds 100 components and reads the group's evaluation time as reported
/// by `/api/v1/rules`.
async fn evaluation(binary: &Path, evaluations: usize) -> Result<(Vec<f64>, f64)> {
    let root = tempfile::Builder::new()
        .prefix("weir-bench-alerts")
        .tempdir()?;
    let (url, _, _told) = receiver().await?;
    let config = config(root.path(), &load_rules(), &url, "5s")?;
    let weir = start_weir(binary, root.path(), None, true, Some(&config)).await?;
    let endpoint = format!("http://{}", weir.grpc);
    let mut traces = TraceServiceClient::connect(endpoint.clone()).await?;
    let mut metrics = MetricsServiceClient::connect(endpoint).await?;
    for i in 0..100u64 {
        let service = format!("svc-{i:03}");
        traces
            .export(invocations(&service, i, 100, i, i % 10))
            .await?;
        for p in 0..3 {
            metrics
                .export(gauge(
                    &service,
                    "kafka.consumer_group.lag",
                    "{records}",
                    &p.to_string(),
                    (i * 100 + p) as f64,
                ))
                .await?;
        }
    }
    let http = reqwest::Client::new();
    let components = format!("http://{}/api/v1/components?window=15m", weir.web);
    let started = Instant::now();
    loop {
        let v: serde_json::Value = http.get(&components).send().await?.json().await?;
        if v["components"].as_array().map_or(0, Vec::len) >= 100 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the 100 components did not appear within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rules = format!("http://{}/api/v1/rules", weir.web);
    let mut seen = 0u64;
    let mut times = Vec::new();
    // The evaluations that take in the new data also write every alert that
    // changes state; the steady state starts once the firing count holds
    // for three evaluations.
    let mut settling = 0.0f64;
    let mut last_firing = None;
    let mut stable = 0;
    let started = Instant::now();
    while times.len() < evaluations {
        let v: serde_json::Value = http.get(&rules).send().await?.json().await?;
        let group = &v["groups"][0];
        let at = group["last_evaluation_unix_nano"].as_u64().unwrap_or(0);
        if at > seen {
            seen = at;
            let ms = group["evaluation_ms"].as_f64().unwrap_or(0.0);
            let firing: u64 = group["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["firing"].as_u64())
                .sum();
            if stable >= 3 {
                times.push(ms);
            } else {
                settling = settling.max(ms);
                stable = if last_firing == Some(firing) && firing > 0 {
                    stable + 1
                } else {
                    0
                };
                last_firing = Some(firing);
            }
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!("too few steady evaluations within 180 s");
        }
        // Often enough to see each 1 s evaluation, rarely enough not to
        // compete with it.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    eprintln!(
        "  {} alerts firing; steady evaluations (ms): {times:?}",
        last_firing.unwrap_or(0)
    );
    stop(weir).await;
    Ok((times, settling))
}

async fn stop(mut weir: Weir) {
    let _ = weir.child.kill().await;
}

/// The p-quantile of microsecond samples, in milliseconds.
fn quantile_ms(samples: &[u64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n as f64 - 1.0) * p).round() as usize] as f64 / 1e3,
    }
}

/// One alerting run.
pub async fn run(binary: &Path, samples: usize) -> Result<AlertFigures> {
    let latencies = detection(binary, samples).await?;
    let (weir, prometheus) = like_prometheus(binary, samples.div_ceil(2)).await?;
    let (mut evals, first) = evaluation(binary, 20).await?;
    evals.sort_by(f64::total_cmp);
    let q = |p: f64| evals[((evals.len() as f64 - 1.0) * p).round() as usize];
    let prom = |f: fn(&FireResolve) -> &Vec<u64>, p: f64| {
        prometheus.as_ref().map(|r| quantile_ms(f(r), p))
    };
    Ok(AlertFigures {
        detection_p50_ms: latencies.value_at_quantile(0.5) as f64 / 1e3,
        detection_p99_ms: latencies.value_at_quantile(0.99) as f64 / 1e3,
        eval_p50_ms: q(0.5),
        eval_p99_ms: q(0.99),
        eval_settling_ms: first,
        like_prometheus_fire_p50_ms: quantile_ms(&weir.fire, 0.5),
        like_prometheus_fire_p99_ms: quantile_ms(&weir.fire, 0.99),
        like_prometheus_resolve_p50_ms: quantile_ms(&weir.resolve, 0.5),
        like_prometheus_resolve_p99_ms: quantile_ms(&weir.resolve, 0.99),
        prometheus_fire_p50_ms: prom(|r| &r.fire, 0.5),
        prometheus_fire_p99_ms: prom(|r| &r.fire, 0.99),
        prometheus_resolve_p50_ms: prom(|r| &r.resolve, 0.5),
        prometheus_resolve_p99_ms: prom(|r| &r.resolve, 0.99),
    })
}
