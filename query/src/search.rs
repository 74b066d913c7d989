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
