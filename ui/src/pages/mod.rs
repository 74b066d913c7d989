//! One module per page: a handler that reads, shapes rows of text, and
//! renders its template.

pub mod alerts;
pub mod cluster;
pub mod component;
pub mod correlate;
pub mod login;
pub mod overview;
pub mod search;
pub mod trace;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Renders a template, or a plain error page if rendering fails.
pub fn render(template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {e}"),
        )
            .into_response(),
    }
}

/// An error page in plain words.
pub fn problem(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>weir</title>\
         <link rel=\"stylesheet\" href=\"/ui/style.css\"></head><body><main><h1>{}</h1>\
         <p class=\"error-text\">{}</p><p><a href=\"/\">Overview</a></p></main></body></html>",
        status.canonical_reason().unwrap_or("Error"),
        crate::charts::escape(&message.to_string())
    );
    (status, Html(body)).into_response()
}

/// The windows the pickers offer.
pub const WINDOWS: [&str; 6] = ["5m", "15m", "1h", "6h", "24h", "7d"];

/// The picker options with `chosen` selected.
pub fn window_options(chosen: &str) -> Vec<(&'static str, bool)> {
    WINDOWS.iter().map(|w| (*w, *w == chosen)).collect()
}

/// A window parameter, checked; `default` when absent.
pub fn window(param: Option<&str>, default: &'static str) -> Result<(String, u64), String> {
    let text = param
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .unwrap_or(default);
    weir_core::parse_duration(text)
        .map(|d| (text.to_string(), d.as_nanos() as u64))
        .map_err(|_| format!("window={text:?} is not a duration; use e.g. 15m or 1h"))
}
