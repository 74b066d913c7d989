//! What the loop and delivery tests share: a SQLite database in a temporary
//! directory, a real webhook receiver on loopback, and waiting for the
//! engine while tokio's clock stands still.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::StatusCode;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use weir_alerts::routing::Routing;
use weir_alerts::{AlertsConfig, ReceiverConfig, RouteConfig};
use weir_core::{Attributes, MetricKind, MetricPoint, MetricValue, Temporality};
use weir_store::config::DatabaseConfig;
use weir_store::db::Database;

/// A fresh database; the directory lives as long as the guard.
pub async fn database() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Database::open(&DatabaseConfig::default(), dir.path())
        .await
        .expect("SQLite opens in a temporary directory");
    (db, dir)
}

/// Keeps tokio's paused clock from jumping ahead while the database's
/// worker threads or the receiver are busy: a blocking task in flight stops
/// auto-advance, so time moves only when a test calls `advance`.
pub struct HeldClock(std::sync::mpsc::Sender<()>);

impl HeldClock {
    pub fn hold() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = rx.recv();
        });
        HeldClock(tx)
    }
}

/// What the receiver was sent: when (tokio's clock) and the body.
pub type Received = Arc<parking_lot::Mutex<Vec<(Instant, serde_json::Value)>>>;

/// A webhook receiver on 127.0.0.1 that answers 500 to its first
/// `fail_first` requests and 200 after.
pub async fn receiver(fail_first: usize) -> (String, Received) {
    let received: Received = Default::default();
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let seen = seen.clone();
            let failures = failures.clone();
            async move {
                let body = serde_json::from_slice(&body).expect("the body is JSON");
                seen.lock().push((Instant::now(), body));
                let fail = failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// One receiver at `url` and one route with the given timers.
pub fn routing(url: &str, group_wait: &str, group_interval: &str, max_age: &str) -> Routing {
    Routing::from_config(&AlertsConfig {
        receivers: vec![ReceiverConfig {
            name: "ops".into(),
            url: url.into(),
            max_age: weir_core::parse_duration(max_age).ok(),
            ..Default::default()
        }],
        routes: vec![RouteConfig {
            receiver: "ops".into(),
            group_by: Some(vec!["alertname".into()]),
            group_wait: weir_core::parse_duration(group_wait).ok(),
            group_interval: weir_core::parse_duration(group_interval).ok(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .expect("a valid routing")
}

/// A gauge point of `metric` for `component` at `at`.
pub fn point(metric: &str, component: &str, at: u64, value: f64) -> MetricPoint {
    MetricPoint {
        name: metric.into(),
        description: String::new(),
        unit: "1".into(),
        kind: MetricKind::Gauge,
        temporality: Temporality::Unspecified,
        monotonic: false,
        service: component.into(),
        attributes: Attributes::default(),
        resource: Default::default(),
        start_time_unix_nano: 0,
        time_unix_nano: at,
        value: MetricValue::Number { value },
    }
}

/// Waits, in real time and with a generous bound, until `done` holds;
/// tokio's clock does not move meanwhile.
pub async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Lets whatever is ready run for a while of real time, for checks that
/// something did not happen.
pub async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A shorter [`settle`], between steps of tokio's clock.
pub async fn settle_briefly() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(2));
    }
}
