//! The write-ahead log: every accepted export is appended and fsynced here
//! before it is acknowledged, and replayed on start for whatever the index and
//! database had not committed.
//!
//! Segments are files `<first-seq>.wal` of records
//! `[len: u32][crc32: u32][seq: u64][signal: u8][payload]` (little-endian; the
//! CRC covers seq, signal and payload). Appends are group-committed: one
//! `fdatasync` covers every record written by the batch.
//!
//! A failed write or fsync is final for the batch it covered, as PostgreSQL
//! learned from "fsyncgate": after a failed fsync Linux may have dropped the
//! dirty pages and a retried fsync can report success over lost data. So the
//! batch is refused, the segment is cut back to its last durable length and
//! closed, its sequence numbers are never reused, and the next batch starts a
//! new file.
//!
//! Reading is forgiving in one way only: a torn tail (what a crash mid-write
//! leaves, never acknowledged) is cut off with a warning. Damage in the middle
//! of a segment is logged as an error and reading resumes at the next intact
//! record, so one flipped bit never hides the records after it.

mod segment;
pub(crate) mod writer;

use crate::event_log::{Entry, EventLog, EventLogError, EventLogReader, Position};
use crate::otlp::SignalKind;
#[cfg(test)]
use segment::HEADER_LEN;
use segment::encode_record;
pub use segment::{ScanReport, scan_segment};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EventLogError + '_ {
    move |source| EventLogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The error a failpoint injects: `return(enospc)` is a full disk, anything
/// else an I/O error, as a failing device reports it.
#[cfg(feature = "failpoints")]
fn injected(path: &Path, what: Option<String>) -> EventLogError {
    let errno = if what.as_deref() == Some("enospc") {
        28
    } else {
        5
    };
    EventLogError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::from_raw_os_error(errno),
    }
}

/// Segment files in `dir`, by the first sequence number in their name.
fn segment_paths(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EventLogError> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            paths.push((first, path));
        }
    }
    paths.sort();
    Ok(paths)
}

/// Calls `each` with every intact record of `signal` whose sequence number is
/// in `(after, through]`, in order: how a storage worker whose store lost
/// uncommitted work (a failed commit) gets it back from the durable log.
pub fn read_range(
    dir: &Path,
    signal: SignalKind,
    after: u64,
    through: u64,
    mut each: impl FnMut(Entry),
) -> Result<(), EventLogError> {
    let paths = segment_paths(dir)?;
    for (i, (first, path)) in paths.iter().enumerate() {
        let next_first = paths.get(i + 1).map_or(u64::MAX, |(f, _)| *f);
        // Names are first sequence numbers, so this segment holds nothing above
        // `after` when the next one starts at or below it.
        if next_first <= after + 1 || *first > through {
            continue;
        }
        let bytes = match fs::read(path) {
            Ok(b) => b,
            // Deleted meanwhile: only segments every store has committed are.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(path)(e)),
        };
        scan_segment(&bytes, first.saturating_sub(1), |r| {
            if r.signal == signal && r.position > after && r.position <= through {
                each(r);
            }
        });
    }
    Ok(())
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    last_seq: u64,
    /// Durable length: every byte below it was fsynced.
    bytes: u64,
}

/// What opening the log found wrong, for `/metrics` and the log.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenReport {
    /// Bytes of torn tails cut off.
    pub torn_bytes: u64,
    /// Bytes of damage skipped in the middle of segments.
    pub damaged_bytes: u64,
}

/// The log: closed segments and the one being appended to.
pub struct Wal {
    dir: PathBuf,
    closed: Vec<Segment>,
    current: Option<(Segment, File)>,
    next_seq: u64,
    segment_limit: u64,
    batch: Vec<u8>,
    report: OpenReport,
}

impl Wal {
    /// Opens the log in `dir`, calling `replay` for every intact record with a
    /// sequence number above `after`, in order. New appends start above both
    /// the log's last record and `min_next_seq - 1`.
    pub fn open(
        dir: &Path,
        after: u64,
        min_next_seq: u64,
        segment_limit: u64,
        mut replay: impl FnMut(Entry),
    ) -> Result<Self, EventLogError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut closed = Vec::new();
        let mut last_seq = 0;
        let mut report = OpenReport::default();
        for (first, path) in segment_paths(dir)? {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let mut seg_last = 0;
            let scan = scan_segment(&bytes, first.saturating_sub(1), |record| {
                seg_last = record.position;
                last_seq = last_seq.max(record.position);
                if record.position > after {
                    replay(record);
                }
            });
            for damage in &scan.damaged {
                report.damaged_bytes += damage.len() as u64;
                tracing::error!(
                    segment = %path.display(),
                    offset = damage.start,
                    bytes = damage.len(),
                    "damaged write-ahead log records skipped; reading resumed at the next intact record"
                );
            }
            if seg_last == 0 {
                // Nothing intact: a segment created just before a crash.
                fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            let torn = bytes.len() - scan.intact_end;
            if torn > 0 {
                report.torn_bytes += torn as u64;
                tracing::warn!(
                    segment = %path.display(),
                    offset = scan.intact_end,
                    bytes = torn,
                    "cutting off a torn write-ahead log tail (a write that was never acknowledged)"
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                file.set_len(scan.intact_end as u64).map_err(io(&path))?;
                file.sync_all().map_err(io(&path))?;
            }
            closed.push(Segment {
                path,
                last_seq: seg_last,
                bytes: scan.intact_end as u64,
            });
        }
        Ok(Wal {
            dir: dir.to_path_buf(),
            closed,
            current: None,
            next_seq: (last_seq + 1).max(min_next_seq).max(1),
            segment_limit,
            batch: Vec::new(),
            report,
        })
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// What opening found damaged.
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    /// Bytes on disk across all segments.
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>()
            + self.current.as_ref().map_or(0, |(s, _)| s.bytes)
    }

    /// Appends records and makes them durable with one fsync. Returns the
    /// sequence number of the first; the rest follow consecutively.
    ///
    /// On error nothing of the batch is acknowledged and its sequence numbers
    /// are never handed out again; the next append starts a new segment.
    pub fn append(&mut self, records: &[(SignalKind, &[u8])]) -> Result<u64, EventLogError> {
        let first = self.next_seq;
        self.next_seq += records.len() as u64;
        match self.write_batch(first, records) {
            Ok(()) => Ok(first),
            Err(e) => {
                self.close_after_failure();
                Err(e)
            }
        }
    }

    fn write_batch(
        &mut self,
        first: u64,
        records: &[(SignalKind, &[u8])],
    ) -> Result<(), EventLogError> {
        if self.current.is_none() {
            self.current = Some(self.new_segment(first)?);
        }
        self.batch.clear();
        for (i, (signal, payload)) in records.iter().enumerate() {
            encode_record(&mut self.batch, first + i as u64, *signal, payload);
        }
        let (segment, file) = self.current.as_mut().expect("segment was just opened");
        #[cfg(feature = "failpoints")]
        fail::fail_point!("wal::write", |what| Err(injected(&segment.path, what)));
        file.write_all(&self.batch).map_err(io(&segment.path))?;
        #[cfg(feature = "failpoints")]
        fail::fail_point!("wal::fsync", |what| Err(injected(&segment.path, what)));
        file.sync_data().map_err(io(&segment.path))?;
        segment.bytes += self.batch.len() as u64;
        segment.last_seq = first + records.len() as u64 - 1;
        if segment.bytes >= self.segment_limit {
            let (segment, _) = self.current.take().expect("current segment exists");
            self.closed.push(segment);
        }
        Ok(())
    }

    /// After a failed write or fsync: cut the segment back to what was durable
    /// and close it, so a partial or unsynced record is never followed by good
    /// ones in the same file.
    fn close_after_failure(&mut self) {
        let Some((segment, file)) = self.current.take() else {
            return;
        };
        let cut = file.set_len(segment.bytes).and_then(|()| file.sync_all());
        if let Err(e) = cut {
            // The unacknowledged tail stays; replay reads it as a torn tail or,
            // if intact, as records a retrying client may also resend.
            tracing::warn!(segment = %segment.path.display(), error = %e, "cannot cut back a failed write-ahead log segment");
        }
        if segment.last_seq > 0 {
            self.closed.push(segment);
        } else if let Err(e) = fs::remove_file(&segment.path) {
            tracing::warn!(segment = %segment.path.display(), error = %e, "cannot remove an empty write-ahead log segment");
        }
    }

    fn new_segment(&self, first: u64) -> Result<(Segment, File), EventLogError> {
        let path = self.dir.join(format!("{first:020}.wal"));
        #[cfg(feature = "failpoints")]
        fail::fail_point!("wal::rotate", |what| Err(injected(&path, what)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        // The new file's directory entry must be durable too.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok((
            Segment {
                path,
                last_seq: 0,
                bytes: 0,
            },
            file,
        ))
    }

    /// Deletes closed segments whose records are all at or below `seq`.
    pub fn truncate_through(&mut self, seq: u64) -> Result<usize, EventLogError> {
        let mut removed = 0;
        while let Some(first) = self.closed.first() {
            if first.last_seq > seq {
                break;
            }
            match fs::remove_file(&first.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Kept in the list, so the next pass tries again.
                Err(e) => return Err(io(&first.path)(e)),
            }
            self.closed.remove(0);
            removed += 1;
        }
        Ok(removed)
    }
}

impl EventLog for Wal {
    fn append(&mut self, batch: &[(SignalKind, &[u8])]) -> Result<Position, EventLogError> {
        Wal::append(self, batch)
    }

    fn truncate_through(&mut self, position: Position) -> Result<(), EventLogError> {
        Wal::truncate_through(self, position).map(drop)
    }

    fn next_position(&self) -> Position {
        self.next_seq
    }

    fn bytes(&self) -> u64 {
        Wal::bytes(self)
    }
}

/// A reader of the log in `dir`, for the storage workers: it reads segment
/// files while the writer thread appends, so it can exist before the log is
/// opened (the workers start first and take the replay as it is read).
pub fn reader(dir: &Path) -> Arc<dyn EventLogReader> {
    Arc::new(WalReader {
        dir: dir.to_path_buf(),
    })
}

/// Reads the segment files of a log another thread appends to.
struct WalReader {
    dir: PathBuf,
}

impl EventLogReader for WalReader {
    fn read(
        &self,
        signal: SignalKind,
        after: Position,
        through: Position,
        each: &mut dyn FnMut(Entry),
    ) -> Result<(), EventLogError> {
        read_range(&self.dir, signal, after, through, each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_all(dir: &Path, after: u64) -> (Wal, Vec<Entry>) {
        let mut seen = Vec::new();
        let wal = Wal::open(dir, after, 0, 1 << 20, |r| seen.push(r)).unwrap();
        (wal, seen)
    }

    fn only_segment(dir: &Path) -> PathBuf {
        let mut segments = segment_paths(dir).unwrap();
        assert_eq!(segments.len(), 1);
        segments.pop().unwrap().1
    }

    #[test]
    fn appended_records_replay_in_order_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, seen) = replay_all(dir.path(), 0);
        assert!(seen.is_empty());
        assert_eq!(
            wal.append(&[(SignalKind::Traces, b"a"), (SignalKind::Logs, b"bb")])
                .unwrap(),
            1
        );
        assert_eq!(wal.append(&[(SignalKind::Metrics, b"ccc")]).unwrap(), 3);
        drop(wal);
        let (wal, seen) = replay_all(dir.path(), 1);
        assert_eq!(seen.iter().map(|r| r.position).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(seen[1].payload, b"ccc");
        assert_eq!(seen[1].signal, SignalKind::Metrics);
        assert_eq!(wal.next_seq(), 4);
    }

    #[test]
    fn a_torn_tail_is_cut_off_without_losing_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay_all(dir.path(), 0);
        wal.append(&[(SignalKind::Traces, b"kept")]).unwrap();
        wal.append(&[(SignalKind::Traces, b"torn-record")]).unwrap();
        drop(wal);
        let seg = only_segment(dir.path());
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (mut wal, seen) = replay_all(dir.path(), 0);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].payload, b"kept");
        assert_eq!(wal.open_report().torn_bytes, (HEADER_LEN + 11 - 3) as u64);
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            (HEADER_LEN + 4) as u64,
            "the tail is cut off on disk"
        );
        // New records go to a fresh segment and never reuse a sequence number.
        assert_eq!(wal.append(&[(SignalKind::Logs, b"new")]).unwrap(), 2);
    }

    #[test]
    fn damage_in_the_middle_skips_only_the_damaged_record() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay_all(dir.path(), 0);
        wal.append(&[(SignalKind::Traces, b"first")]).unwrap();
        wal.append(&[(SignalKind::Traces, b"flipped")]).unwrap();
        wal.append(&[(SignalKind::Logs, b"after the damage")])
            .unwrap();
        drop(wal);
        let seg = only_segment(dir.path());
        let mut bytes = fs::read(&seg).unwrap();
        let second_payload = 2 * HEADER_LEN + 5;
        bytes[second_payload] ^= 1;
        fs::write(&seg, bytes).unwrap();
        let (wal, seen) = replay_all(dir.path(), 0);
        let payloads: Vec<&[u8]> = seen.iter().map(|r| r.payload.as_slice()).collect();
        assert_eq!(payloads, [&b"first"[..], b"after the damage"]);
        assert_eq!(wal.open_report().damaged_bytes, (HEADER_LEN + 7) as u64);
        assert_eq!(wal.open_report().torn_bytes, 0);
    }

    #[test]
    fn a_flipped_bit_in_the_only_record_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay_all(dir.path(), 0);
        wal.append(&[(SignalKind::Traces, b"payload")]).unwrap();
        drop(wal);
        let seg = only_segment(dir.path());
        let mut bytes = fs::read(&seg).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        fs::write(&seg, bytes).unwrap();
        let (_, seen) = replay_all(dir.path(), 0);
        assert!(seen.is_empty());
    }

    #[test]
    fn truncation_deletes_only_fully_committed_closed_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0, 0, 10, |_| {}).unwrap();
        for _ in 0..3 {
            wal.append(&[(SignalKind::Traces, b"0123456789")]).unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
        assert_eq!(wal.truncate_through(2).unwrap(), 2);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(wal);
        let (_, seen) = replay_all(dir.path(), 0);
        assert_eq!(seen.iter().map(|r| r.position).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn sequence_numbers_continue_above_committed_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0, 501, 1 << 20, |_| {}).unwrap();
        assert_eq!(wal.append(&[(SignalKind::Traces, b"x")]).unwrap(), 501);
    }

    #[test]
    fn a_range_reads_one_signal_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0, 0, 40, |_| {}).unwrap();
        for i in 0..6u8 {
            let signal = if i % 2 == 0 {
                SignalKind::Traces
            } else {
                SignalKind::Logs
            };
            wal.append(&[(signal, &[b'a' + i; 20])]).unwrap();
        }
        assert!(segment_paths(dir.path()).unwrap().len() > 1);
        let mut seen = Vec::new();
        read_range(dir.path(), SignalKind::Traces, 1, 5, |r| {
            seen.push(r.position)
        })
        .unwrap();
        assert_eq!(seen, [3, 5]);
    }

    #[test]
    fn scanning_arbitrary_bytes_never_panics() {
        let mut record = Vec::new();
        encode_record(&mut record, 7, SignalKind::Logs, b"intact");
        for noise in [&b""[..], b"\xff\xff\xff\xff", &[0u8; 40], &record[..10]] {
            let mut bytes = noise.to_vec();
            bytes.extend_from_slice(&record);
            let mut seen = Vec::new();
            scan_segment(&bytes, 0, |r| seen.push(r.payload));
            assert_eq!(seen, [b"intact".to_vec()], "after {noise:?}");
        }
    }
}
