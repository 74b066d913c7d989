//! The stylesheet, the optional scripts (live refresh, interactive
//! charts) and the vendored uPlot they draw with.

use axum::http::header;
use axum::response::IntoResponse;

const STYLE: &str = include_str!("../assets/style.css");
const SCRIPT: &str = include_str!("../assets/live.js");
const CHARTS: &str = include_str!("../assets/charts.js");
const UPLOT: &str = include_str!("../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uplot/uPlot.min.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
}

pub async fn charts() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", CHARTS)
}

pub async fn uplot() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", UPLOT)
}

pub async fn uplot_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", UPLOT_CSS)
}

pub async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

pub async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}
