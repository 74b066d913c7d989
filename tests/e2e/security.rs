//! Ingest and read tokens, and backpressure: who may send, who may read, and
//! what a client is told when weir cannot take more.

use crate::harness::{Weir, wait_for};
use crate::otlp::{gauge_request, span, spans_request, trace_id};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use std::time::Duration;
use tonic_types::StatusExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tokens_are_required_on_both_protocols_and_on_the_api() {
    let weir = Weir::start("[auth]\ningest_tokens = [\"in-s3cret\"]\nread_tokens = [\"r3ad\"]");
    let body = spans_request("orders", vec![span(trace_id(7), 1, "authorized")]).encode_to_vec();
    let pb = "application/x-protobuf";

    // HTTP: none, wrong, right.
    assert_eq!(
        weir.post_otlp("/v1/traces", pb, &[], body.clone()).status(),
        401
    );
    assert_eq!(
        weir.post_otlp(
            "/v1/traces",
            pb,
            &[("authorization", "Bearer nope")],
            body.clone()
        )
        .status(),
        401
    );
    assert_eq!(
        weir.post_otlp(
            "/v1/traces",
            pb,
            &[("authorization", "Bearer in-s3cret")],
            body
        )
        .status(),
        200
    );

    // gRPC: none, then right.
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{}", weir.grpc))
            .await
            .unwrap();
        let req = spans_request("orders", vec![span(trace_id(8), 1, "grpc authorized")]);
        let err = client.export(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        assert!(err.message().contains("ingest token"), "{}", err.message());
        let mut authed = tonic::Request::new(req);
        authed
            .metadata_mut()
            .insert("authorization", "Bearer in-s3cret".parse().unwrap());
        let resp = client.export(authed).await.unwrap().into_inner();
        assert!(resp.partial_success.is_none());
    });

    // The API needs a read token (the harness sends it); probes do not.
    weir.wait_for_trace(&hex::encode(trace_id(7)), 1, 0);
    weir.wait_for_trace(&hex::encode(trace_id(8)), 1, 0);
    let anonymous =
        reqwest::blocking::get(format!("http://{}/api/v1/search?q=", weir.web)).unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = reqwest::blocking::Client::new()
        .get(format!("http://{}/api/v1/search", weir.web))
        .bearer_auth("in-s3cret")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401, "an ingest token is not a read token");
    let cookie = reqwest::blocking::Client::new()
        .get(format!("http://{}/api/v1/search", weir.web))
        .header("cookie", "weir_token=r3ad")
        .send()
        .unwrap();
    assert_eq!(cookie.status(), 200);
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            reqwest::blocking::get(format!("http://{}{open}", weir.web))
                .unwrap()
                .status(),
            200,
            "{open}"
        );
    }
}

#[test]
fn when_storage_is_behind_exports_get_retryable_refusals_not_silent_drops() {
    // Metric points are held against the ingest budget until the database
    // commits them. Another process holding SQLite's write lock keeps weir's
    // commits failing, so with a one-byte budget every export after the
    // first finds storage behind.
    let weir = Weir::start("[ingest]\nmax_pending_bytes = 1");
    let lock = crate::harness::SqliteWriteLock::take(&weir);

    let first = gauge_request("lagging", "pipeline.iterator_age", 1.0).encode_to_vec();
    assert_eq!(
        weir.post_otlp("/v1/metrics", "application/x-protobuf", &[], first)
            .status(),
        200
    );

    let second = gauge_request("lagging", "pipeline.iterator_age", 2.0).encode_to_vec();
    let r = weir.post_otlp("/v1/metrics", "application/x-protobuf", &[], second);
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");

    runtime().block_on(async {
        let mut client = MetricsServiceClient::connect(format!("http://{}", weir.grpc))
            .await
            .unwrap();
        let err = client
            .export(gauge_request("lagging", "pipeline.iterator_age", 3.0))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        let retry = err.get_details_retry_info().expect("RetryInfo is attached");
        assert!(retry.retry_delay.is_some());
    });
    assert_eq!(
        weir.metric("weir_refused_requests_total{signal=\"metric_points\",reason=\"overloaded\"}"),
        2.0
    );

    // The budget is global: spans are refused too while it is spent, so
    // memory stays bounded whatever the signal.
    let spans = spans_request("orders", vec![span(trace_id(2), 1, "while behind")]).encode_to_vec();
    assert_eq!(
        weir.post_otlp("/v1/traces", "application/x-protobuf", &[], spans)
            .status(),
        429
    );

    // Once the database takes writes again, the acknowledged point lands and
    // the refused ones were never half-stored.
    drop(lock);
    let values = wait_for(
        "the acknowledged point to be committed",
        Duration::from_secs(60),
        || {
            let v = weir.get_json("/api/v1/metrics?name=pipeline.iterator_age");
            let points: Vec<f64> = v["points"]
                .as_array()?
                .iter()
                .filter_map(|p| p["value"]["value"].as_f64())
                .collect();
            (!points.is_empty()).then_some(points)
        },
    );
    assert_eq!(values, vec![1.0]);
}
