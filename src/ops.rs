//! `/healthz`, `/readyz` and `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::fmt::Write;
use std::sync::Arc;
use weir_collector::Ingest;
use weir_store::Store;

#[derive(Clone)]
struct Ops {
    store: Arc<Store>,
    ingest: Arc<Ingest>,
}

/// Operational routes; open even when read tokens are set, so probes and
/// scrapers need no secret.
pub fn router(store: Arc<Store>, ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Ops { store, ingest })
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    if !ops.ingest.replay_done() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "replaying the write-ahead log\n",
        );
    }
    if !ops.store.db.ping().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n");
    }
    (StatusCode::OK, "ready\n")
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    let mut out = String::new();
    ops.ingest.telemetry().render(&mut out);
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
