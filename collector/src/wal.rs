//! The write-ahead log: every accepted export is appended and fsynced here
//! before it is acknowledged, and replayed on start for whatever the index and
//! database had not committed.
//!
//! Segments are files `<first-seq>.wal` of records
//! `[len: u32][crc32: u32][seq: u64][signal: u8][payload]` (little-endian; the
//! CRC covers seq, signal and payload). A torn record at the end of a segment is
//! what a crash mid-write leaves; it was never acknowledged, so replay stops
//! there. Appends are group-committed: one `fdatasync` covers every record
//! written by the batch.

use crate::otlp::SignalKind;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const HEADER_LEN: usize = 4 + 4 + 8 + 1;
/// Records larger than this are corruption, not data (requests are capped far below).
const MAX_RECORD_LEN: u32 = 1 << 30;

/// What went wrong in the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Disk I/O failed.
    #[error(
        "write-ahead log {path}: {source} (check free space and permissions of the data directory)"
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The writer has stopped (shutdown or an earlier fatal error).
    #[error("write-ahead log is closed")]
    Closed,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One replayed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Sequence number, increasing by one per record.
    pub seq: u64,
    /// Which signal the payload holds.
    pub signal: SignalKind,
    /// The validated request, OTLP protobuf.
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    last_seq: u64,
    bytes: u64,
}

/// The log: closed segments and the one being appended to.
pub struct Wal {
    dir: PathBuf,
    closed: Vec<Segment>,
    current: Option<(Segment, BufWriter<File>)>,
    next_seq: u64,
    segment_limit: u64,
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
        mut replay: impl FnMut(WalRecord),
    ) -> Result<Self, WalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut paths: Vec<(u64, PathBuf)> = Vec::new();
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
        let mut closed = Vec::new();
        let mut last_seq = 0;
        for (_, path) in paths {
            let bytes = fs::metadata(&path).map_err(io(&path))?.len();
            let mut reader = BufReader::new(File::open(&path).map_err(io(&path))?);
            let mut seg_last = 0;
            while let Some(record) = read_record(&mut reader) {
                seg_last = record.seq;
                last_seq = last_seq.max(record.seq);
                if record.seq > after {
                    replay(record);
                }
            }
            if seg_last == 0 {
                // Nothing intact: a segment created just before a crash.
                fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            closed.push(Segment {
                path,
                last_seq: seg_last,
                bytes,
            });
        }
        Ok(Wal {
            dir: dir.to_path_buf(),
            closed,
            current: None,
            next_seq: (last_seq + 1).max(min_next_seq).max(1),
            segment_limit,
        })
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Bytes on disk across all segments.
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>()
            + self.current.as_ref().map_or(0, |(s, _)| s.bytes)
    }

    /// Appends records and makes them durable with one fsync. Returns the
    /// sequence number of the first; the rest follow consecutively.
    pub fn append(&mut self, records: &[(SignalKind, &[u8])]) -> Result<u64, WalError> {
        let first = self.next_seq;
        if self.current.is_none() {
            self.current = Some(self.new_segment()?);
        }
        let (segment, writer) = self.current.as_mut().expect("segment was just opened");
        let mut seq = first;
        for (signal, payload) in records {
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&seq.to_le_bytes());
            hasher.update(&[signal.wal_tag()]);
            hasher.update(payload);
            let mut header = [0u8; HEADER_LEN];
            header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            header[4..8].copy_from_slice(&hasher.finalize().to_le_bytes());
            header[8..16].copy_from_slice(&seq.to_le_bytes());
            header[16] = signal.wal_tag();
            writer.write_all(&header).map_err(io(&segment.path))?;
            writer.write_all(payload).map_err(io(&segment.path))?;
            segment.bytes += (HEADER_LEN + payload.len()) as u64;
            segment.last_seq = seq;
            seq += 1;
        }
        writer.flush().map_err(io(&segment.path))?;
        writer.get_ref().sync_data().map_err(io(&segment.path))?;
        self.next_seq = seq;
        if segment.bytes >= self.segment_limit {
            let (segment, _) = self.current.take().expect("current segment exists");
            self.closed.push(segment);
        }
        Ok(first)
    }

    /// Stops appending to the current segment after a failed write, so a
    /// partial record is never followed by good ones in the same file.
    pub fn abandon_segment(&mut self) {
        if let Some((segment, _)) = self.current.take()
            && segment.last_seq > 0
        {
            self.closed.push(segment);
        }
    }

    fn new_segment(&self) -> Result<(Segment, BufWriter<File>), WalError> {
        let path = self.dir.join(format!("{:020}.wal", self.next_seq));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
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
            BufWriter::with_capacity(1 << 20, file),
        ))
    }

    /// Deletes closed segments whose records are all at or below `seq`.
    pub fn truncate_through(&mut self, seq: u64) -> Result<usize, WalError> {
        let mut removed = 0;
        while let Some(first) = self.closed.first() {
            if first.last_seq > seq {
                break;
            }
            let segment = self.closed.remove(0);
            fs::remove_file(&segment.path).map_err(io(&segment.path))?;
            removed += 1;
        }
        Ok(removed)
    }
}

fn read_record(reader: &mut impl Read) -> Option<WalRecord> {
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header).ok()?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    if len > MAX_RECORD_LEN {
        return None;
    }
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..17]);
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return None;
    }
    Some(WalRecord {
        seq,
        signal: SignalKind::from_wal_tag(header[16])?,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_all(dir: &Path, after: u64) -> (Wal, Vec<WalRecord>) {
        let mut seen = Vec::new();
        let wal = Wal::open(dir, after, 0, 1 << 20, |r| seen.push(r)).unwrap();
        (wal, seen)
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
        assert_eq!(seen.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(seen[1].payload, b"ccc");
        assert_eq!(seen[1].signal, SignalKind::Metrics);
        assert_eq!(wal.next_seq(), 4);
    }

    #[test]
    fn a_torn_tail_ends_replay_without_losing_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay_all(dir.path(), 0);
        wal.append(&[(SignalKind::Traces, b"kept")]).unwrap();
        wal.append(&[(SignalKind::Traces, b"torn-record")]).unwrap();
        drop(wal);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
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
        // New records go to a fresh segment and never reuse a sequence number.
        assert_eq!(wal.append(&[(SignalKind::Logs, b"new")]).unwrap(), 2);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = replay_all(dir.path(), 0);
        wal.append(&[(SignalKind::Traces, b"payload")]).unwrap();
        drop(wal);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
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
        assert_eq!(seen.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn sequence_numbers_continue_above_committed_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0, 501, 1 << 20, |_| {}).unwrap();
        assert_eq!(wal.append(&[(SignalKind::Traces, b"x")]).unwrap(), 501);
    }
}
