//! Cluster mode's split object: one sealed tantivy index as one blob, its
//! files end to end and a footer naming them (the shape of Quickwit's split
//! bundle), so a split is one object-store PUT and one GET.
//!
//! Layout: the files' bytes, then the footer as JSON (`[[name, length], …]`
//! in file order), then the footer's length as 8 little-endian bytes, then
//! the magic `WEIRSPL1`. Only the files of the index's last commit are
//! bundled: merged-away segments still on disk are left out.

use crate::StoreError;
use std::path::Path;

const MAGIC: &[u8; 8] = b"WEIRSPL1";
const TAIL: usize = 16;

/// Files written beside the index that a split carries too.
const CARRIED: [&str; 2] = ["meta.json", super::upgrade::FORMAT_FILE];

/// The split of the committed index in `dir`.
pub fn bundle(dir: &Path) -> Result<Vec<u8>, StoreError> {
    let index = tantivy::Index::open_in_dir(dir)?;
    let mut names: Vec<String> = CARRIED.iter().map(|n| n.to_string()).collect();
    // A segment's files are named by its id; files of segments merged away
    // but not yet collected are not the commit's.
    let live: Vec<String> = index
        .searchable_segment_metas()?
        .iter()
        .map(|meta| meta.id().uuid_string())
        .collect();
    let mut segment_files: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if live.iter().any(|id| name.starts_with(id.as_str())) {
            segment_files.push(name);
        }
    }
    segment_files.sort();
    names.extend(segment_files);
    let mut out = Vec::new();
    let mut footer: Vec<(String, u64)> = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        out.extend_from_slice(&bytes);
        footer.push((name, bytes.len() as u64));
    }
    let footer = serde_json::to_vec(&footer).expect("a list of names and lengths serializes");
    out.extend_from_slice(&footer);
    out.extend_from_slice(&(footer.len() as u64).to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// Writes the files of `split` into `dir` (created), ready to open as an
/// index. A blob that is not a whole split is refused before anything is written.
pub fn unbundle(split: &[u8], dir: &Path) -> Result<(), StoreError> {
    let files = files_of(split)?;
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    for (name, range) in files {
        let path = dir.join(&name);
        std::fs::write(&path, &split[range]).map_err(|e| StoreError::io(&path, e))?;
    }
    Ok(())
}

fn corrupt(why: &str) -> StoreError {
    StoreError::CorruptRecord(format!(
        "split object: {why} (delete the object; its partition replays from the event log)"
    ))
}

/// Each file's name and byte range in `split`, checked.
fn files_of(split: &[u8]) -> Result<Vec<(String, std::ops::Range<usize>)>, StoreError> {
    if split.len() < TAIL || &split[split.len() - 8..] != MAGIC {
        return Err(corrupt("no split footer"));
    }
    let tail = split.len() - TAIL;
    let footer_len = u64::from_le_bytes(split[tail..tail + 8].try_into().expect("8 bytes"));
    let footer_len = usize::try_from(footer_len)
        .ok()
        .filter(|n| *n <= tail)
        .ok_or_else(|| corrupt("footer longer than the object"))?;
    let footer_start = tail - footer_len;
    let footer: Vec<(String, u64)> = serde_json::from_slice(&split[footer_start..tail])
        .map_err(|_| corrupt("unreadable footer"))?;
    let mut at = 0usize;
    let mut files = Vec::with_capacity(footer.len());
    for (name, len) in footer {
        // Names come from the object: none may leave the directory.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(corrupt("a file name that is not a plain name"));
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|end| *end <= footer_start)
            .ok_or_else(|| corrupt("files longer than the object"))?;
        files.push((name, at..end));
        at = end;
    }
    if at != footer_start {
        return Err(corrupt("bytes between the files and the footer"));
    }
    Ok(files)
}

/// Merges the unbundled splits in `sources` into one index in `out` (an
/// empty directory): one segment, the sources' time ranges and string
/// paths combined, its position the highest of theirs. What a partition's
/// owner does to keep the number of splits a query opens small.
pub fn merge(sources: &[&Path], out: &Path) -> Result<super::CommitPayload, StoreError> {
    let mut indexes = Vec::with_capacity(sources.len());
    let mut payload = super::CommitPayload {
        wal_seq: 0,
        min_time: u64::MAX,
        max_time: 0,
    };
    let mut paths = Vec::with_capacity(sources.len());
    for dir in sources {
        let index = tantivy::Index::open_in_dir(dir)?;
        let p = super::partition::durable_payload(&index)?;
        payload.wal_seq = payload.wal_seq.max(p.wal_seq);
        payload.min_time = payload.min_time.min(p.min_time);
        payload.max_time = payload.max_time.max(p.max_time);
        paths.push(super::partition::durable_string_paths(&index)?);
        indexes.push(index);
    }
    std::fs::create_dir_all(out).map_err(|e| StoreError::io(out, e))?;
    let directory = tantivy::directory::MmapDirectory::open(out)
        .map_err(|e| StoreError::io(out, std::io::Error::other(e.to_string())))?;
    let merged = tantivy::indexer::merge_indices(&indexes, directory)?;
    // The merge writes a payload of its own; the split's is written over it
    // by an empty commit, as every weir index carries one.
    let known = super::string_paths::StringPaths::from_persisted(&paths).persisted();
    let mut writer: tantivy::IndexWriter<tantivy::TantivyDocument> =
        merged.writer_with_num_threads(1, 15_000_000)?;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&super::partition::commit_record(payload, known));
    prepared.commit()?;
    writer.wait_merging_threads()?;
    super::upgrade::mark_current(out)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut footer = Vec::new();
        for (name, bytes) in files {
            out.extend_from_slice(bytes);
            footer.push((name.to_string(), bytes.len() as u64));
        }
        let footer = serde_json::to_vec(&footer).unwrap();
        out.extend_from_slice(&footer);
        out.extend_from_slice(&(footer.len() as u64).to_le_bytes());
        out.extend_from_slice(MAGIC);
        out
    }

    #[test]
    fn files_come_back_with_their_names_and_bytes() {
        let split = blob(&[("meta.json", b"{}"), ("a.idx", b"12345"), ("empty", b"")]);
        let dir = tempfile::tempdir().unwrap();
        unbundle(&split, dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("meta.json")).unwrap(), b"{}");
        assert_eq!(std::fs::read(dir.path().join("a.idx")).unwrap(), b"12345");
        assert_eq!(std::fs::read(dir.path().join("empty")).unwrap(), b"");
    }

    #[test]
    fn damaged_objects_are_refused_and_write_nothing() {
        let good = blob(&[("meta.json", b"{}"), ("a.idx", b"12345")]);
        let mut truncated = good.clone();
        truncated.drain(..3);
        let escaping = blob(&[("../evil", b"x")]);
        let mut short_footer = good.clone();
        let n = short_footer.len();
        short_footer[n - TAIL..n - 8].copy_from_slice(&(u64::MAX).to_le_bytes());
        for bad in [
            &b"WEIRSPL1"[..],
            &truncated,
            &escaping,
            &short_footer,
            &good[..good.len() - 1],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("split");
            assert!(matches!(
                unbundle(bad, &target),
                Err(StoreError::CorruptRecord(_))
            ));
            assert!(!target.exists());
        }
    }
}
