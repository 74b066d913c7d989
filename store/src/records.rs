//! The store as the rest of weir sees it: open once, write events, read them
//! back as `weir_core` records.

use crate::LocalCatalog;
use crate::StoreError;
use crate::checkpoint::Sink;
use crate::config::StoreConfig;
use crate::db::Database;
use crate::index::{Signal, SignalIndex, StoredHit, WriterBudget};
use crate::split_source::{SplitNeed, SplitSource, SplitsHeld};
use std::sync::Arc;
use weir_core::{LogRecord, Span, TraceId};

/// Which signals a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSignal {
    /// Spans only.
    Spans,
    /// Log records only.
    Logs,
    /// Both, merged newest first.
    All,
}

/// A search as the query API receives it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// tantivy query syntax over the documented fields; empty matches all.
    pub query: String,
    /// Which signals.
    pub signal: SearchSignal,
    /// From, Unix nanoseconds, inclusive.
    pub from: u64,
    /// To, Unix nanoseconds, inclusive.
    pub to: u64,
    /// Page size.
    pub limit: usize,
    /// Continue after a previous page.
    pub cursor: Option<String>,
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The records, newest first.
    pub hits: Vec<StoredRecord>,
    /// Pass back to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredRecord {
    /// A span.
    Span(Box<Span>),
    /// A log record.
    Log(Box<LogRecord>),
}

impl StoredRecord {
    /// The event time.
    pub fn time(&self) -> u64 {
        match self {
            StoredRecord::Span(s) => s.start_time_unix_nano,
            StoredRecord::Log(l) => l.time_unix_nano,
        }
    }
}

/// Most records a single trace lookup returns per signal.
const TRACE_RECORD_LIMIT: usize = 10_000;

/// Everything weir keeps: the span and log indexes and the database.
pub struct Store {
    /// Span index.
    pub spans: Arc<SignalIndex>,
    /// Log index.
    pub logs: Arc<SignalIndex>,
    /// Relational database.
    pub db: Database,
    /// Metric names just committed to `db`, for evaluation on arrival.
    pub arrivals: Arc<crate::arrivals::MetricArrivals>,
    /// In cluster mode, where queries get the splits they need.
    splits: std::sync::OnceLock<Arc<dyn SplitSource>>,
}

/// A cursor: the time of the last hit returned and how many hits at exactly
/// that time were returned, so ties across pages are neither lost nor repeated.
fn parse_cursor(text: &str) -> Result<(u64, usize), StoreError> {
    let bad = || StoreError::BadQuery(format!("cursor `{text}` is not one this API returned"));
    let (time, skip) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        skip.parse().map_err(|_| bad())?,
    ))
}

impl Store {
    /// Opens (creating if needed) the index under `data_dir/index` and the database.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StoreError::io(&config.data_dir, e))?;
        let index_dir = config.data_dir.join("index");
        let threads = if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            2
        } else {
            1
        };
        let spans = SignalIndex::open(
            &index_dir,
            Signal::Spans,
            WriterBudget {
                threads,
                heap_bytes: config.span_index_heap_bytes,
            },
        )?;
        let logs = SignalIndex::open(
            &index_dir,
            Signal::Logs,
            WriterBudget {
                threads,
                heap_bytes: config.log_index_heap_bytes,
            },
        )?;
        let db = Database::open(&config.database, &config.data_dir).await?;
        Ok(Store {
            spans: Arc::new(spans),
            logs: Arc::new(logs),
            db,
            arrivals: Arc::default(),
            splits: std::sync::OnceLock::new(),
        })
    }

    /// Makes every query ask `source` for the splits it needs first (a
    /// cluster node's split cache). Set once; a second source is refused.
    pub fn fetch_splits_from(&self, source: Arc<dyn SplitSource>) -> bool {
        self.splits.set(source).is_ok()
    }

    /// What `need` names, brought and held (nothing on a single node).
    fn bring(&self, need: SplitNeed<'_>) -> Result<Option<SplitsHeld>, StoreError> {
        self.splits.get().map(|s| s.bring(&need)).transpose()
    }

    /// What storage has durably committed, per sink: see [`crate::checkpoint`].
    pub fn catalog(&self) -> LocalCatalog {
        LocalCatalog::new(self.spans.clone(), self.logs.clone(), self.db.clone())
    }

    fn decode_span(hit: &StoredHit) -> Result<StoredRecord, StoreError> {
        crate::index::stored::decode(&hit.doc).map(|s| StoredRecord::Span(Box::new(s)))
    }

    fn decode_log(hit: &StoredHit) -> Result<StoredRecord, StoreError> {
        crate::index::stored::decode(&hit.doc).map(|l| StoredRecord::Log(Box::new(l)))
    }

    /// How many events of both signals match `req.query` per bucket of
    /// `width` nanoseconds from `req.from` (`buckets` of them; `req.to`,
    /// the cursor and the limit are not read): the hit histogram and, summed,
    /// the total above a page of results.
    pub fn search_histogram(
        &self,
        req: &SearchRequest,
        width: u64,
        buckets: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let to = req
            .from
            .saturating_add(width.saturating_mul(buckets as u64));
        let mut counts = vec![0u64; buckets];
        let mut held = Vec::new();
        for (index, signal, sink) in [
            (&self.spans, SearchSignal::Logs, Sink::Spans),
            (&self.logs, SearchSignal::Spans, Sink::Logs),
        ] {
            if req.signal == signal {
                continue;
            }
            held.push(self.bring(SplitNeed {
                sink,
                from: req.from,
                to,
                values: &[],
            })?);
            let query = index.parse_query(&req.query)?;
            let part = index.histogram(query.as_ref(), req.from, width, buckets)?;
            for (total, n) in counts.iter_mut().zip(part) {
                *total += n;
            }
        }
        Ok(counts)
    }

    /// A page of events matching a query, newest first.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchPage, StoreError> {
        let (to, skip_at_to) = match &req.cursor {
            Some(c) => {
                let (time, skip) = parse_cursor(c)?;
                (req.to.min(time), if time <= req.to { skip } else { 0 })
            }
            None => (req.to, 0),
        };
        let want = req.limit.saturating_add(skip_at_to);
        let mut records = Vec::new();
        let mut held = Vec::new();
        for (signal, sink) in [
            (SearchSignal::Logs, Sink::Spans),
            (SearchSignal::Spans, Sink::Logs),
        ] {
            if req.signal != signal {
                held.push(self.bring(SplitNeed {
                    sink,
                    from: req.from,
                    to,
                    values: &[],
                })?);
            }
        }
        if req.signal != SearchSignal::Logs {
            let query = self.spans.parse_query(&req.query)?;
            for hit in self.spans.search(query.as_ref(), req.from, to, want)? {
                records.push(Self::decode_span(&hit)?);
            }
        }
        if req.signal != SearchSignal::Spans {
            let query = self.logs.parse_query(&req.query)?;
            for hit in self.logs.search(query.as_ref(), req.from, to, want)? {
                records.push(Self::decode_log(&hit)?);
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.time()));
        let full = records.len() >= want;
        let mut skipped = 0;
        records.retain(|r| {
            if skipped < skip_at_to && r.time() == to {
                skipped += 1;
                false
            } else {
                true
            }
        });
        records.truncate(req.limit);
        let next_cursor = match (full, records.last()) {
            (true, Some(last)) => {
                let t = last.time();
                let mut ties = records.iter().filter(|r| r.time() == t).count();
                if t == to {
                    ties += skip_at_to;
                }
                Some(format!("{t}.{ties}"))
            }
            _ => None,
        };
        Ok(SearchPage {
            hits: records,
            next_cursor,
        })
    }

    /// Every span and log record of a trace.
    pub fn trace(&self, trace_id: TraceId) -> Result<(Vec<Span>, Vec<LogRecord>), StoreError> {
        let hex = trace_id.to_hex();
        let _held = self.bring_holding(&hex)?;
        self.trace_of(&hex)
    }

    /// The traces, newest first, of spans that started in `[from, to]` and
    /// whose trace id starts with `prefix` (lower-case hex, as the pages
    /// show short ids), at most `limit`. Every split of the range is read:
    /// a split's filter knows whole ids only.
    pub fn traces_with_prefix(
        &self,
        prefix: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<TraceId>, StoreError> {
        let prefix = prefix.to_ascii_lowercase();
        let _held = self.bring(SplitNeed {
            sink: Sink::Spans,
            from,
            to,
            values: &[],
        })?;
        let q = self.spans.prefix_query("trace_id", &prefix)?;
        let mut out = Vec::new();
        // Spans, not traces, are counted against the page: ask for more.
        for hit in self
            .spans
            .search(q.as_ref(), from, to, limit.saturating_mul(20))?
        {
            if let StoredRecord::Span(s) = Self::decode_span(&hit)?
                && !out.contains(&s.trace_id)
            {
                out.push(s.trace_id);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Spans of other traces that link into `trace_id` (a consumer's batch
    /// span linking to the producer's span), at most `limit`.
    pub fn spans_linking_to(
        &self,
        trace_id: TraceId,
        limit: usize,
    ) -> Result<Vec<Span>, StoreError> {
        let hex = trace_id.to_hex();
        let _held = self.bring_holding(&hex)?;
        let q = self.spans.term_query("link_trace_id", &hex)?;
        let mut out = Vec::new();
        for hit in self.spans.lookup_holding(q.as_ref(), &[&hex], limit)? {
            if let StoredRecord::Span(s) = Self::decode_span(&hit)?
                && s.trace_id != trace_id
            {
                out.push(*s);
            }
        }
        Ok(out)
    }

    /// The splits of either signal that may hold `value` at any time
    /// (a trace id: its records, and spans linking to it), brought and held.
    fn bring_holding(&self, value: &str) -> Result<Vec<Option<SplitsHeld>>, StoreError> {
        [Sink::Spans, Sink::Logs]
            .map(|sink| {
                self.bring(SplitNeed {
                    sink,
                    from: 0,
                    to: u64::MAX,
                    values: &[value],
                })
            })
            .into_iter()
            .collect()
    }

    /// [`Store::trace`] over the splits already brought.
    fn trace_of(&self, hex: &str) -> Result<(Vec<Span>, Vec<LogRecord>), StoreError> {
        let mut spans = Vec::new();
        let q = self.spans.term_query("trace_id", hex)?;
        for hit in self
            .spans
            .lookup_holding(q.as_ref(), &[hex], TRACE_RECORD_LIMIT)?
        {
            if let StoredRecord::Span(s) = Self::decode_span(&hit)? {
                spans.push(*s);
            }
        }
        let mut logs = Vec::new();
        let q = self.logs.term_query("trace_id", hex)?;
        for hit in self
            .logs
            .lookup_holding(q.as_ref(), &[hex], TRACE_RECORD_LIMIT)?
        {
            if let StoredRecord::Log(l) = Self::decode_log(&hit)? {
                logs.push(*l);
            }
        }
        Ok((spans, logs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(parse_cursor("123.2").unwrap(), (123, 2));
        assert!(parse_cursor("abc").is_err());
        assert!(parse_cursor("1.x").is_err());
    }
}

/// Everything one id touched: see [`Store::correlate`].
#[derive(Debug, Default)]
pub struct Correlation {
    /// Records whose trace id, span id or a string attribute equals the id.
    pub matches: Vec<StoredRecord>,
    /// The traces those records belong to, then the traces linked to them in
    /// either direction (`linked` true), each with its spans and logs.
    pub traces: Vec<CorrelatedTrace>,
}

/// One trace in a correlation.
#[derive(Debug)]
pub struct CorrelatedTrace {
    /// The trace.
    pub trace_id: TraceId,
    /// Reached through a span link rather than a direct match.
    pub linked: bool,
    /// Its spans.
    pub spans: Vec<Span>,
    /// Its logs.
    pub logs: Vec<LogRecord>,
}

/// Most directly matched records and most traces a correlation returns.
const CORRELATE_MATCHES: usize = 1000;
const CORRELATE_TRACES: usize = 50;

impl Store {
    /// Every span and log whose trace id, span id or any string attribute
    /// equals `id` in `[from, to]`; the traces they belong to; and the traces
    /// linked to those by span links, in both directions.
    pub fn correlate(&self, id: &str, from: u64, to: u64) -> Result<Correlation, StoreError> {
        let lower = id.to_ascii_lowercase();
        let _held = [Sink::Spans, Sink::Logs]
            .map(|sink| {
                self.bring(SplitNeed {
                    sink,
                    from,
                    to,
                    values: &[&lower, id],
                })
            })
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Correlation::default();
        for (index, is_span) in [(&self.spans, true), (&self.logs, false)] {
            let query = tantivy::query::BooleanQuery::new(vec![
                (
                    tantivy::query::Occur::Should,
                    index.term_query("trace_id", &lower)?,
                ),
                (
                    tantivy::query::Occur::Should,
                    index.term_query("span_id", &lower)?,
                ),
                (
                    tantivy::query::Occur::Should,
                    index.any_string_value_query(id),
                ),
            ]);
            for hit in index.search_holding(&query, &[&lower, id], from, to, CORRELATE_MATCHES)? {
                out.matches.push(if is_span {
                    Self::decode_span(&hit)?
                } else {
                    Self::decode_log(&hit)?
                });
            }
        }
        out.matches.sort_by_key(StoredRecord::time);
        let mut seen = std::collections::HashSet::new();
        let mut direct = Vec::new();
        for r in &out.matches {
            let t = match r {
                StoredRecord::Span(s) => Some(s.trace_id),
                StoredRecord::Log(l) => l.trace_id,
            };
            if let Some(t) = t
                && seen.insert(t)
            {
                direct.push(t);
            }
        }
        direct.truncate(CORRELATE_TRACES);
        // Links are followed out of the spans that carry the id only: a
        // consumer's batch span links to every record of its batch, and
        // those are other records, not this one.
        let matched_spans: std::collections::HashSet<(TraceId, weir_core::SpanId)> = out
            .matches
            .iter()
            .filter_map(|r| match r {
                StoredRecord::Span(s) => Some((s.trace_id, s.span_id)),
                StoredRecord::Log(_) => None,
            })
            .collect();
        let mut linked = Vec::new();
        for &t in &direct {
            let hex = t.to_hex();
            // Its records and the spans linking to it, wherever stored.
            let _held = self.bring_holding(&hex)?;
            let (spans, logs) = self.trace_of(&hex)?;
            for link in spans
                .iter()
                .filter(|s| matched_spans.contains(&(s.trace_id, s.span_id)))
                .flat_map(|s| &s.links)
            {
                if seen.insert(link.trace_id) {
                    linked.push(link.trace_id);
                }
            }
            let q = self.spans.term_query("link_trace_id", &hex)?;
            for hit in self
                .spans
                .lookup_holding(q.as_ref(), &[&hex], CORRELATE_MATCHES)?
            {
                if let StoredRecord::Span(s) = Self::decode_span(&hit)?
                    && seen.insert(s.trace_id)
                {
                    linked.push(s.trace_id);
                }
            }
            out.traces.push(CorrelatedTrace {
                trace_id: t,
                linked: false,
                spans,
                logs,
            });
        }
        for t in linked
            .into_iter()
            .take(CORRELATE_TRACES.saturating_sub(out.traces.len()))
        {
            let (spans, logs) = self.trace(t)?;
            out.traces.push(CorrelatedTrace {
                trace_id: t,
                linked: true,
                spans,
                logs,
            });
        }
        Ok(out)
    }
}
