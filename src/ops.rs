//! `/healthz`, `/readyz` and `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::fmt::Write;
use std::sync::Arc;
use weir_alerts::outbox::Outbox;
use weir_collector::Ingest;
use weir_store::Store;

#[derive(Clone)]
struct Ops {
    store: Arc<Store>,
    ingest: Arc<Ingest>,
    notifier: Arc<Outbox>,
}

/// Operational routes; open even when read tokens are set, so probes and
/// scrapers need no secret.
pub fn router(store: Arc<Store>, ingest: Arc<Ingest>, notifier: Arc<Outbox>) -> Router {
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
            notifier,
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
    let mut out = String::new();
    ops.ingest.telemetry().render(&mut out);
    ops.ingest.storage_health().render(&mut out);
    let _ = writeln!(
        out,
        "# HELP weir_index_documents Documents searchable in the event index, per signal."
    );
    let _ = writeln!(out, "# TYPE weir_index_documents gauge");
    for index in [&ops.store.spans, &ops.store.logs] {
        let _ = writeln!(
            out,
            "weir_index_documents{{signal=\"{}\"}} {}",
            index.signal().as_str(),
            index.num_docs()
        );
    }
    let _ = writeln!(
        out,
        "# HELP weir_ready Whether replay is done and storage answers."
    );
    let _ = writeln!(out, "# TYPE weir_ready gauge");
    let _ = writeln!(out, "weir_ready {}", u8::from(ops.ingest.replay_done()));
    render_alert_delivery(&ops, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Webhook delivery: what each receiver was sent, what failed, and what
/// waits in the outbox.
async fn render_alert_delivery(ops: &Ops, out: &mut String) {
    let stats = ops.notifier.stats();
    type Field = fn(&weir_alerts::outbox::ReceiverStats) -> u64;
    let counters: [(&str, &str, Field); 3] = [
        (
            "weir_alert_notifications_delivered_total",
            "Notifications a receiver answered with 2xx.",
            |s| s.delivered,
        ),
        (
            "weir_alert_notification_failures_total",
            "Delivery attempts that failed (non-2xx, timeout, unreachable); each is retried.",
            |s| s.failed_attempts,
        ),
        (
            "weir_alert_notifications_given_up_total",
            "Notifications still undelivered after the receiver's max_age, recorded as failed.",
            |s| s.gave_up,
        ),
    ];
    for (name, help, field) in counters {
        family(out, name, "counter", help);
        for (receiver, s) in &stats {
            let _ = writeln!(out, "{name}{{receiver=\"{receiver}\"}} {}", field(s));
        }
    }
    if let Ok(counts) = ops.store.db.outbox_counts().await {
        family(
            out,
            "weir_alert_outbox",
            "gauge",
            "Notifications in the outbox, per receiver and state (pending, delivered, failed).",
        );
        for (receiver, state, n) in counts {
            let _ = writeln!(
                out,
                "weir_alert_outbox{{receiver=\"{receiver}\",state=\"{state}\"}} {n}"
            );
        }
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
