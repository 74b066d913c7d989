//! Search: a page of spans and logs matching a tantivy query, newest first.

use crate::{ReadError, blocking};
use serde::Serialize;
use std::sync::Arc;
use weir_core::{LogRecord, Span};
use weir_store::{Store, StoredRecord};

pub use weir_store::{SearchRequest, SearchSignal};

/// A record as the API returns it: its signal beside its fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "signal", rename_all = "lowercase")]
pub enum Record {
    /// A span.
    Span(Box<Span>),
    /// A log record.
    Log(Box<LogRecord>),
}

impl From<StoredRecord> for Record {
    fn from(r: StoredRecord) -> Self {
        match r {
            StoredRecord::Span(s) => Record::Span(s),
            StoredRecord::Log(l) => Record::Log(l),
        }
    }
}

/// One page of hits: `GET /api/v1/search`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The records, newest first.
    pub hits: Vec<Record>,
    /// How many hits this page holds.
    pub count: usize,
    /// Pass back as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Runs `request` against the index, off the async executor.
pub async fn search(
    store: &Arc<Store>,
    request: SearchRequest,
) -> Result<SearchResults, ReadError> {
    let store = store.clone();
    blocking::run(move || {
        let page = store.search(&request)?;
        let hits: Vec<Record> = page.hits.into_iter().map(Record::from).collect();
        Ok(SearchResults {
            count: hits.len(),
            hits,
            next_cursor: page.next_cursor,
        })
    })
    .await
}

/// Hits of `request` per bucket of `width` nanoseconds from `request.from`,
/// `buckets` of them, exact: the histogram above a page of results.
pub async fn hits_per_bucket(
    store: &Arc<Store>,
    request: SearchRequest,
    width: u64,
    buckets: usize,
) -> Result<Vec<u64>, ReadError> {
    let store = store.clone();
    blocking::run(move || Ok(store.search_histogram(&request, width, buckets)?)).await
}

/// Where a query's brackets or quotes do not pair up, in words with the
/// column (1-based), for a syntax error the parser reports without one.
pub fn unbalanced(query: &str) -> Option<String> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<usize> = None;
    for (i, c) in query.chars().enumerate() {
        let column = i + 1;
        match (c, quote) {
            ('"', Some(_)) => quote = None,
            (_, Some(_)) => {}
            ('"', None) => quote = Some(column),
            ('(' | '[' | '{', None) => open.push((c, column)),
            (')' | ']' | '}', None) => {
                // Ranges mix their ends: `[1 TO 5}` is one.
                let pairs = |o: char| match c {
                    ')' => o == '(',
                    _ => o == '[' || o == '{',
                };
                match open.pop() {
                    Some((o, _)) if pairs(o) => {}
                    Some((o, at)) => {
                        return Some(format!(
                            "`{c}` at column {column} closes `{o}` from column {at}"
                        ));
                    }
                    None => return Some(format!("`{c}` at column {column} closes nothing")),
                }
            }
            _ => {}
        }
    }
    if let Some(at) = quote {
        return Some(format!("the quote at column {at} is never closed"));
    }
    open.pop()
        .map(|(o, at)| format!("`{o}` at column {at} is never closed"))
}

#[cfg(test)]
mod tests {
    use super::unbalanced;

    #[test]
    fn unpaired_brackets_and_quotes_are_placed() {
        assert_eq!(
            unbalanced("status:error AND (service:a"),
            Some("`(` at column 18 is never closed".into())
        );
        assert_eq!(
            unbalanced("name:\"GET /x"),
            Some("the quote at column 6 is never closed".into())
        );
        assert_eq!(
            unbalanced("a)"),
            Some("`)` at column 2 closes nothing".into())
        );
        assert_eq!(
            unbalanced("duration_ms:[1 TO 5}"),
            None,
            "a half-open range"
        );
        assert_eq!(
            unbalanced("(a]"),
            Some("`]` at column 3 closes `(` from column 1".into())
        );
        assert_eq!(unbalanced("name:\"(x\" AND (a OR b)"), None);
    }
}
