//! How the single writer of a signal merges segments: append-only data cut
//! into daily partitions never deletes documents, so merges exist only to
//! keep the segment count (and the per-query cost) low.
//!
//! tantivy's defaults merge 8 similar segments at a time on 4 threads. With a
//! commit every second that re-merges each document three or four times and,
//! on a small machine, takes cores away from indexing exactly when ingest is
//! busiest. Here merges are wider (each document is rewritten fewer times)
//! and run on one thread, so at most one core ever goes to merging.

use tantivy::indexer::LogMergePolicy;

/// Segments of one size class merged together.
const SEGMENTS_PER_MERGE: usize = 12;

/// Segments with this many documents are left alone: a day's partition ends
/// up as a handful of segments this size.
const LARGEST_MERGED_SEGMENT_DOCS: usize = 8_000_000;

/// Segments below this size count as this size, so the many small segments
/// that frequent commits make are merged early.
const SMALLEST_SIZE_CLASS_DOCS: u32 = 20_000;

/// Threads that run merges.
pub const MERGE_THREADS: usize = 1;

/// The merge policy of every index writer.
pub fn policy() -> LogMergePolicy {
    let mut policy = LogMergePolicy::default();
    policy.set_min_num_segments(SEGMENTS_PER_MERGE);
    policy.set_max_docs_before_merge(LARGEST_MERGED_SEGMENT_DOCS);
    policy.set_min_layer_size(SMALLEST_SIZE_CLASS_DOCS);
    policy
}
