//! The segment file format: records `[len: u32][crc32: u32][seq: u64][signal: u8][payload]`,
//! little-endian, the CRC over seq, signal and payload; and the forgiving scan
//! that reads them back.

use crate::event_log::Entry;
use crate::otlp::SignalKind;

pub(super) const HEADER_LEN: usize = 4 + 4 + 8 + 1;
/// Records larger than this are corruption, not data (requests are capped far below).
const MAX_RECORD_LEN: usize = 1 << 30;
/// How far past the last good sequence number a resynchronised record may be:
/// a record found by scanning must look like the continuation of the log.
const MAX_SEQ_GAP: u64 = 1 << 32;

/// What reading a segment found besides its intact records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Offset where the intact records end; bytes after it are a torn tail.
    pub intact_end: usize,
    /// Damaged byte ranges in the middle of the segment, skipped to the next
    /// intact record.
    pub damaged: Vec<std::ops::Range<usize>>,
}

/// Reads every intact record of one segment's bytes in order; every record
/// of the segment has a sequence number above `after` (its name says so).
///
/// Never panics, whatever the bytes: this is what replay, recovery and the
/// fuzz target run on damaged segments. Resynchronising after damage checks
/// the sequence number before the CRC, so a scan stays linear in practice.
pub fn scan_segment(bytes: &[u8], after: u64, mut each: impl FnMut(Entry)) -> ScanReport {
    let mut report = ScanReport::default();
    let mut pos = 0;
    let mut last_seq = after;
    while pos < bytes.len() {
        if let Some((record, len)) = record_at(bytes, pos, last_seq) {
            last_seq = record.position;
            each(record);
            pos += len;
            report.intact_end = pos;
            continue;
        }
        match (pos + 1..bytes.len()).find(|&p| record_at(bytes, p, last_seq).is_some()) {
            Some(next) => {
                report.damaged.push(pos..next);
                pos = next;
            }
            None => break,
        }
    }
    report
}

/// The intact record starting at `pos`, and its length, if there is one whose
/// sequence number follows `after`.
fn record_at(bytes: &[u8], pos: usize, after: u64) -> Option<(Entry, usize)> {
    let header = bytes.get(pos..pos.checked_add(HEADER_LEN)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    if len > MAX_RECORD_LEN {
        return None;
    }
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if seq <= after || seq - after > MAX_SEQ_GAP {
        return None;
    }
    let signal = SignalKind::from_wal_tag(header[16])?;
    let payload = bytes.get(pos + HEADER_LEN..(pos + HEADER_LEN).checked_add(len)?)?;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..17]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return None;
    }
    Some((
        Entry {
            position: seq,
            signal,
            payload: payload.to_vec(),
        },
        HEADER_LEN + len,
    ))
}

pub(super) fn encode_record(out: &mut Vec<u8>, seq: u64, signal: SignalKind, payload: &[u8]) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(&[signal.wal_tag()]);
    hasher.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.push(signal.wal_tag());
    out.extend_from_slice(payload);
}
