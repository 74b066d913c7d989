//! `/healthz`, `/readyz` and `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::sync::Arc;
use weir_alerts::outbox::Outbox;
use weir_cluster::node::NodeProbe;
use weir_collector::Ingest;
use weir_collector::telemetry::{counters, gauges};
use weir_store::Store;

#[derive(Clone)]
struct Ops {
    store: Arc<Store>,
    ingest: Arc<Ingest>,
    outbox: Arc<Outbox>,
    node: Option<NodeProbe>,
}

/// Operational routes; open even when read tokens are set, so probes and
/// scrapers need no secret.
pub fn router(
    store: Arc<Store>,
    ingest: Arc<Ingest>,
    outbox: Arc<Outbox>,
    node: Option<NodeProbe>,
) -> Router {
    #[cfg(feature = "failpoints")]
    let router = Router::new().route(
        "/debug/failpoints/{name}",
        axum::routing::put(set_failpoint).delete(remove_failpoint),
    );
    #[cfg(not(feature = "failpoints"))]
    let router = Router::new();
    router
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Ops {
            store,
            ingest,
            outbox,
            node,
        })
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    if !ops.ingest.replay_done() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "replaying the write-ahead log\n".to_string(),
        );
    }
    if !ops.store.db.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n".to_string(),
        );
    }
    if let Some(why) = ops.node.as_ref().and_then(|n| n.not_ready()) {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
    }
    let faults = ops.ingest.storage_health().faults();
    if !faults.is_empty() {
        let mut why = String::from("storage cannot write:\n");
        for (part, fault) in faults {
            let _ = writeln!(why, "{part}: {}", fault.reason);
        }
        return (StatusCode::SERVICE_UNAVAILABLE, why);
    }
    (StatusCode::OK, "ready\n".to_string())
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    let snapshot = Snapshot {
        index_documents: [&ops.store.spans, &ops.store.logs]
            .map(|index| (index.signal().as_str(), index.num_docs())),
        ready: ops.ingest.replay_done(),
        delivery: ops
            .outbox
            .stats()
            .into_iter()
            .map(|(receiver, s)| (receiver, [s.delivered, s.failed_attempts, s.gave_up]))
            .collect(),
        outbox: ops.store.db.outbox_counts().await.ok(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ops.ingest.telemetry().clone()));
    registry.register_collector(Box::new(ops.ingest.storage_health().clone()));
    registry.register_collector(Box::new(snapshot));
    if let Some(node) = &ops.node {
        registry.register_collector(Box::new(node.telemetry.clone()));
    }
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry).expect("writing to a String cannot fail");
    ([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], out)
}

/// What one scrape reads outside the collector's own counters.
#[derive(Debug)]
struct Snapshot {
    index_documents: [(&'static str, u64); 2],
    ready: bool,
    /// Per receiver: delivered, failed attempts, given up.
    delivery: Vec<(String, [u64; 3])>,
    /// Per receiver and state; absent when the database does not answer.
    outbox: Option<Vec<(String, String, u64)>>,
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        gauges(
            &mut e,
            "weir_index_documents",
            "Documents searchable in the event index, per signal.",
            self.index_documents
                .map(|(signal, n)| (vec![("signal", signal)], n)),
        )?;
        gauges(
            &mut e,
            "weir_ready",
            "Whether replay is done and storage answers.",
            [(vec![], u32::from(self.ready))],
        )?;
        let families = [
            (
                "weir_alert_notifications_delivered",
                "Notifications a receiver answered with 2xx.",
            ),
            (
                "weir_alert_notification_failures",
                "Delivery attempts that failed (non-2xx, timeout, unreachable); each is retried.",
            ),
            (
                "weir_alert_notifications_given_up",
                "Notifications still undelivered after the receiver's max_age, recorded as failed.",
            ),
        ];
        for (i, (name, help)) in families.into_iter().enumerate() {
            counters(
                &mut e,
                name,
                help,
                self.delivery
                    .iter()
                    .map(|(receiver, n)| (vec![("receiver", receiver.as_str())], n[i])),
            )?;
        }
        if let Some(outbox) = &self.outbox {
            gauges(
                &mut e,
                "weir_alert_outbox",
                "Notifications in the outbox, per receiver and state (pending, delivered, failed).",
                outbox.iter().map(|(receiver, state, n)| {
                    (
                        vec![("receiver", receiver.as_str()), ("state", state.as_str())],
                        *n,
                    )
                }),
            )?;
        }
        Ok(())
    }
}

/// `PUT /debug/failpoints/{name}` with the `fail` crate's actions as the body
/// (`return`, `return(enospc)`, `3*return`, `off`): the fault tests' switch,
/// compiled only into test builds, as TiKV's status server has it.
#[cfg(feature = "failpoints")]
async fn set_failpoint(
    axum::extract::Path(name): axum::extract::Path<String>,
    actions: String,
) -> impl IntoResponse {
    match fail::cfg(name, actions.trim()) {
        Ok(()) => (StatusCode::OK, "set\n".to_string()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

#[cfg(feature = "failpoints")]
async fn remove_failpoint(axum::extract::Path(name): axum::extract::Path<String>) -> &'static str {
    fail::remove(name);
    "removed\n"
}
