//! The dashboard: server-rendered pages (askama templates), static assets and
//! server-side SVG charts, calling the query side in-process.
//!
//! Only the landing page exists so far: it tells a new user how to point an
//! exporter at weir and links to the JSON API. HTML is written here and
//! nowhere else.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

/// Where the OTLP listeners are, for the instructions on the landing page.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// OTLP/gRPC address.
    pub otlp_grpc: String,
    /// OTLP/HTTP address.
    pub otlp_http: String,
}

/// The dashboard routes.
pub fn router(endpoints: Endpoints) -> Router {
    let page = landing_page(&endpoints);
    Router::new().route("/", get(move || async move { Html(page) }))
}

fn landing_page(e: &Endpoints) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>weir</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#111}}code,pre{{background:#f3f3f3;padding:.1rem .3rem}}pre{{padding:1rem;overflow:auto}}</style>
</head><body>
<h1>weir</h1>
<p>Point your OpenTelemetry exporters here:</p>
<pre>OTEL_EXPORTER_OTLP_ENDPOINT=http://{grpc}   # gRPC
OTEL_EXPORTER_OTLP_PROTOCOL=grpc
# or, over HTTP:
OTEL_EXPORTER_OTLP_ENDPOINT=http://{http}
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf</pre>
<p>Then search what arrived: <a href="/api/v1/search?q=&amp;limit=20">/api/v1/search</a>,
look a trace up at <code>/api/v1/traces/&lt;trace id&gt;</code>, and watch
<a href="/metrics">/metrics</a>.</p>
</body></html>"#,
        grpc = e.otlp_grpc,
        http = e.otlp_http
    )
}
