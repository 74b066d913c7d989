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

/// The time range a page shows: a preset window ending now, or a custom
/// `from`/`to` (RFC 3339, Unix nanoseconds, `now-1h`), as a chart's zoom
/// sets it.
pub struct Range {
    /// Start, Unix nanoseconds.
    pub from: u64,
    /// End, Unix nanoseconds.
    pub to: u64,
    /// The preset, when it is one.
    pub window: Option<String>,
    /// The custom range as typed, for the picker's fields.
    pub from_text: String,
    /// The custom end as typed.
    pub to_text: String,
    /// `last 15m`, or `2026-12-04 10:00:00 UTC to 2026-12-04 10:30:00 UTC`.
    pub label: String,
    /// The query string that shows the same range on another page.
    pub query: String,
}

/// A page's `window`, `from` and `to` parameters.
#[derive(serde::Deserialize)]
pub struct RangeParams {
    /// A preset, `15m`.
    pub window: Option<String>,
    /// A custom start.
    pub from: Option<String>,
    /// A custom end.
    pub to: Option<String>,
}

impl RangeParams {
    /// The range they name at `now` (`default` window without any), or
    /// the error page that says what is wrong with them.
    pub fn resolve(&self, default: &'static str, now: u64) -> Result<Range, Box<Response>> {
        range(
            self.window.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            default,
            now,
        )
        .map_err(|e| Box::new(problem(StatusCode::BAD_REQUEST, e)))
    }
}

/// The range of a page's `window`, `from` and `to` parameters at `now`:
/// `from` wins over `window`; `to` defaults to now.
pub fn range(
    window_param: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    default: &'static str,
    now: u64,
) -> Result<Range, String> {
    let given = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(from_text) = given(from) {
        let to_text = given(to).unwrap_or_else(|| "now".into());
        let parse = |name: &str, text: &str| {
            weir_core::parse_time_at(text, now).map_err(|e| format!("{name}: {e}"))
        };
        let (start, end) = (parse("from", &from_text)?, parse("to", &to_text)?);
        if start >= end {
            return Err(format!("from={from_text:?} is not before to={to_text:?}"));
        }
        let label = format!(
            "{} to {}",
            crate::format::timestamp(start),
            crate::format::timestamp(end)
        );
        let query = format!(
            "from={}&to={}",
            crate::charts::graph::urlencode(&from_text),
            crate::charts::graph::urlencode(&to_text)
        );
        return Ok(Range {
            from: start,
            to: end,
            window: None,
            from_text,
            to_text,
            label,
            query,
        });
    }
    let (text, span) = window(window_param, default)?;
    Ok(Range {
        from: now.saturating_sub(span),
        to: now,
        label: format!("last {text}"),
        query: format!("window={}", crate::charts::graph::urlencode(&text)),
        window: Some(text),
        from_text: String::new(),
        to_text: String::new(),
    })
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
