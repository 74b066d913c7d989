//! `/search`: a query box with examples, signal and time-range pickers,
//! results with the query's words highlighted, and paging.

use super::{render, window, window_options};
use crate::Dashboard;
use crate::charts::escape;
use crate::charts::graph::urlencode;
use crate::format::timestamp;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use weir_core::now_unix_nanos as now_nanos;
use weir_query::search::{Record, SearchRequest, SearchSignal};

#[derive(Deserialize)]
pub struct Params {
    pub q: Option<String>,
    pub signal: Option<String>,
    pub window: Option<String>,
    pub cursor: Option<String>,
}

pub struct Hit {
    pub time: String,
    pub signal: &'static str,
    pub service: String,
    pub service_href: String,
    pub text: String,
    /// A red badge: `error` on a failed span, the severity on an error log.
    pub badge: Option<&'static str>,
    pub trace_id: Option<String>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: &'static str,
    q: String,
    signals: Vec<(&'static str, bool)>,
    windows: Vec<(&'static str, bool)>,
    searched: bool,
    error: Option<String>,
    /// `1,234 hits in the last 15m`.
    total: String,
    histogram: String,
    hits: Vec<Hit>,
    next: Option<String>,
}

/// The histogram's buckets over a window: a minute each up to two hours,
/// else as wide as 120 bars allow, in whole minutes.
fn buckets(window: u64) -> (u64, usize) {
    const MINUTE: u64 = 60_000_000_000;
    let width = window.div_ceil(120).div_ceil(MINUTE).max(1) * MINUTE;
    (width, (window.div_ceil(width) + 1) as usize)
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bare words of a query (not `field:value` terms or operators), to
/// highlight.
pub fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| c.is_whitespace() || "()".contains(c))
        .filter(|w| !w.is_empty() && !w.contains(':') && !["AND", "OR", "NOT"].contains(w))
        .map(|w| w.trim_matches('"').to_lowercase())
        .filter(|w| w.len() >= 2)
        .collect()
}

/// Escapes `text` and marks every occurrence of `words`.
pub fn highlight(text: &str, words: &[String]) -> String {
    let lower = text.to_lowercase();
    if words.is_empty() || lower.len() != text.len() {
        return escape(text);
    }
    let mut marks = vec![false; text.len()];
    for w in words {
        let mut at = 0;
        while let Some(i) = lower[at..].find(w.as_str()) {
            let start = at + i;
            marks[start..start + w.len()]
                .iter_mut()
                .for_each(|m| *m = true);
            at = start + w.len();
        }
    }
    let mut out = String::new();
    let mut open = false;
    for (i, c) in text.char_indices() {
        if marks[i] && !open {
            out.push_str("<mark>");
            open = true;
        } else if !marks[i] && open {
            out.push_str("</mark>");
            open = false;
        }
        out.push_str(&escape(&c.to_string()));
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

pub async fn page(State(d): State<Dashboard>, Query(p): Query<Params>) -> Response {
    let (window_text, span) = match window(p.window.as_deref(), "24h") {
        Ok(w) => w,
        Err(e) => return super::problem(axum::http::StatusCode::BAD_REQUEST, e),
    };
    let signal_text = p.signal.clone().unwrap_or_else(|| "all".into());
    let signal = match signal_text.as_str() {
        "spans" => SearchSignal::Spans,
        "logs" => SearchSignal::Logs,
        _ => SearchSignal::All,
    };
    let q = p.q.clone().unwrap_or_default();
    let mut page = SearchPage {
        nav: "search",
        q: q.clone(),
        signals: ["all", "spans", "logs"]
            .iter()
            .map(|s| (*s, *s == signal_text))
            .collect(),
        windows: window_options(&window_text),
        searched: p.q.is_some(),
        error: None,
        total: String::new(),
        histogram: String::new(),
        hits: Vec::new(),
        next: None,
    };
    if p.q.is_none() {
        return render(&page);
    }
    let now = now_nanos();
    let request = SearchRequest {
        query: q.clone(),
        signal,
        from: now.saturating_sub(span),
        to: u64::MAX,
        limit: 50,
        cursor: p.cursor.clone(),
    };
    let (width, count) = buckets(span);
    let from = weir_core::pipeline::minute_of(now.saturating_sub(span));
    let histogram_request = SearchRequest {
        from,
        ..request.clone()
    };
    let result = weir_query::search::search(&d.store, request).await;
    match result {
        Err(e) => {
            let hint = weir_query::search::unbalanced(&q)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            page.error = Some(format!("{e}{hint}"));
        }
        Ok(found) => {
            if let Ok(counts) =
                weir_query::search::hits_per_bucket(&d.store, histogram_request, width, count).await
            {
                let total: u64 = counts.iter().sum();
                page.total = format!(
                    "{} hit{} in the last {window_text}",
                    thousands(total),
                    if total == 1 { "" } else { "s" }
                );
                let labels: Vec<String> = (0..counts.len() as u64)
                    .map(|i| crate::format::timestamp(from + i * width))
                    .collect();
                page.histogram = crate::charts::lines::bars(
                    &counts,
                    &labels,
                    600,
                    48,
                    &format!(
                        "hits per {} over the last {window_text}",
                        crate::format::millis(Some(width as f64 / 1e6))
                    ),
                );
            }
            let words = words(&q);
            page.hits = found
                .hits
                .into_iter()
                .map(|h| match h {
                    Record::Span(s) => Hit {
                        time: timestamp(s.start_time_unix_nano),
                        signal: "span",
                        service_href: urlencode(&s.service),
                        service: s.service.clone(),
                        text: format!(
                            "{} <span class=\"muted\">{} · {:.1} ms</span>",
                            highlight(&s.name, &words),
                            s.kind.as_str(),
                            s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64
                                / 1e6
                        ),
                        badge: (s.status == weir_core::StatusCode::Error).then_some("error"),
                        trace_id: Some(s.trace_id.to_hex()),
                    },
                    Record::Log(l) => Hit {
                        time: timestamp(l.time_unix_nano),
                        signal: "log",
                        service_href: urlencode(&l.service),
                        service: l.service.clone(),
                        // An error log's severity is its badge, said once.
                        text: if error_log(&l) {
                            highlight(&l.body.to_text(), &words)
                        } else {
                            format!(
                                "<span class=\"muted\">{}</span> {}",
                                l.severity.as_str(),
                                highlight(&l.body.to_text(), &words)
                            )
                        },
                        badge: error_log(&l).then_some(l.severity.as_str()),
                        trace_id: l.trace_id.map(|t| t.to_hex()),
                    },
                })
                .collect();
            page.next = found.next_cursor.map(|c| {
                format!(
                    "/search?q={}&signal={}&window={}&cursor={}",
                    urlencode(&q),
                    signal_text,
                    window_text,
                    urlencode(&c)
                )
            });
        }
    }
    render(&page)
}

fn error_log(l: &weir_core::LogRecord) -> bool {
    matches!(
        l.severity,
        weir_core::Severity::Error | weir_core::Severity::Fatal
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_have_minute_buckets_up_to_two_hours() {
        const MINUTE: u64 = 60_000_000_000;
        assert_eq!(buckets(15 * MINUTE), (MINUTE, 16));
        assert_eq!(buckets(120 * MINUTE), (MINUTE, 121));
        assert_eq!(buckets(24 * 60 * MINUTE), (12 * MINUTE, 121));
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn highlights_bare_words_only_and_escapes() {
        let w = words(r#"service:"kv" AND throttled OR <b>"#);
        assert_eq!(w, ["throttled", "<b>"]);
        assert_eq!(
            highlight("Write Throttled by <b>", &w),
            "Write <mark>Throttled</mark> by <mark>&lt;b&gt;</mark>"
        );
    }
}
