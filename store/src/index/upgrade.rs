//! Partitions written by an older weir, whose term dictionaries are FSTs,
//! re-indexed once from their stored records into today's format.
//!
//! weir builds tantivy with SSTable term dictionaries (as Quickwit does):
//! they are written by appending sorted, prefix-compressed blocks, where an
//! FST builds and deduplicates a graph node by node, which was a fifth of all
//! ingest CPU on unique ids and correlation values. tantivy reads only the
//! dictionary kind it was built with, so an older partition is rebuilt at
//! start-up: its doc store (which does not depend on the dictionary) holds
//! every record whole, and the commit payload (WAL position, time range,
//! string paths) is carried over unchanged, so nothing is replayed twice.
//!
//! The swap survives a crash at any point: the new index is built and
//! committed in `<day>.rebuilding`, then `<day>` becomes `<day>.replaced`,
//! `<day>.rebuilding` becomes `<day>`, and `<day>.replaced` is removed.
//! [`finish_interrupted`] completes or undoes whichever step a crash left.

use super::document;
use super::partition::{self, Partition};
use super::schema::Fields;
use super::string_paths::StringPaths;
use super::{Signal, WriterBudget, stored};
use crate::StoreError;
use std::path::{Path, PathBuf};
use tantivy::schema::{Schema, Value};
use tantivy::{Index, TantivyDocument};
use weir_core::{LogRecord, Span};

/// The file that marks a partition as written in today's format.
pub(super) const FORMAT_FILE: &str = "weir-index-format";
/// Its content: the term dictionary kind and the schema's revision.
const CURRENT_FORMAT: &str = "sstable-1";
const REBUILDING: &str = "rebuilding";
const REPLACED: &str = "replaced";

/// Whether the partition at `path` was written in today's format.
pub fn is_current(path: &Path) -> bool {
    std::fs::read_to_string(path.join(FORMAT_FILE)).is_ok_and(|s| s.trim() == CURRENT_FORMAT)
}

/// Marks a new, still empty partition directory as today's format, durably,
/// before any index file is written into it.
pub fn mark_current(path: &Path) -> Result<(), StoreError> {
    let file = path.join(FORMAT_FILE);
    std::fs::write(&file, format!("{CURRENT_FORMAT}\n")).map_err(|e| StoreError::io(&file, e))?;
    sync(&file)?;
    sync(path)
}

/// Whether the directory at `path` holds a partition (a committed index).
pub fn holds_index(path: &Path) -> bool {
    path.join("meta.json").exists()
}

/// Completes or undoes a swap a crash interrupted, for every partition
/// under `root`.
pub fn finish_interrupted(root: &Path) -> Result<(), StoreError> {
    // Moved-aside originals first: they tell which rebuilds were committed.
    for (day, path) in marked(root, REPLACED)? {
        let live = root.join(&day);
        if !live.exists() {
            // The old index was moved aside only once the new one was committed.
            rename(&root.join(format!("{day}.{REBUILDING}")), &live, root)?;
        }
        remove(&path)?;
    }
    for (_, path) in marked(root, REBUILDING)? {
        // A rebuild that never committed: start it again from the original.
        remove(&path)?;
    }
    Ok(())
}

/// The `<day>.<suffix>` directories under `root`, with their day.
fn marked(root: &Path, suffix: &str) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| StoreError::io(root, e))? {
        let entry = entry.map_err(|e| StoreError::io(root, e))?;
        let name = entry.file_name();
        if let Some((day, s)) = name.to_str().and_then(|n| n.split_once('.'))
            && s == suffix
        {
            found.push((day.to_string(), entry.path()));
        }
    }
    Ok(found)
}

/// Re-indexes the older partition at `path` in today's format and swaps it
/// in; returns how many records it holds.
pub fn rebuild(
    path: &Path,
    signal: Signal,
    schema: &Schema,
    fields: &Fields,
    budget: WriterBudget,
) -> Result<u64, StoreError> {
    let (root, day) = split(path)?;
    let old = Index::open_in_dir(path)?;
    // Carried over verbatim: WAL position, time range and string paths.
    let payload = old.load_metas()?.payload;
    let mut paths = StringPaths::from_persisted([&partition::string_paths_in(payload.as_deref())]);

    let target = root.join(format!("{day}.{REBUILDING}"));
    if target.exists() {
        remove(&target)?;
    }
    let rebuilt = Partition::open_or_create(&target, 0, schema)?;
    let mut writer = rebuilt
        .index
        .writer_with_options(super::writer_options(budget))?;
    let searcher = old.reader()?.searcher();
    let mut records = 0u64;
    for segment in searcher.segment_readers() {
        let store = segment
            .get_store_reader(64)
            .map_err(|e| StoreError::io(path, e))?;
        let mut scratch = Vec::new();
        for doc_id in segment.doc_ids_alive() {
            let doc: TantivyDocument = store.get(doc_id)?;
            let bytes = doc
                .get_first(fields.doc)
                .and_then(|v| v.as_bytes())
                .ok_or_else(|| {
                    StoreError::CorruptRecord(format!(
                        "{}: a document without its record",
                        path.display()
                    ))
                })?;
            let rebuilt_doc = match signal {
                Signal::Spans => document::span_document(
                    fields,
                    &mut paths,
                    &stored::decode::<Span>(bytes)?,
                    &mut scratch,
                ),
                Signal::Logs => document::log_document(
                    fields,
                    &mut paths,
                    &stored::decode::<LogRecord>(bytes)?,
                    &mut scratch,
                ),
            };
            writer.add_document(rebuilt_doc)?;
            records += 1;
        }
    }
    let mut prepared = writer.prepare_commit()?;
    if let Some(payload) = payload {
        prepared.set_payload(&payload);
    }
    prepared.commit()?;
    writer.wait_merging_threads()?;
    drop(rebuilt);
    drop(searcher);
    drop(old);

    let replaced = root.join(format!("{day}.{REPLACED}"));
    rename(path, &replaced, &root)?;
    rename(&target, path, &root)?;
    remove(&replaced)?;
    Ok(records)
}

fn split(path: &Path) -> Result<(PathBuf, String), StoreError> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(root), Some(day)) => Ok((root.to_path_buf(), day.to_string())),
        _ => Err(StoreError::io(
            path,
            std::io::Error::other("not a partition directory"),
        )),
    }
}

fn rename(from: &Path, to: &Path, root: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(|e| StoreError::io(from, e))?;
    sync(root)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_dir_all(path).map_err(|e| StoreError::io(path, e))
}

fn sync(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(path, e))
}
