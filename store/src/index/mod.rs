//! The tantivy event index: spans and log records, each signal in its own set
//! of daily partitions.
//!
//! Partitions are cut by *ingest* day, as Quickwit cuts splits: only one writer
//! per signal is ever open, late or back-dated data costs nothing extra, and
//! each partition's commit payload records the event-time range it holds so a
//! query skips partitions it cannot hit. Retention deletes whole partitions.

mod document;
mod merging;
mod partition;
pub mod query_limits;
mod schema;
pub mod split;
mod split_writer;
pub mod stored;
mod string_paths;
pub mod term_filter;
mod upgrade;

pub use partition::{CommitPayload, day_of};
pub use schema::Fields;
pub use split_writer::{FinishedSplit, SplitWriter};
pub use string_paths::MAX_STRING_PATHS;

use crate::StoreError;
use parking_lot::{Mutex, RwLock};
use partition::Partition;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use string_paths::{PublishedNames, StringPaths};
use tantivy::collector::{Collector, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery};
use tantivy::schema::{Schema, Value};
use tantivy::tokenizer::TokenizerManager;
use tantivy::{DocAddress, IndexWriter, Order, Searcher, TantivyDocument, Term};
use weir_core::{LogRecord, Span};

/// Which event signal an index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Trace spans.
    Spans,
    /// Log records.
    Logs,
}

impl Signal {
    /// Directory and label name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "logs",
        }
    }
}

/// Writer sizing for one signal's index.
#[derive(Debug, Clone, Copy)]
pub struct WriterBudget {
    /// Indexing threads.
    pub threads: usize,
    /// Total indexing heap in bytes, split among the threads.
    pub heap_bytes: usize,
}

/// One stored event found by a search: its time and its serialized record.
#[derive(Debug, Clone)]
pub struct StoredHit {
    /// Event time, Unix nanoseconds.
    pub time: u64,
    /// The record, as the store serialized it.
    pub doc: Vec<u8>,
}

struct ActiveWriter {
    partition: Arc<Partition>,
    writer: IndexWriter,
    pending: CommitPayload,
    uncommitted_docs: usize,
}

/// How a writer of `budget` indexes and merges.
fn writer_options(budget: WriterBudget) -> tantivy::indexer::IndexWriterOptions {
    tantivy::indexer::IndexWriterOptions::builder()
        .num_worker_threads(budget.threads)
        .memory_budget_per_thread(budget.heap_bytes / budget.threads.max(1))
        .num_merge_threads(merging::MERGE_THREADS)
        .build()
}

/// One signal's partitions and its single writer.
pub struct SignalIndex {
    signal: Signal,
    root: PathBuf,
    schema: Schema,
    fields: Fields,
    budget: WriterBudget,
    parser: QueryParser,
    partitions: RwLock<Vec<Arc<Partition>>>,
    writer: Mutex<Option<ActiveWriter>>,
    /// Written only by the writer's caller, with the writer.
    string_paths: Mutex<StringPaths>,
    path_names: PublishedNames,
    committed_seq: AtomicU64,
    last_commit_nanos: AtomicU64,
}

impl SignalIndex {
    /// Opens every partition under `root/<signal>/`.
    pub fn open(root: &Path, signal: Signal, budget: WriterBudget) -> Result<Self, StoreError> {
        let root = root.join(signal.as_str());
        std::fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        let (schema, fields) = schema::build();
        upgrade::finish_interrupted(&root)?;
        let mut partitions = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| StoreError::io(&root, e))? {
            let entry = entry.map_err(|e| StoreError::io(&root, e))?;
            let Some(day) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if upgrade::holds_index(&entry.path()) && !upgrade::is_current(&entry.path()) {
                tracing::info!(
                    partition = %entry.path().display(),
                    "re-indexing a partition written by an older weir into the current format"
                );
                let records = upgrade::rebuild(&entry.path(), signal, &schema, &fields, budget)
                    .map_err(|cause| StoreError::Upgrade {
                        path: entry.path(),
                        cause: Box::new(cause),
                    })?;
                tracing::info!(partition = %entry.path().display(), records, "partition re-indexed");
            }
            partitions.push(Arc::new(Partition::open_or_create(
                &entry.path(),
                day,
                &schema,
            )?));
        }
        sort_partitions(&mut partitions);
        let committed = partitions
            .iter()
            .map(|p| p.payload.read().wal_seq)
            .max()
            .unwrap_or(0);
        let mut persisted = Vec::new();
        for p in &partitions {
            persisted.push(partition::durable_string_paths(&p.index)?);
        }
        let string_paths = StringPaths::from_persisted(&persisted);
        let path_names = string_paths.published();
        let mut parser = QueryParser::new(
            schema.clone(),
            vec![fields.body, fields.name],
            TokenizerManager::default(),
        );
        parser.set_conjunction_by_default();
        Ok(SignalIndex {
            signal,
            root,
            schema,
            fields,
            budget,
            parser,
            partitions: RwLock::new(partitions),
            writer: Mutex::new(None),
            string_paths: Mutex::new(string_paths),
            path_names,
            committed_seq: AtomicU64::new(committed),
            last_commit_nanos: AtomicU64::new(0),
        })
    }

    /// Which signal this is.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The highest write-ahead-log sequence number whose records are committed.
    pub fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Acquire)
    }

    /// When the last commit made data searchable, Unix nanoseconds (0: never).
    pub fn last_commit_nanos(&self) -> u64 {
        self.last_commit_nanos.load(Ordering::Relaxed)
    }

    /// Documents across all partitions, as of the last commit.
    pub fn num_docs(&self) -> u64 {
        self.partitions
            .read()
            .iter()
            .map(|p| p.reader.searcher().num_docs())
            .sum()
    }

    /// Adds spans; they become searchable at the next [`SignalIndex::commit`].
    pub fn add_spans(&self, spans: &[Span], now: u64) -> Result<(), StoreError> {
        let fields = &self.fields;
        let mut paths = self.string_paths.lock();
        let mut scratch = Vec::new();
        self.add(
            spans.iter().map(|s| {
                (
                    s.start_time_unix_nano,
                    document::span_document(fields, &mut paths, s, &mut scratch),
                )
            }),
            now,
        )
    }

    /// Adds log records; they become searchable at the next commit.
    pub fn add_logs(&self, logs: &[LogRecord], now: u64) -> Result<(), StoreError> {
        let fields = &self.fields;
        let mut paths = self.string_paths.lock();
        let mut scratch = Vec::new();
        self.add(
            logs.iter().map(|l| {
                (
                    l.time_unix_nano,
                    document::log_document(fields, &mut paths, l, &mut scratch),
                )
            }),
            now,
        )
    }

    fn add(
        &self,
        docs: impl Iterator<Item = (u64, TantivyDocument)>,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut guard = self.writer.lock();
        let active = match guard.as_mut() {
            Some(active) => active,
            None => guard.insert(self.open_writer(day_of(now))?),
        };
        for (time, doc) in docs {
            active.pending.min_time = active.pending.min_time.min(time);
            active.pending.max_time = active.pending.max_time.max(time);
            active.writer.add_document(doc)?;
            active.uncommitted_docs += 1;
        }
        Ok(())
    }

    fn open_writer(&self, day: u32) -> Result<ActiveWriter, StoreError> {
        let existing = self
            .partitions
            .read()
            .iter()
            .find(|p| p.day == day)
            .cloned();
        let partition = match existing {
            Some(p) => p,
            None => {
                let p = Arc::new(Partition::open_or_create(
                    &self.root.join(day.to_string()),
                    day,
                    &self.schema,
                )?);
                let mut parts = self.partitions.write();
                parts.push(p.clone());
                sort_partitions(&mut parts);
                p
            }
        };
        let writer = partition
            .index
            .writer_with_options(writer_options(self.budget))?;
        writer.set_merge_policy(Box::new(merging::policy()));
        let pending = *partition.payload.read();
        Ok(ActiveWriter {
            partition,
            writer,
            pending,
            uncommitted_docs: 0,
        })
    }

    /// Commits everything added so far as covering the WAL up to `wal_seq`, and
    /// makes it searchable. At a day boundary the writer moves to a new partition.
    pub fn commit(&self, wal_seq: u64, now: u64) -> Result<(), StoreError> {
        let mut guard = self.writer.lock();
        let Some(active) = guard.as_mut() else {
            return Ok(());
        };
        active.pending.wal_seq = active.pending.wal_seq.max(wal_seq);
        let payload = active.pending;
        #[cfg(feature = "failpoints")]
        fail::fail_point!("index::commit", |_| Err(StoreError::io(
            &active.partition.path,
            std::io::Error::from_raw_os_error(5)
        )));
        let mut prepared = active.writer.prepare_commit()?;
        prepared.set_payload(&partition::commit_record(
            payload,
            self.string_paths.lock().persisted(),
        ));
        prepared.commit()?;
        // The commit is durable from here on: a reader that fails to reload is
        // not a failed commit (retried at the next one).
        if let Err(e) = active.partition.reader.reload() {
            tracing::warn!(error = %e, "cannot reload the index reader after a commit");
        }
        *active.partition.payload.write() = payload;
        active.uncommitted_docs = 0;
        self.committed_seq
            .fetch_max(payload.wal_seq, Ordering::AcqRel);
        self.last_commit_nanos.store(now, Ordering::Relaxed);
        if active.partition.day != day_of(now)
            && let Some(old) = guard.take()
        {
            old.writer.wait_merging_threads()?;
        }
        Ok(())
    }

    /// Forgets everything added since the last commit and reads again from
    /// disk what each partition durably holds: after a failed add or commit,
    /// tantivy may have lost or half-written uncommitted documents, and only
    /// the last commit on disk can be trusted. Returns the WAL position the
    /// index durably covers.
    pub fn reopen(&self) -> Result<u64, StoreError> {
        let mut guard = self.writer.lock();
        // Dropping the writer kills its segment updater before joining the
        // indexing threads; waiting for its merges instead can wait forever
        // on a merge the full disk cancelled.
        drop(guard.take());
        let mut committed = 0;
        for p in self.partitions.read().iter() {
            let payload = partition::durable_payload(&p.index)?;
            *p.payload.write() = payload;
            committed = committed.max(payload.wal_seq);
            if let Err(e) = p.reader.reload() {
                tracing::warn!(error = %e, "cannot reload an index reader");
            }
        }
        self.committed_seq.store(committed, Ordering::Release);
        Ok(committed)
    }

    /// Documents added but not yet committed.
    pub fn uncommitted_docs(&self) -> usize {
        self.writer
            .lock()
            .as_ref()
            .map_or(0, |a| a.uncommitted_docs)
    }

    /// Parses a user query in tantivy syntax over the documented fields.
    ///
    /// tantivy's grammar is parsed by recursive descent, so a query nested
    /// deeply enough overflows the stack: the limits are checked first.
    pub fn parse_query(&self, text: &str) -> Result<Box<dyn Query>, StoreError> {
        if text.trim().is_empty() {
            return Ok(Box::new(tantivy::query::AllQuery));
        }
        query_limits::check(text)?;
        let ast = tantivy::query_grammar::parse_query(text).map_err(|_| {
            StoreError::BadQuery(
                tantivy::query::QueryParserError::SyntaxError(text.to_string()).to_string(),
            )
        })?;
        let ast = string_paths::widen_key_clauses(ast, &self.path_names.read());
        let query = self
            .parser
            .build_query_from_user_input_ast(ast)
            .map_err(|e| match e {
                tantivy::query::QueryParserError::FieldNotIndexed(field) => {
                    StoreError::BadQuery(format!(
                        "`{field}` is matched by ranges, not single values: write {field}:>100 or {field}:[100 TO 500]"
                    ))
                }
                e => StoreError::BadQuery(format!("{e}")),
            })?;
        // Queries the parser accepts but the index cannot run fail here, the
        // same with or without stored data.
        query
            .weight(tantivy::query::EnableScoring::disabled_from_schema(
                &self.schema,
            ))
            .map_err(query_limits::unrunnable)?;
        Ok(query)
    }

    /// An exact-match query on one of the keyword fields (`trace_id`, `key`, …).
    pub fn term_query(&self, field: &str, value: &str) -> Result<Box<dyn Query>, StoreError> {
        let field = self
            .schema
            .get_field(field)
            .map_err(|e| StoreError::BadQuery(e.to_string()))?;
        Ok(Box::new(tantivy::query::TermQuery::new(
            Term::from_field_text(field, value),
            tantivy::schema::IndexRecordOption::Basic,
        )))
    }

    /// Events whose `field` (an exact-match string field, such as
    /// `trace_id`) starts with `prefix`: a range over the term dictionary.
    pub fn prefix_query(&self, field: &str, prefix: &str) -> Result<Box<dyn Query>, StoreError> {
        let field = self
            .schema
            .get_field(field)
            .map_err(|e| StoreError::BadQuery(e.to_string()))?;
        // Every term with the prefix sorts below the prefix followed by the
        // largest character.
        let upper = format!("{prefix}{}", char::MAX);
        Ok(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_text(field, prefix)),
            Bound::Excluded(Term::from_field_text(field, &upper)),
        )))
    }

    /// Events with `value` as any string attribute or correlation key: in
    /// `key` or under any known string path of `attributes` and `resource`.
    pub fn any_string_value_query(&self, value: &str) -> Box<dyn Query> {
        let exact = |term: Term| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(tantivy::query::TermQuery::new(
                    term,
                    tantivy::schema::IndexRecordOption::Basic,
                )),
            )
        };
        let mut clauses = vec![exact(Term::from_field_text(self.fields.key, value))];
        for name in self.path_names.read().iter() {
            let Some((field, path)) = name.split_once('.') else {
                continue;
            };
            let field = if field == "resource" {
                self.fields.resource
            } else {
                self.fields.attributes
            };
            let mut term = Term::from_field_json_path(field, path, true);
            term.append_type_and_str(value);
            clauses.push(exact(term));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The newest `limit` events matching `query` with time in `[from, to]`,
    /// newest first.
    pub fn search(
        &self,
        query: &dyn Query,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<StoredHit>, StoreError> {
        self.search_holding(query, &[], from, to, limit)
    }

    /// [`SignalIndex::search`] of a query that only matches documents
    /// holding one of `values` exactly: partitions whose filter rules them
    /// all out are not opened.
    pub fn search_holding(
        &self,
        query: &dyn Query,
        values: &[&str],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<StoredHit>, StoreError> {
        let bounded = self.started_in(query, Bound::Included(from), Bound::Included(to));
        let partitions = self.overlapping(from, to, values);
        let limit = limit.max(1);
        let mut hits: Vec<StoredHit> = Vec::new();
        for partition in partitions.iter().rev() {
            // Nothing older than the newest `limit` found so far can make
            // the page: a partition whose newest event is older is skipped.
            if newest_enough(&hits, limit, partition.payload.read().max_time) {
                break;
            }
            let searcher = partition.reader.searcher();
            let top = query_limits::run_guarded(|| newest_matches(&searcher, &bounded, limit))?;
            for (time, address) in top {
                hits.push(StoredHit {
                    time: time.unwrap_or(0),
                    doc: self.stored_record(&searcher, address)?,
                });
            }
            hits.sort_by_key(|h| std::cmp::Reverse(h.time));
            hits.truncate(limit);
        }
        Ok(hits)
    }

    /// `query` restricted to events that started within the bounds.
    fn started_in(&self, query: &dyn Query, from: Bound<u64>, to: Bound<u64>) -> BooleanQuery {
        let term = |t: u64| Term::from_field_u64(self.fields.start_time, t);
        let range = RangeQuery::new(from.map(term), to.map(term));
        BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            (Occur::Must, Box::new(range)),
        ])
    }

    /// The partitions whose events overlap `[from, to]` and whose filter
    /// does not rule out all of `values` (none: every one).
    fn overlapping(&self, from: u64, to: u64, values: &[&str]) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .iter()
            .filter(|p| p.payload.read().overlaps(from, to) && p.may_hold_any(values))
            .cloned()
            .collect()
    }

    /// How many events match `query` in `[from, from + width × buckets)`,
    /// per bucket of `width` nanoseconds of their start time: the hit
    /// histogram above search results. Counts are exact.
    pub fn histogram(
        &self,
        query: &dyn Query,
        from: u64,
        width: u64,
        buckets: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let to = from.saturating_add(width.saturating_mul(buckets as u64));
        let bounded = self.started_in(query, Bound::Included(from), Bound::Excluded(to));
        let partitions = self.overlapping(from, to, &[]);
        let collector = tantivy::collector::HistogramCollector::new(
            "start_time".to_string(),
            from,
            width.max(1),
            buckets,
        );
        let mut counts = vec![0u64; buckets];
        for partition in &partitions {
            let searcher = partition.reader.searcher();
            let part = query_limits::run_guarded(|| searcher.search(&bounded, &collector))?;
            for (total, n) in counts.iter_mut().zip(part) {
                *total += n;
            }
        }
        Ok(counts)
    }

    fn stored_record(
        &self,
        searcher: &Searcher,
        address: DocAddress,
    ) -> Result<Vec<u8>, StoreError> {
        let doc: TantivyDocument = searcher.doc(address)?;
        Ok(doc
            .get_first(self.fields.doc)
            .and_then(|v| v.as_bytes())
            .unwrap_or_default()
            .to_vec())
    }

    /// Every event matching an exact-match query, unordered, up to `limit`:
    /// the fast path for id lookups, which match a handful of documents and
    /// need no ranking.
    pub fn lookup(&self, query: &dyn Query, limit: usize) -> Result<Vec<StoredHit>, StoreError> {
        self.lookup_holding(query, &[], limit)
    }

    /// [`SignalIndex::lookup`] of a query that only matches documents
    /// holding one of `values` exactly (an id): partitions whose filter
    /// rules them all out are not opened.
    pub fn lookup_holding(
        &self,
        query: &dyn Query,
        values: &[&str],
        limit: usize,
    ) -> Result<Vec<StoredHit>, StoreError> {
        let partitions: Vec<Arc<Partition>> = self
            .partitions
            .read()
            .iter()
            .filter(|p| p.may_hold_any(values))
            .cloned()
            .collect();
        let mut hits = Vec::new();
        for partition in partitions.iter().rev() {
            let searcher = partition.reader.searcher();
            for address in query_limits::run_guarded(|| searcher.search(query, &DocSetCollector))? {
                if hits.len() >= limit {
                    return Ok(hits);
                }
                hits.push(StoredHit {
                    time: 0,
                    doc: self.stored_record(&searcher, address)?,
                });
            }
        }
        Ok(hits)
    }

    /// Ends the writer after its last commit, merges finished, and returns
    /// the directory and payload of each partition it holds: how a split
    /// builder (cluster mode) gets its sealed index for bundling.
    pub fn seal(&self) -> Result<Vec<(PathBuf, CommitPayload)>, StoreError> {
        if let Some(active) = self.writer.lock().take() {
            active.writer.wait_merging_threads()?;
        }
        Ok(self
            .partitions
            .read()
            .iter()
            .map(|p| (p.path.clone(), *p.payload.read()))
            .collect())
    }

    /// Stops reading the split attached from `dir`; returns whether it was.
    /// Queries already running keep their searcher until they finish.
    pub fn detach_split(&self, dir: &Path) -> bool {
        let mut parts = self.partitions.write();
        let before = parts.len();
        parts.retain(|p| p.path != dir);
        parts.len() != before
    }

    /// The query side of cluster mode: detaches the splits in `detach` and
    /// attaches those in `attach` (unbundled directory and filter; their
    /// string paths join the known ones) in one step, so a query sees either the
    /// splits a merge replaced or the merged one, never both or neither.
    pub fn update_splits(
        &self,
        detach: &[&Path],
        attach: &[(&Path, &[u8])],
    ) -> Result<(), StoreError> {
        let mut opened = Vec::with_capacity(attach.len());
        for (dir, filter) in attach {
            let index = tantivy::Index::open_in_dir(dir)?;
            let payload = partition::durable_payload(&index)?;
            let paths = partition::durable_string_paths(&index)?;
            drop(index);
            self.string_paths.lock().merge(&paths);
            opened.push(Arc::new(Partition {
                filter: term_filter::TermFilter::read(filter),
                ..Partition::open_or_create(dir, day_of(payload.max_time), &self.schema)?
            }));
        }
        let mut parts = self.partitions.write();
        parts.retain(|p| {
            !detach.contains(&p.path.as_path()) && !attach.iter().any(|(d, _)| *d == p.path)
        });
        parts.extend(opened);
        sort_partitions(&mut parts);
        Ok(())
    }

    /// Deletes partitions whose ingest day is before `day`; returns how many.
    pub fn drop_partitions_before(&self, day: u32) -> Result<usize, StoreError> {
        let active_day = self.writer.lock().as_ref().map(|a| a.partition.day);
        let doomed: Vec<Arc<Partition>> = {
            let mut parts = self.partitions.write();
            let (old, keep): (Vec<_>, Vec<_>) = parts
                .drain(..)
                .partition(|p| p.day < day && Some(p.day) != active_day);
            *parts = keep;
            old
        };
        for p in &doomed {
            std::fs::remove_dir_all(&p.path).map_err(|e| StoreError::io(&p.path, e))?;
        }
        Ok(doomed.len())
    }
}

/// Partitions in the order searches walk them backwards: by day, and
/// within a day (attached splits) by their newest event.
fn sort_partitions(parts: &mut [Arc<Partition>]) {
    parts.sort_by_key(|p| (p.day, p.payload.read().max_time));
}

/// Whether `hits` (newest first) already hold `limit` events all strictly
/// newer than `newest_left`, the newest time anything not yet searched can
/// have: then nothing left can enter the page, ties included.
fn newest_enough(hits: &[StoredHit], limit: usize, newest_left: u64) -> bool {
    hits.len() >= limit && hits[limit - 1].time > newest_left
}

/// The newest `limit` matches of `query` in one partition. Segments are
/// searched newest first (by their `start_time` column's maximum) and the
/// search stops at a segment that cannot hold anything newer than what was
/// found: a broad query over days of data reads the newest segments only,
/// instead of ranking every match.
fn newest_matches(
    searcher: &Searcher,
    query: &dyn Query,
    limit: usize,
) -> tantivy::Result<Vec<(Option<u64>, DocAddress)>> {
    let collector =
        TopDocs::with_limit(limit).order_by_fast_field::<u64>("start_time", Order::Desc);
    let weight = query.weight(tantivy::query::EnableScoring::disabled_from_searcher(
        searcher,
    ))?;
    let mut segments: Vec<(u64, usize)> = searcher
        .segment_readers()
        .iter()
        .enumerate()
        .map(|(ord, reader)| {
            let newest = reader
                .fast_fields()
                .u64("start_time")
                .map_or(u64::MAX, |column| column.max_value());
            (newest, ord)
        })
        .collect();
    segments.sort_unstable_by_key(|(newest, _)| std::cmp::Reverse(*newest));
    let mut newest_first: Vec<(Option<u64>, DocAddress)> = Vec::new();
    for (newest, ord) in segments {
        if newest_first.len() >= limit && newest_first[limit - 1].0.is_some_and(|t| t > newest) {
            break;
        }
        let reader = searcher.segment_reader(ord as u32);
        let fruit = collector.collect_segment(weight.as_ref(), ord as u32, reader)?;
        newest_first.extend(collector.merge_fruits(vec![fruit])?);
        // Ties broken by address, so pages cut by a cursor agree.
        newest_first.sort_unstable_by_key(|(time, address)| (std::cmp::Reverse(*time), *address));
        newest_first.truncate(limit);
    }
    Ok(newest_first)
}
