//! One partition's records on their way into a split: converted as the
//! single node converts them, indexed into a tantivy index of their own
//! (the same documents as the embedded mode, [`SplitWriter`]), and fed to
//! the health accumulator. Everything here is CPU work for blocking threads.

use std::path::{Path, PathBuf};
use weir_collector::otlp::convert::convert;
use weir_collector::otlp::{ExportRequest, SignalKind};
use weir_core::MetricPoint;
use weir_core::accumulator::HealthAccumulator;
use weir_store::StoreError;
use weir_store::index::term_filter::TermSet;
use weir_store::index::{self, Signal, SplitWriter, WriterBudget};

/// The records of one partition since its last commit.
pub struct SplitBuilder {
    signal: SignalKind,
    /// The split's own index (spans and logs), in `dir`.
    index: Option<SplitWriter>,
    dir: PathBuf,
    budget: WriterBudget,
    /// Metric points (metrics partitions are written to the database).
    pub points: Vec<MetricPoint>,
    /// The values the split's filter will hold.
    terms: TermSet,
    /// Records added.
    pub records: u64,
    /// The last event-log position added.
    pub last_position: u64,
}

/// A sealed split, ready to upload.
pub struct SealedSplit {
    /// The bundled index.
    pub bytes: Vec<u8>,
    /// Earliest and latest event time in it.
    pub time_min: u64,
    /// See `time_min`.
    pub time_max: u64,
    /// Documents in it.
    pub documents: u64,
    /// The filter of the values it holds ([`TermSet::filter`]).
    pub filter: Vec<u8>,
}

impl SplitBuilder {
    /// An empty builder whose index (if any) lives under `dir`.
    pub fn new(signal: SignalKind, dir: &Path, budget: WriterBudget) -> Self {
        SplitBuilder {
            signal,
            index: None,
            dir: dir.to_path_buf(),
            budget,
            points: Vec::new(),
            terms: TermSet::default(),
            records: 0,
            last_position: 0,
        }
    }

    /// Adds one event-log entry at `position`, and feeds its records to
    /// `rollups` (which outlives splits: it remembers recent spans).
    pub fn add(
        &mut self,
        rollups: Option<&mut HealthAccumulator>,
        position: u64,
        request: ExportRequest,
        now: u64,
    ) -> Result<(), StoreError> {
        let converted = convert(request, now);
        match self.signal {
            SignalKind::Traces => {
                if let Some(acc) = rollups {
                    acc.spans(&converted.spans);
                }
                self.records += converted.spans.len() as u64;
                converted.spans.iter().for_each(|s| self.terms.add_span(s));
                self.index(Signal::Spans)?.add_spans(&converted.spans)?;
            }
            SignalKind::Logs => {
                if let Some(acc) = rollups {
                    acc.logs(&converted.logs);
                }
                self.records += converted.logs.len() as u64;
                converted.logs.iter().for_each(|l| self.terms.add_log(l));
                self.index(Signal::Logs)?.add_logs(&converted.logs)?;
            }
            SignalKind::Metrics => {
                if let Some(acc) = rollups {
                    acc.points(&converted.points);
                }
                self.records += converted.points.len() as u64;
                self.points.extend(converted.points);
            }
        }
        self.last_position = position;
        Ok(())
    }

    /// Adds an entry of link stubs at `position`: fed to `rollups` for the
    /// topology edges of their links, never indexed or counted as records.
    pub fn add_link_stubs(
        &mut self,
        rollups: Option<&mut HealthAccumulator>,
        position: u64,
        request: ExportRequest,
        now: u64,
    ) {
        if let Some(acc) = rollups {
            acc.link_stubs(&convert(request, now).spans);
        }
        self.last_position = position;
    }

    fn index(&mut self, signal: Signal) -> Result<&mut SplitWriter, StoreError> {
        if self.index.is_none() {
            self.index = Some(SplitWriter::create(&self.dir, signal)?);
        }
        Ok(self.index.as_mut().expect("just created"))
    }

    /// Whether the split should be sealed before its commit interval ends:
    /// its in-memory index reached the writer budget.
    pub fn full(&self) -> bool {
        self.index
            .as_ref()
            .is_some_and(|w| w.memory() >= self.budget.heap_bytes)
    }

    /// Writes the index covering everything added and bundles it; `None`
    /// when the records held no documents (metrics, or empty exports).
    pub fn seal(&mut self) -> Result<Option<SealedSplit>, StoreError> {
        let Some(index) = self.index.take() else {
            return Ok(None);
        };
        let Some(finished) = index.finish(self.last_position)? else {
            return Ok(None);
        };
        Ok(Some(SealedSplit {
            bytes: index::split::bundle(&self.dir)?,
            time_min: finished.payload.min_time,
            time_max: finished.payload.max_time,
            documents: finished.documents,
            filter: self.terms.filter(),
        }))
    }

    /// Forgets everything since the last commit and deletes the index files.
    pub fn discard(self) {
        drop(self.index);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
