//! One cluster split's index, built on the calling thread: the same
//! documents as [`super::SignalIndex`], one tantivy segment, the same commit
//! payload.
//!
//! A split lives for one commit interval. An `IndexWriter` per split spawned
//! its indexing, merge and segment-updater threads each time, handed every
//! document over a channel, and gave each new thread's allocator fresh pages
//! to fault in: a tenth of a cluster node's CPU went to zeroing pages. tantivy's
//! single-segment writer does the same indexing in place, without threads.

use super::partition::{CommitPayload, commit_record};
use super::schema::{self, Fields};
use super::string_paths::StringPaths;
use super::{Signal, document, upgrade};
use crate::StoreError;
use std::path::{Path, PathBuf};
use tantivy::directory::MmapDirectory;
use tantivy::{Directory, SingleSegmentIndexWriter, TantivyDocument};
use weir_core::{LogRecord, Span};

/// What tantivy sizes a new segment's term table from (a third of it). The
/// table grows as terms arrive; a bigger start zeroes megabytes per split
/// that a split of one commit interval never fills.
const INITIAL_TABLE_BUDGET: usize = 3 << 20;

/// A split being built in `dir`.
pub struct SplitWriter {
    dir: PathBuf,
    signal: Signal,
    fields: Fields,
    paths: StringPaths,
    writer: SingleSegmentIndexWriter<TantivyDocument>,
    payload: CommitPayload,
    documents: u64,
    scratch: Vec<u8>,
}

/// A finished split: its directory holds a committed index.
#[derive(Debug, Clone, Copy)]
pub struct FinishedSplit {
    /// Position and event-time range, as its commit payload records them.
    pub payload: CommitPayload,
    /// Documents in it.
    pub documents: u64,
}

impl SplitWriter {
    /// An empty split of `signal` in `dir` (created; it must not hold an
    /// index yet).
    pub fn create(dir: &Path, signal: Signal) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        upgrade::mark_current(dir)?;
        let (schema, fields) = schema::build();
        let directory = MmapDirectory::open(dir)
            .map_err(|e| StoreError::io(dir, std::io::Error::other(e.to_string())))?;
        let writer = tantivy::Index::builder()
            .schema(schema)
            .settings(super::partition::index_settings())
            .single_segment_index_writer(directory, INITIAL_TABLE_BUDGET)?;
        Ok(SplitWriter {
            dir: dir.to_path_buf(),
            signal,
            fields,
            paths: StringPaths::default(),
            writer,
            payload: CommitPayload {
                wal_seq: 0,
                min_time: u64::MAX,
                max_time: 0,
            },
            documents: 0,
            scratch: Vec::new(),
        })
    }

    /// Adds spans (a span split only).
    pub fn add_spans(&mut self, spans: &[Span]) -> Result<(), StoreError> {
        debug_assert_eq!(self.signal, Signal::Spans);
        for span in spans {
            let doc =
                document::span_document(&self.fields, &mut self.paths, span, &mut self.scratch);
            self.add(span.start_time_unix_nano, doc)?;
        }
        Ok(())
    }

    /// Adds log records (a log split only).
    pub fn add_logs(&mut self, logs: &[LogRecord]) -> Result<(), StoreError> {
        debug_assert_eq!(self.signal, Signal::Logs);
        for log in logs {
            let doc = document::log_document(&self.fields, &mut self.paths, log, &mut self.scratch);
            self.add(log.time_unix_nano, doc)?;
        }
        Ok(())
    }

    fn add(&mut self, time: u64, doc: TantivyDocument) -> Result<(), StoreError> {
        self.payload.min_time = self.payload.min_time.min(time);
        self.payload.max_time = self.payload.max_time.max(time);
        self.writer.add_document(doc)?;
        self.documents += 1;
        Ok(())
    }

    /// Documents added.
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// Bytes the segment being built holds in memory.
    pub fn memory(&self) -> usize {
        self.writer.mem_usage()
    }

    /// Writes the segment and commits it with a payload covering positions
    /// up to `wal_seq`; `None` when no document was added (nothing is
    /// written worth keeping).
    pub fn finish(self, wal_seq: u64) -> Result<Option<FinishedSplit>, StoreError> {
        if self.documents == 0 {
            return Ok(None);
        }
        let payload = CommitPayload {
            wal_seq,
            ..self.payload
        };
        let index = self.writer.finalize()?;
        // The single-segment writer commits without a payload; every weir
        // index carries one (position, time range, string paths), so its
        // meta is written again with it, as tantivy writes metas.
        let mut metas = index.load_metas()?;
        metas.payload = Some(commit_record(payload, self.paths.persisted()));
        let mut bytes = serde_json::to_vec_pretty(&metas).map_err(|e| {
            StoreError::io(&self.dir, std::io::Error::other(format!("index meta: {e}")))
        })?;
        bytes.push(b'\n');
        index
            .directory()
            .atomic_write(Path::new("meta.json"), &bytes)
            .map_err(|e| StoreError::io(&self.dir, e))?;
        Ok(Some(FinishedSplit {
            payload,
            documents: self.documents,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::{AttrValue, Attributes, TraceId};

    fn span(i: u8) -> Span {
        Span {
            start_time_unix_nano: 1_000 + u64::from(i),
            attributes: Attributes(vec![(
                "http.route".into(),
                AttrValue::Str(format!("/r/{i}")),
            )]),
            ..weir_core::fixtures::span(TraceId([i; 16]), i, None, "svc", &format!("op-{i}"))
        }
    }

    #[test]
    fn a_finished_split_opens_as_a_weir_index_with_its_payload_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let split = dir.path().join("split");
        let mut writer = SplitWriter::create(&split, Signal::Spans).unwrap();
        writer.add_spans(&[span(1), span(2), span(3)]).unwrap();
        let done = writer.finish(42).unwrap().expect("documents added");
        assert_eq!(done.documents, 3);
        assert_eq!(
            (
                done.payload.wal_seq,
                done.payload.min_time,
                done.payload.max_time
            ),
            (42, 1_001, 1_003)
        );
        assert!(upgrade::is_current(&split));
        let index = tantivy::Index::open_in_dir(&split).unwrap();
        assert_eq!(
            index.reader().unwrap().searcher().num_docs(),
            3,
            "one committed segment"
        );
        let stored = super::super::partition::durable_payload(&index).unwrap();
        assert_eq!(
            (stored.wal_seq, stored.min_time, stored.max_time),
            (42, 1_001, 1_003)
        );
        let paths = super::super::partition::durable_string_paths(&index).unwrap();
        assert_eq!(paths.attributes, vec!["http.route".to_string()]);
    }

    #[test]
    fn a_split_without_documents_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let writer = SplitWriter::create(&dir.path().join("empty"), Signal::Logs).unwrap();
        assert!(writer.finish(7).unwrap().is_none());
    }
}
