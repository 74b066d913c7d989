//! Cluster mode's split filter: a Bloom filter of every exact-match value a
//! split's documents hold (trace, span and linked trace ids, every string
//! attribute value, correlation keys), so a trace lookup or a correlation
//! skips the splits that cannot hold its id without opening them.
//!
//! Kept here rather than taken from a crate because the filter is stored in
//! the catalog and must read the same in every later version: the hash is
//! XXH3-128 (a published algorithm, fixed), split into two halves for
//! Kirsch–Mitzenmacher double hashing. Layout: a version byte, the number
//! of hashes, the number of bits (u32 LE), then the bits.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use weir_core::{AttrValue, Attributes, LogRecord, Span};
use xxhash_rust::xxh3::xxh3_128;

const VERSION: u8 = 1;
const HEADER: usize = 6;
/// Bits per value: with seven hashes, about 1 % false positives.
const BITS_PER_VALUE: usize = 10;
const HASHES: u8 = 7;

/// The values of a split being built, hashed (16 bytes each, not the
/// strings), deduplicated.
#[derive(Debug, Default)]
pub struct TermSet(HashSet<u128, BuildHasherDefault<PreHashed>>);

impl TermSet {
    /// Adds one value.
    pub fn insert(&mut self, value: &str) {
        self.0.insert(xxh3_128(value.as_bytes()));
    }

    /// Adds every exact-match value of `span`'s document
    /// ([`super::document::span_document`]).
    pub fn add_span(&mut self, span: &Span) {
        self.insert(&span.trace_id.hex());
        self.insert(&span.span_id.hex());
        self.add_strings(&span.attributes);
        self.add_strings(&span.resource);
        for event in &span.events {
            self.add_strings(&event.attributes);
        }
        for link in &span.links {
            self.insert(&link.trace_id.hex());
        }
    }

    /// Adds every exact-match value of `log`'s document.
    pub fn add_log(&mut self, log: &LogRecord) {
        if let Some(t) = log.trace_id {
            self.insert(&t.hex());
        }
        if let Some(s) = log.span_id {
            self.insert(&s.hex());
        }
        self.add_strings(&log.attributes);
        self.add_strings(&log.resource);
        if let Some(body) = log.body.as_str() {
            self.insert(body);
        }
    }

    fn add_strings(&mut self, attrs: &Attributes) {
        fn walk(set: &mut TermSet, value: &AttrValue) {
            match value {
                AttrValue::Str(s) => set.insert(s),
                AttrValue::Array(items) => items.iter().for_each(|i| walk(set, i)),
                AttrValue::Map(map) => map.0.iter().for_each(|(_, v)| walk(set, v)),
                AttrValue::Empty
                | AttrValue::Bool(_)
                | AttrValue::Int(_)
                | AttrValue::Double(_) => {}
            }
        }
        for (_, value) in &attrs.0 {
            walk(self, value);
        }
    }

    /// The filter of the values added.
    pub fn filter(&self) -> Vec<u8> {
        let bits = (self.0.len() * BITS_PER_VALUE).max(64) as u32;
        let mut out = vec![0u8; HEADER + bits.div_ceil(8) as usize];
        out[0] = VERSION;
        out[1] = HASHES;
        out[2..HEADER].copy_from_slice(&bits.to_le_bytes());
        for &hash in &self.0 {
            for bit in positions(hash, HASHES, bits) {
                out[HEADER + bit / 8] |= 1 << (bit % 8);
            }
        }
        out
    }
}

/// The set's keys are XXH3 hashes already: hashing them again (SipHash,
/// the default) took most of the time a span's filter values cost.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed here; any other input still spreads.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).rotate_left(29);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

fn positions(hash: u128, hashes: u8, bits: u32) -> impl Iterator<Item = usize> {
    let (h1, h2) = (hash as u64, (hash >> 64) as u64 | 1);
    (0..u64::from(hashes))
        .map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % u64::from(bits)) as usize)
}

/// A stored filter, read: one Bloom filter per split it covers (a merged
/// split keeps its sources' filters end to end).
#[derive(Debug, Clone)]
pub struct TermFilter {
    blooms: Vec<Bloom>,
}

#[derive(Debug, Clone)]
struct Bloom {
    hashes: u8,
    bits: u32,
    data: Vec<u8>,
}

impl TermFilter {
    /// Reads a stored filter; `None` for no filter (empty) or one this
    /// version cannot read, either of which rules nothing out.
    pub fn read(mut stored: &[u8]) -> Option<TermFilter> {
        let mut blooms = Vec::new();
        while !stored.is_empty() {
            if stored.len() < HEADER || stored[0] != VERSION || stored[1] == 0 {
                return None;
            }
            let bits = u32::from_le_bytes(stored[2..HEADER].try_into().expect("4 bytes"));
            let len = bits.div_ceil(8) as usize;
            if bits == 0 || stored.len() < HEADER + len {
                return None;
            }
            blooms.push(Bloom {
                hashes: stored[1],
                bits,
                data: stored[HEADER..HEADER + len].to_vec(),
            });
            stored = &stored[HEADER + len..];
        }
        (!blooms.is_empty()).then_some(TermFilter { blooms })
    }

    /// The filter of a split merged from splits with `filters`: theirs end
    /// to end; none when one of them has none.
    pub fn merged(filters: &[&[u8]]) -> Vec<u8> {
        if filters.iter().any(|f| TermFilter::read(f).is_none()) {
            return Vec::new();
        }
        filters.concat()
    }

    /// Whether the split may hold `value`; false means it surely does not.
    pub fn may_hold(&self, value: &str) -> bool {
        let hash = xxh3_128(value.as_bytes());
        self.blooms.iter().any(|b| {
            positions(hash, b.hashes, b.bits).all(|bit| b.data[bit / 8] & (1 << (bit % 8)) != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_added_is_held_and_most_others_are_ruled_out() {
        let mut set = TermSet::default();
        for i in 0..2000 {
            set.insert(&format!("rec-{i}"));
        }
        let filter = TermFilter::read(&set.filter()).unwrap();
        assert!((0..2000).all(|i| filter.may_hold(&format!("rec-{i}"))));
        let false_positives = (0..10_000)
            .filter(|i| filter.may_hold(&format!("other-{i}")))
            .count();
        assert!(false_positives < 300, "{false_positives} of 10000");
    }

    #[test]
    fn the_layout_is_fixed() {
        let mut set = TermSet::default();
        set.insert("5b8e4f2a1c0d3e6f7a8b9c0d1e2f3a4b");
        let stored = set.filter();
        assert_eq!(&stored[..HEADER], &[1, 7, 64, 0, 0, 0]);
        // Golden bits: a filter written today must read the same in every
        // later version.
        assert_eq!(hex::encode(&stored[HEADER..]), GOLDEN);
    }

    const GOLDEN: &str = "0000c01f00000000";

    #[test]
    fn no_filter_or_an_unknown_one_rules_nothing_out() {
        assert!(TermFilter::read(&[]).is_none());
        assert!(TermFilter::read(&[2, 7, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(TermFilter::read(&[1, 7, 64, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn a_merged_filter_holds_what_each_source_held() {
        let one = |v: &str| {
            let mut set = TermSet::default();
            set.insert(v);
            set.filter()
        };
        let (a, b) = (one("trace-a"), one("trace-b"));
        let merged = TermFilter::read(&TermFilter::merged(&[&a, &b])).unwrap();
        assert!(merged.may_hold("trace-a") && merged.may_hold("trace-b"));
        assert!(
            TermFilter::merged(&[&a, &[]]).is_empty(),
            "a source without a filter"
        );
    }

    #[test]
    fn a_span_holds_its_ids_and_string_values() {
        use weir_core::fixtures::{attributes, span};
        let span = weir_core::Span {
            attributes: attributes(&[
                ("record.key", AttrValue::Str("rec-1".into())),
                ("n", AttrValue::Int(3)),
                (
                    "tags",
                    AttrValue::Array(vec![AttrValue::Str("blue".into())]),
                ),
            ]),
            ..span(weir_core::TraceId([9; 16]), 1, None, "svc", "op")
        };
        let mut set = TermSet::default();
        set.add_span(&span);
        let filter = TermFilter::read(&set.filter()).unwrap();
        assert!(filter.may_hold(&span.trace_id.hex()));
        assert!(filter.may_hold(&span.span_id.hex()));
        assert!(filter.may_hold("rec-1"));
        assert!(filter.may_hold("blue"));
    }
}
