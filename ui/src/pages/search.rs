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
    pub error: bool,
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
    hits: Vec<Hit>,
    next: Option<String>,
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
    let result = weir_query::search::search(&d.store, request).await;
    match result {
        Err(e) => page.error = Some(e.to_string()),
        Ok(found) => {
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
                        error: s.status == weir_core::StatusCode::Error,
                        trace_id: Some(s.trace_id.to_hex()),
                    },
                    Record::Log(l) => Hit {
                        time: timestamp(l.time_unix_nano),
                        signal: "log",
                        service_href: urlencode(&l.service),
                        service: l.service.clone(),
                        text: format!(
                            "<span class=\"muted\">{}</span> {}",
                            l.severity.as_str(),
                            highlight(&l.body.to_text(), &words)
                        ),
                        error: matches!(
                            l.severity,
                            weir_core::Severity::Error | weir_core::Severity::Fatal
                        ),
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

#[cfg(test)]
mod tests {
    use super::*;

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
