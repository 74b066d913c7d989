//! The dashboard through its routers, over a real store in a temporary
//! directory: what each page shows of the same small pipeline the API tests
//! read, its error pages, and the login form behind the read-token check.

#[path = "../../query/tests/fixture/mod.rs"]
mod fixture;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fixture::{Fixture, ORDER_ID, ORDER_TRACE};
use std::sync::Arc;
use tower::ServiceExt;
use weir_query::ReadAuth;
use weir_ui::alerts_view::NoAlerts;
use weir_ui::{Dashboard, Endpoints};

const BODY_LIMIT: usize = 4 << 20;

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    html: String,
}

async fn send(app: &Router, request: Request<Body>) -> Page {
    let response = app.clone().oneshot(request).await.unwrap();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_string())
    };
    let (location, set_cookie) = (
        header_text(header::LOCATION),
        header_text(header::SET_COOKIE),
    );
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
        .await
        .unwrap();
    Page {
        status,
        location,
        set_cookie,
        html: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, uri: &str, cookie: Option<&str>) -> Page {
    let mut request = Request::get(uri);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

/// A page that rendered, and contains every one of `expected`.
async fn shows(app: &Router, uri: &str, expected: &[&str]) -> String {
    let page = get(app, uri, None).await;
    assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.html);
    for e in expected {
        assert!(page.html.contains(e), "{uri} shows {e:?}:\n{}", page.html);
    }
    page.html
}

fn dashboard(f: &Fixture) -> Router {
    weir_ui::router(Dashboard {
        store: f.store.clone(),
        alerts: Arc::new(NoAlerts),
        endpoints: Endpoints {
            otlp_grpc: "127.0.0.1:4317".into(),
            otlp_http: "127.0.0.1:4318".into(),
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_draws_the_pipeline_and_lists_every_component() {
    let f = fixture::stored().await;
    let app = dashboard(&f);
    let html = shows(
        &app,
        "/",
        &[
            r#"<svg class="graph""#,
            // Links carry the overview's range to the component pages.
            r#"<a href="/components/orders?window=15m">"#,
            r#"<a href="/components/fulfilment?window=15m">"#,
            "order-events",
            r#"<svg class="spark""#,
        ],
    )
    .await;
    assert!(html.contains("node stream"), "the stream is drawn as one");
    shows(
        &app,
        "/?from=now-2h&to=now",
        &[
            r#"<a href="/components/orders?from=now-2h&amp;to=now">"#,
            r#"<input name="from" value="now-2h""#,
        ],
    )
    .await;
    let page = get(&app, "/?from=now&to=now-1h", None).await;
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "a range that ends before it starts"
    );
    let page = get(&app, "/?window=forever", None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("is not a duration"), "{}", page.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_page_links_its_errors_and_cold_starts_to_their_traces() {
    let f = fixture::stored().await;
    let app = dashboard(&f);
    let trace_link = format!(r#"<a href="/traces/{}">"#, ORDER_TRACE.to_hex());
    let html = shows(
        &app,
        "/components/orders",
        &[
            "Recent errors",
            "card declined",
            "Recent cold starts",
            &trace_link,
            r#"<figure class="chart" data-chart="#,
            "50.0%",
        ],
    )
    .await;
    assert_eq!(
        html.matches(&trace_link).count(),
        2,
        "the failed span is listed under errors and under cold starts"
    );
    shows(
        &app,
        "/components/fulfilment",
        &[
            "Lag per partition (age)",
            "No failed invocations in this window.",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_highlights_the_words_and_shows_a_bad_query_in_words() {
    let f = fixture::stored().await;
    let app = dashboard(&f);
    shows(
        &app,
        "/search?q=declined",
        &["<mark>declined</mark>", r#"<a href="/components/orders">"#],
    )
    .await;
    shows(
        &app,
        "/search?q=service:orders&signal=spans",
        &[
            "place order",
            // The fixture's orders service sent one span: counted exactly,
            // and drawn as one bar with a hit among the minutes.
            "<h2 data-total>1 hit in the last 24h</h2>",
            r#"<svg class="bars""#,
        ],
    )
    .await;
    shows(&app, "/search", &["status:error"]).await;
    let html = shows(
        &app,
        "/search?q=name:(unclosed",
        &[
            r#"<p class="error-text" role="alert">"#,
            "`(` at column 6 is never closed",
        ],
    )
    .await;
    assert!(
        !html.contains("Nothing matched"),
        "a syntax error is not an empty result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlating_shows_the_components_in_order_and_the_linked_trace() {
    let f = fixture::stored().await;
    let app = dashboard(&f);
    let html = shows(
        &app,
        &format!("/correlate?id={ORDER_ID}"),
        &[
            "Components, in causal order",
            "2 traces from",
            r#"<span class="status active">same batch</span>"#,
            "the invocation that took the record",
            "<mark>place order</mark>",
            "payment declined for o-42",
        ],
    )
    .await;
    let gateway = html.find(r#"<a href="/components/api-gateway">"#).unwrap();
    let consumer = html.find(r#"<a href="/components/fulfilment">"#).unwrap();
    assert!(gateway < consumer, "the gateway saw the order first");
    shows(
        &app,
        "/correlate?id=nothing-has-this",
        &["a full-text search"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_page_has_the_waterfall_and_the_logs() {
    let f = fixture::stored().await;
    let app = dashboard(&f);
    shows(
        &app,
        &format!("/traces/{}", ORDER_TRACE.to_hex()),
        &[
            "2 spans · 1 log ·",
            r#"<div class="span-bar error""#,
            "POST /orders",
            "Logs of this trace",
            "payment declined for o-42",
            &format!(r#"<a href="/correlate?id={ORDER_ID}">"#),
        ],
    )
    .await;
    shows(
        &app,
        &format!("/traces/{}", "0c".repeat(16)),
        &["Nothing stored for this trace."],
    )
    .await;
    let page = get(&app, "/traces/zz", None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.html.contains("is not a trace id"), "{}", page.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_read_tokens_pages_send_browsers_to_the_login_form_that_sets_the_cookie() {
    let f = fixture::stored().await;
    let protected = dashboard(&f).layer(axum::middleware::from_fn_with_state(
        ReadAuth::new(vec!["s3cret read".into()]),
        weir_query::require_read_token,
    ));
    let app = weir_ui::public_router(true).merge(protected);

    let page = get(&app, "/components/orders?window=1h", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?next=/components/orders%3Fwindow%3D1h")
    );
    let page = get(&app, "/", Some("weir_token=wrong")).await;
    assert_eq!(page.location.as_deref(), Some("/login?next=/&failed=true"));
    shows(
        &app,
        "/login?failed=true",
        &["not one of this weir's read tokens"],
    )
    .await;

    let form = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("token=s3cret+read&next=%2Fcomponents%2Forders"))
        .unwrap();
    let signed_in = send(&app, form).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location.as_deref(), Some("/components/orders"));
    let set_cookie = signed_in.set_cookie.expect("the form sets the cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=2592000"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    // What a browser sends back: the cookie's name and value, no attributes.
    let cookie = set_cookie.split(';').next().unwrap();
    let page = get(&app, "/components/orders", Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Recent errors"));
}
