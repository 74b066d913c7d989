//! Debian's Prometheus and Alertmanager on PERFORMANCE.md's settings, run
//! beside weir on the same lag gauge: Prometheus scrapes it from the bench
//! every second, evaluates `max_over_time(...[5s]) > 60000` with `for: 2s`
//! every second, and Alertmanager (group_wait 0s, group_interval 1s) posts
//! to the bench's receiver, as weir does.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where Debian puts the two binaries (`apt-get install prometheus
/// prometheus-alertmanager`).
const PROMETHEUS: &str = "prometheus";
const ALERTMANAGER: &str = "prometheus-alertmanager";

/// The Prometheus name of the gauge weir receives as
/// `pipeline.iterator_age` in ms.
pub const GAUGE: &str = "pipeline_iterator_age_ms";

/// Prometheus and Alertmanager, running until dropped.
pub struct Prometheus {
    prometheus: Child,
    alertmanager: Child,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.prometheus.start_kill();
        let _ = self.alertmanager.start_kill();
    }
}

/// Whether both binaries are installed.
pub fn installed() -> bool {
    [PROMETHEUS, ALERTMANAGER]
        .iter()
        .all(|b| on_path(b).is_some())
}

fn on_path(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(binary))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts Alertmanager posting to `webhook`, and Prometheus scraping
/// `target` (host:port serving `/metrics`), under `root`.
pub async fn start(root: &Path, target: &str, webhook: &str) -> Result<Prometheus> {
    let am_port = free_port()?;
    let prom_port = free_port()?;
    let am_config = root.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: bench\n  group_by: [alertname, component]\n  group_wait: 0s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: bench\n    \
             webhook_configs:\n      - url: {webhook:?}\n        send_resolved: true\n"
        ),
    )?;
    let rules = root.join("prometheus-rules.yml");
    std::fs::write(
        &rules,
        format!(
            "groups:\n  - name: like-weir\n    interval: 1s\n    rules:\n      - alert: ConsumerLagging\n        \
             expr: max_over_time({GAUGE}[5s]) > 60000\n        for: 2s\n"
        ),
    )?;
    let prom_config = root.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{rules:?}]\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
             scrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )?;
    let log = |name: &str| -> Result<Stdio> { Ok(std::fs::File::create(root.join(name))?.into()) };
    let alertmanager = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", root.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(log("alertmanager.log")?)
        .stderr(log("alertmanager.err")?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {ALERTMANAGER}"))?;
    let prometheus = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            root.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(log("prometheus.log")?)
        .stderr(log("prometheus.err")?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {PROMETHEUS}"))?;
    let started = Prometheus {
        prometheus,
        alertmanager,
    };
    let http = reqwest::Client::new();
    for (what, port) in [("Alertmanager", am_port), ("Prometheus", prom_port)] {
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(&ready).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} did not become ready within 60 s; see {}",
                    root.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(started)
}

/// The `/metrics` text for the gauge: one series, labelled by component.
pub fn exposition(component: &str, value: f64) -> String {
    if component.is_empty() {
        return String::new();
    }
    format!(
        "# TYPE {GAUGE} gauge\n{GAUGE}{{component=\"{component}\",partition=\"shard-0\"}} {value}\n"
    )
}
