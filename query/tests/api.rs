//! The JSON API through its router, over a real store in a temporary
//! directory: each route's shape as clients rely on it, the 400 error
//! shape, and the read-token check.

mod fixture;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fixture::{CONSUMER_TRACE, Fixture, ORDER_ID, ORDER_TRACE};
use serde_json::{Value, json};
use tower::ServiceExt;
use weir_query::ReadAuth;

/// Most bytes of one answer a test reads.
const BODY_LIMIT: usize = 1 << 20;

async fn get(
    app: &Router,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, Value) {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{uri} answers JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

async fn ok(app: &Router, uri: &str) -> Value {
    let (status, body) = get(app, uri, &[]).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

async fn api() -> (Fixture, Router) {
    let f = fixture::stored().await;
    let app = weir_query::router(
        f.store.clone(),
        std::sync::Arc::new(weir_query::status::NoFiring),
    );
    (f, app)
}

/// A 4xx answered as `{"error": "..."}` and nothing else.
fn assert_error(body: &Value, says: &str) {
    assert_eq!(keys(body), ["error"], "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} says {says:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_comes_as_a_tree_with_its_logs() {
    let (_f, app) = api().await;
    let v = ok(&app, &format!("/api/v1/traces/{}", ORDER_TRACE.to_hex())).await;
    assert_eq!(
        keys(&v),
        [
            "end_time_unix_nano",
            "linked_from",
            "logs",
            "services",
            "span_count",
            "spans",
            "start_time_unix_nano",
            "trace_id"
        ]
    );
    assert_eq!(v["trace_id"], ORDER_TRACE.to_hex());
    assert_eq!(v["services"], json!(["api-gateway", "orders"]));
    assert_eq!(v["span_count"], 2);
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(
        (spans[0]["depth"].clone(), spans[1]["depth"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(spans[0]["name"], "POST /orders");
    assert!(
        spans[0].get("parent_span_id").is_none(),
        "a root has no parent"
    );
    assert_eq!(spans[1]["parent_span_id"], spans[0]["span_id"]);
    assert_eq!(spans[1]["status"], "error");
    assert_eq!(spans[1]["attributes"]["order.id"], ORDER_ID);
    assert_eq!(v["start_time_unix_nano"], spans[0]["start_time_unix_nano"]);
    assert_eq!(v["end_time_unix_nano"], spans[0]["end_time_unix_nano"]);
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["body"], "payment declined for o-42");
    assert_eq!(logs[0]["trace_id"], ORDER_TRACE.to_hex());

    let (status, body) = get(&app, "/api/v1/traces/not-hex", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "`not-hex` is not a trace id");
    let (status, body) = get(&app, &format!("/api/v1/traces/{}", "0c".repeat(16)), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "is stored (yet)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_newest_first_and_says_what_is_wrong() {
    let (_f, app) = api().await;
    let v = ok(
        &app,
        "/api/v1/search?q=service:orders%20AND%20status:error&signal=spans",
    )
    .await;
    assert_eq!(keys(&v), ["count", "hits", "next_cursor"]);
    assert_eq!(v["count"], 1);
    assert_eq!(
        v["next_cursor"],
        Value::Null,
        "the last page says so with null"
    );
    assert_eq!(v["hits"][0]["signal"], "span");
    assert_eq!(v["hits"][0]["name"], "place order");
    assert_eq!(v["hits"][0]["trace_id"], ORDER_TRACE.to_hex());

    let logs = ok(&app, "/api/v1/search?q=declined&signal=logs").await;
    assert_eq!(logs["hits"][0]["signal"], "log");
    assert_eq!(logs["hits"][0]["severity"], "error");

    // Everything, one hit per page: newest first, each hit once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = ok(&app, &format!("/api/v1/search?limit=1&cursor={cursor}")).await;
        let hits = page["hits"].as_array().unwrap();
        if let Some(hit) = hits.first() {
            let time = hit["start_time_unix_nano"]
                .as_u64()
                .or_else(|| hit["time_unix_nano"].as_u64())
                .unwrap();
            seen.push(time);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
        assert!(seen.len() <= 5, "paging ends");
    }
    assert_eq!(seen.len(), 5, "three spans and two logs");
    assert!(
        seen.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {seen:?}"
    );

    for (uri, says) in [
        ("/api/v1/search?q=name:(unclosed", ""),
        (
            "/api/v1/search?signal=metrics",
            "signal `metrics` is not one of",
        ),
        ("/api/v1/search?limit=0", "ask for 1 to 1000"),
        ("/api/v1/search?limit=abc", "limit"),
        ("/api/v1/search?from=yesterday", ""),
        ("/api/v1/search?cursor=garbage", "cursor"),
    ] {
        let (status, body) = get(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_error(&body, says);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlating_an_id_follows_span_links_and_orders_components_by_time() {
    let (_f, app) = api().await;
    let v = ok(&app, &format!("/api/v1/correlate/{ORDER_ID}")).await;
    assert_eq!(keys(&v), ["components", "id", "matches", "traces"]);
    assert_eq!(v["id"], ORDER_ID);
    let signals: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["signal"].as_str().unwrap())
        .collect();
    assert_eq!(signals, ["span", "log", "log"], "oldest first");

    let components = v["components"].as_array().unwrap();
    assert_eq!(
        keys(&components[0]),
        [
            "component",
            "context_spans",
            "first_seen_unix_nano",
            "last_seen_unix_nano",
            "logs",
            "spans"
        ]
    );
    let order: Vec<&str> = components
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["api-gateway", "orders", "fulfilment", "audit"]);
    assert_eq!(
        (
            components[1]["spans"].clone(),
            components[1]["logs"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(
        components[3]["logs"], 1,
        "a log without a trace still counts"
    );

    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(
        keys(&traces[0]),
        [
            "linked",
            "logs",
            "relation",
            "shared_with",
            "spans",
            "trace_id"
        ]
    );
    assert_eq!(traces[0]["relation"], "direct");
    assert_eq!(
        traces[1]["relation"], "batch",
        "the consumer's span links into the order's trace: it took the record"
    );
    assert_eq!(
        components[0]["context_spans"], 1,
        "the gateway's span is context: it does not carry the id"
    );
    assert_eq!(
        (traces[0]["trace_id"].clone(), traces[0]["linked"].clone()),
        (json!(ORDER_TRACE.to_hex()), json!(false))
    );
    assert_eq!(
        (traces[1]["trace_id"].clone(), traces[1]["linked"].clone()),
        (json!(CONSUMER_TRACE.to_hex()), json!(true))
    );
    assert_eq!(traces[0]["spans"][1]["depth"], 1);
    assert_eq!(traces[0]["logs"].as_array().unwrap().len(), 1);

    let (status, body) = get(&app, "/api/v1/correlate/%20", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "an id is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_report_their_health_over_the_window() {
    let (f, app) = api().await;
    let v = ok(&app, "/api/v1/components?window=15m").await;
    assert_eq!(keys(&v), ["components", "from_unix_nano", "to_unix_nano"]);
    let to = v["to_unix_nano"].as_u64().unwrap();
    assert!(to > f.now && to - v["from_unix_nano"].as_u64().unwrap() >= 15 * 60_000_000_000);
    let c = &v["components"];
    assert_eq!(c.as_array().unwrap().len(), 2, "{c}");
    assert_eq!(c[0]["component"], "fulfilment", "by name");
    assert_eq!(c[0]["max_lag"], json!([{"value": 1500.0, "unit": "ms"}]));
    assert_eq!(c[0]["records"], 1);
    let orders = &c[1];
    assert_eq!(
        keys(orders),
        [
            "cold_start_rate",
            "cold_starts",
            "component",
            "error_rate",
            "errors",
            "init_p50_ms",
            "invocations",
            "last_seen_unix_nano",
            "max_lag",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "records",
            "status"
        ]
    );
    assert_eq!(
        orders["status"],
        json!({"level": "failing", "reasons": ["error rate 50 % in the last 5 min"]}),
        "the fixture's records are seconds old: the status reads them"
    );
    assert_eq!(c[0]["status"]["level"], "healthy");
    assert_eq!(
        (orders["invocations"].clone(), orders["errors"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(orders["error_rate"], 0.5);
    assert_eq!(
        (
            orders["cold_starts"].clone(),
            orders["cold_start_rate"].clone()
        ),
        (json!(1), json!(0.5))
    );
    assert_eq!(orders["max_lag"], json!([]));
    assert!(orders["p99_ms"].as_f64().unwrap() >= orders["p50_ms"].as_f64().unwrap());
    assert!(orders["init_p50_ms"].as_f64().is_some());

    let (status, body) = get(&app, "/api/v1/components?window=forever", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "forever");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_has_bare_stream_nodes_and_edges_with_traffic() {
    let (_f, app) = api().await;
    let v = ok(&app, "/api/v1/topology?window=15m").await;
    assert_eq!(
        keys(&v),
        ["edges", "from_unix_nano", "nodes", "to_unix_nano"]
    );
    assert_eq!(
        v["nodes"],
        json!([
            {"kind": "component", "name": "fulfilment", "invocations": 1, "error_rate": 0.0,
             "max_lag": [{"value": 1500.0, "unit": "ms"}],
             "status": {"level": "healthy", "reasons": ["1 invocation, error rate 0 % in the last 5 min"]}},
            {"kind": "component", "name": "orders", "invocations": 2, "error_rate": 0.5, "max_lag": [],
             "status": {"level": "failing", "reasons": ["error rate 50 % in the last 5 min"]}},
            {"kind": "stream", "name": "order-events"},
        ])
    );
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    let published = edges
        .iter()
        .find(|e| e["source"]["name"] == "orders")
        .unwrap();
    assert_eq!(
        *published,
        json!({
            "source": {"kind": "component", "name": "orders"},
            "target": {"kind": "stream", "name": "order-events"},
            "count": 1, "errors": 0, "error_rate": 0.0,
            "delivery_lag_p50_ms": null, "delivery_lag_p99_ms": null, "delivery_lag_samples": 0,
        })
    );
    let consumed = edges
        .iter()
        .find(|e| e["target"]["name"] == "fulfilment")
        .unwrap();
    assert_eq!(consumed["delivery_lag_samples"], 1);
    assert!(consumed["delivery_lag_p99_ms"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_raw_or_as_series_per_step() {
    let (_f, app) = api().await;
    let raw = ok(&app, "/api/v1/metrics?name=pipeline.iterator_age").await;
    assert_eq!(keys(&raw), ["count", "name", "points"]);
    assert_eq!(
        (raw["name"].clone(), raw["count"].clone()),
        (json!("pipeline.iterator_age"), json!(3))
    );
    assert_eq!(raw["points"][0]["value"]["value"], 200.0);
    assert_eq!(raw["points"][0]["attributes"]["shard"], "shard-0");

    let one = ok(
        &app,
        "/api/v1/metrics?name=pipeline.iterator_age&step=1h&agg=max&match[shard]=shard-1",
    )
    .await;
    assert_eq!(keys(&one), ["agg", "name", "series", "step_ns"]);
    assert_eq!(
        (one["agg"].clone(), one["step_ns"].clone()),
        (json!("max"), json!(3_600_000_000_000u64))
    );
    let series = one["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        keys(&series[0]),
        ["attributes", "kind", "service", "unit", "values"]
    );
    assert_eq!(series[0]["attributes"], json!({"shard": "shard-1"}));
    assert_eq!(
        (series[0]["kind"].clone(), series[0]["unit"].clone()),
        (json!("gauge"), json!("ms"))
    );
    assert_eq!(series[0]["service"], "fulfilment");
    let values = series[0]["values"].as_array().unwrap();
    assert_eq!(values.last().unwrap()[1], 1500.0, "[time, value] pairs");

    let both = ok(&app, "/api/v1/metrics?name=pipeline.iterator_age&step=1h").await;
    assert_eq!(both["agg"], "avg", "avg unless asked");
    assert_eq!(both["series"].as_array().unwrap().len(), 2);

    for (uri, says) in [
        ("/api/v1/metrics", "name is required"),
        (
            "/api/v1/metrics?name=m&step=1m&agg=median",
            "agg `median` is not one of",
        ),
        (
            "/api/v1/metrics?name=m&step=0s",
            "step must be longer than zero",
        ),
    ] {
        let (status, body) = get(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_error(&body, says);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_read_tokens_the_api_wants_a_bearer_header_or_the_cookie() {
    let (f, _) = api().await;
    let auth = ReadAuth::new(vec!["r3ad".into()]);
    let app = weir_query::router(
        f.store.clone(),
        std::sync::Arc::new(weir_query::status::NoFiring),
    )
    .layer(axum::middleware::from_fn_with_state(
        auth,
        weir_query::require_read_token,
    ));
    let uri = "/api/v1/search?q=";

    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let (_, body) = get(&app, uri, &[]).await;
    assert_error(
        &body,
        "a read token is required: send Authorization: Bearer <token>",
    );

    for refused in [
        (header::AUTHORIZATION, "Bearer in-s3cret"),
        (header::COOKIE, "weir_token=r3adr3ad"),
    ] {
        let (status, _) = get(&app, uri, std::slice::from_ref(&refused)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused:?}");
    }
    for allowed in [
        (header::AUTHORIZATION, "Bearer r3ad"),
        (header::COOKIE, "theme=dark; weir_token=r3ad"),
    ] {
        let (status, body) = get(&app, uri, std::slice::from_ref(&allowed)).await;
        assert_eq!(status, StatusCode::OK, "{allowed:?}");
        assert_eq!(body["count"], 5);
    }
}
