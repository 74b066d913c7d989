//! One day's worth of events of one signal: a tantivy index of its own, so
//! retention deletes whole directories instead of individual documents.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tantivy::schema::Schema;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy};

use super::string_paths::PersistedPaths;
use crate::StoreError;

/// What each commit records: the write-ahead-log position it covers and the
/// event-time range of its documents (to skip partitions a query cannot hit).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitPayload {
    /// Every WAL record up to and including this sequence number is in the index.
    pub wal_seq: u64,
    /// Earliest event time in the partition, Unix nanoseconds.
    pub min_time: u64,
    /// Latest event time in the partition, Unix nanoseconds.
    pub max_time: u64,
}

impl CommitPayload {
    /// Whether the partition may hold events in `[from, to]`.
    pub fn overlaps(&self, from: u64, to: u64) -> bool {
        self.max_time >= from && self.min_time <= to && self.min_time <= self.max_time
    }
}

/// What a commit's payload holds: the position and time range, and the
/// string paths known when it was made (older commits have none).
#[derive(Serialize, Deserialize)]
struct CommitRecord {
    #[serde(flatten)]
    payload: CommitPayload,
    #[serde(default)]
    string_paths: PersistedPaths,
}

/// The payload text a commit stores.
pub fn commit_record(payload: CommitPayload, string_paths: PersistedPaths) -> String {
    serde_json::to_string(&CommitRecord {
        payload,
        string_paths,
    })
    .expect("commit payloads serialize")
}

/// The string paths the last commit on disk recorded.
pub fn durable_string_paths(index: &Index) -> Result<PersistedPaths, StoreError> {
    Ok(string_paths_in(index.load_metas()?.payload.as_deref()))
}

/// The string paths a commit payload recorded (none in older payloads).
pub fn string_paths_in(payload: Option<&str>) -> PersistedPaths {
    payload
        .and_then(|p| serde_json::from_str::<CommitRecord>(p).ok())
        .map(|r| r.string_paths)
        .unwrap_or_default()
}

/// How every weir index stores its documents.
pub fn index_settings() -> IndexSettings {
    IndexSettings {
        // Span documents are repetitive JSON: zstd stores them in a fraction
        // of the space lz4 needs.
        docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
        docstore_blocksize: 64 * 1024,
        ..IndexSettings::default()
    }
}

/// An open partition: its index and a reader reloaded after each commit.
pub struct Partition {
    /// Ingest day, `YYYYMMDD` (UTC).
    pub day: u32,
    /// The directory.
    pub path: PathBuf,
    /// The tantivy index.
    pub index: Index,
    /// Its reader.
    pub reader: IndexReader,
    /// The payload of the last commit.
    pub payload: parking_lot::RwLock<CommitPayload>,
    /// A cluster split's filter of the values it holds (none: may hold any).
    pub filter: Option<super::term_filter::TermFilter>,
}

impl Partition {
    /// Whether this partition may hold a document with one of `values`
    /// (none given: any document).
    pub fn may_hold_any(&self, values: &[&str]) -> bool {
        match &self.filter {
            Some(filter) if !values.is_empty() => values.iter().any(|v| filter.may_hold(v)),
            _ => true,
        }
    }
}

impl Partition {
    /// Opens the partition at `path`, creating it with `schema` if missing.
    pub fn open_or_create(path: &Path, day: u32, schema: &Schema) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))?;
        let exists = path.join("meta.json").exists();
        let index = if exists {
            Index::open_in_dir(path)?
        } else {
            super::upgrade::mark_current(path)?;
            Index::builder()
                .schema(schema.clone())
                .settings(index_settings())
                .create_in_dir(path)?
        };
        let payload = durable_payload(&index)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Partition {
            day,
            path: path.to_path_buf(),
            index,
            reader,
            payload: parking_lot::RwLock::new(payload),
            filter: None,
        })
    }
}

/// The payload of the last commit on disk (not what memory believes).
pub fn durable_payload(index: &Index) -> Result<CommitPayload, StoreError> {
    Ok(index
        .load_metas()?
        .payload
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or(CommitPayload {
            wal_seq: 0,
            min_time: u64::MAX,
            max_time: 0,
        }))
}

/// The UTC day (`YYYYMMDD`) that contains `unix_nanos`: the name of the
/// partition that events ingested then go to.
pub fn day_of(unix_nanos: u64) -> u32 {
    let date = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_nanos))
        .expect("u64 nanoseconds end in 2554, inside time's range")
        .date();
    // Years from 1970 to 2554: always positive, always four digits.
    date.year() as u32 * 10_000 + u32::from(u8::from(date.month())) * 100 + u32::from(date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        assert_eq!(day_of(0), 19_700_101);
        assert_eq!(day_of(1_544_712_660_000_000_000), 20_181_213);
        assert_eq!(day_of(1_709_164_800_000_000_000), 20_240_229);
        // The last nanosecond of a day is still that day.
        assert_eq!(day_of(86_399_999_999_999), 19_700_101);
        assert_eq!(day_of(86_400_000_000_000), 19_700_102);
        // Leap days: 2000 is a leap year, 2100 is not.
        assert_eq!(day_of(951_782_400_000_000_000), 20_000_229);
        assert_eq!(day_of(4_107_542_400_000_000_000), 21_000_301);
        assert_eq!(day_of(u64::MAX), 25_540_721);
    }

    #[test]
    fn overlap_of_time_ranges() {
        let p = CommitPayload {
            wal_seq: 1,
            min_time: 10,
            max_time: 20,
        };
        assert!(p.overlaps(0, 10));
        assert!(p.overlaps(15, 16));
        assert!(!p.overlaps(21, 30));
        let empty = CommitPayload {
            wal_seq: 0,
            min_time: u64::MAX,
            max_time: 0,
        };
        assert!(!empty.overlaps(0, u64::MAX));
    }
}
