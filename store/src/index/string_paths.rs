//! Which JSON paths of `attributes` and `resource` hold string values, so a
//! correlation key (`key:X`, `/correlate/X`) is looked up under each of them
//! instead of indexing every string value a second time in `key`.
//!
//! A query for "any string attribute equal to X" becomes one exact term per
//! known path (a few dozen in real fleets: term lookups cost microseconds),
//! while ingest indexes each value once. The set is persisted in every
//! commit's payload, so it always covers what is committed, and it is capped:
//! values under paths beyond the cap (or under keys the JSON path syntax
//! cannot spell) go to `key` as well, which every lookup also reads.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use tantivy::query_grammar::{Occur, UserInputAst, UserInputLeaf};

/// The most paths remembered per signal; beyond it values also go to `key`.
pub const MAX_STRING_PATHS: usize = 1024;

/// One of the two JSON fields that hold attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonField {
    /// The record's own attributes.
    Attributes,
    /// Its resource's attributes.
    Resource,
}

impl JsonField {
    /// The field's name in the schema and in queries.
    pub fn name(self) -> &'static str {
        match self {
            JsonField::Attributes => "attributes",
            JsonField::Resource => "resource",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Where a string value under a path must be indexed besides its JSON field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The path is known: the JSON field alone finds the value.
    Known,
    /// The path cannot be remembered: the value goes to `key` too.
    Overflow,
}

/// The paths as persisted in a commit payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PersistedPaths {
    /// Paths under `attributes`, e.g. `http.route`.
    #[serde(default)]
    pub attributes: Vec<String>,
    /// Paths under `resource`.
    #[serde(default)]
    pub resource: Vec<String>,
}

/// The registry: written by the single index writer, read by every query.
#[derive(Default)]
pub struct StringPaths {
    known: [HashSet<String>; 2],
    /// Full query names (`attributes.http.route`), republished on change.
    published: PublishedNames,
}

/// The query side's view of the registry: read without waiting for the writer.
pub type PublishedNames = Arc<RwLock<Arc<Vec<String>>>>;

impl StringPaths {
    /// A registry holding what the given payloads recorded.
    pub fn from_persisted<'a>(all: impl IntoIterator<Item = &'a PersistedPaths>) -> Self {
        let mut paths = StringPaths::default();
        for persisted in all {
            paths.merge(persisted);
        }
        paths
    }

    /// Adds the paths another index recorded (a split attached for queries).
    pub fn merge(&mut self, persisted: &PersistedPaths) {
        for p in &persisted.attributes {
            self.admit(JsonField::Attributes, p);
        }
        for p in &persisted.resource {
            self.admit(JsonField::Resource, p);
        }
    }

    /// Records that a string value sits at `path` in `field`. Allocates only
    /// the first time a path is seen.
    pub fn admit(&mut self, field: JsonField, path: &str) -> Admission {
        if self.known[field.slot()].contains(path) {
            return Admission::Known;
        }
        // An empty segment or a backslash would be spelled differently by
        // tantivy's path parser than by the indexer.
        let spellable = !path.is_empty()
            && !path.contains('\\')
            && !path.starts_with('.')
            && !path.ends_with('.')
            && !path.contains("..");
        if !spellable || self.count() >= MAX_STRING_PATHS {
            return Admission::Overflow;
        }
        self.known[field.slot()].insert(path.to_string());
        let mut names = self.published.read().as_ref().clone();
        names.push(format!("{}.{path}", field.name()));
        *self.published.write() = Arc::new(names);
        Admission::Known
    }

    /// How many paths are known.
    pub fn count(&self) -> usize {
        self.known[0].len() + self.known[1].len()
    }

    /// What a commit payload records.
    pub fn persisted(&self) -> PersistedPaths {
        let sorted = |set: &HashSet<String>| {
            let mut v: Vec<String> = set.iter().cloned().collect();
            v.sort();
            v
        };
        PersistedPaths {
            attributes: sorted(&self.known[0]),
            resource: sorted(&self.known[1]),
        }
    }

    /// A handle that always reads the full field names (`attributes.<path>`,
    /// `resource.<path>`) of every known path.
    pub fn published(&self) -> PublishedNames {
        self.published.clone()
    }
}

/// Rewrites every `key:X` (and `key: IN [...]`) in a parsed query into
/// `key:X OR attributes.<p>:X OR resource.<p>:X ...` over `names`.
pub fn widen_key_clauses(ast: UserInputAst, names: &[String]) -> UserInputAst {
    match ast {
        UserInputAst::Clause(clauses) => UserInputAst::Clause(
            clauses
                .into_iter()
                .map(|(occur, sub)| (occur, widen_key_clauses(sub, names)))
                .collect(),
        ),
        UserInputAst::Boost(inner, boost) => {
            UserInputAst::Boost(Box::new(widen_key_clauses(*inner, names)), boost)
        }
        UserInputAst::Leaf(leaf) => match *leaf {
            UserInputLeaf::Literal(literal) if literal.field_name.as_deref() == Some("key") => {
                any_of(names, |name| {
                    let mut l = literal.clone();
                    l.field_name = Some(name.to_string());
                    UserInputLeaf::Literal(l)
                })
            }
            UserInputLeaf::Set {
                field: Some(field),
                elements,
            } if field == "key" => any_of(names, |name| UserInputLeaf::Set {
                field: Some(name.to_string()),
                elements: elements.clone(),
            }),
            other => UserInputAst::Leaf(Box::new(other)),
        },
    }
}

fn any_of(names: &[String], leaf_for: impl Fn(&str) -> UserInputLeaf) -> UserInputAst {
    let mut alternatives = vec![(
        Some(Occur::Should),
        UserInputAst::Leaf(Box::new(leaf_for("key"))),
    )];
    for name in names {
        alternatives.push((
            Some(Occur::Should),
            UserInputAst::Leaf(Box::new(leaf_for(name))),
        ));
    }
    UserInputAst::Clause(alternatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_admitted_once_and_published() {
        let mut paths = StringPaths::default();
        assert_eq!(
            paths.admit(JsonField::Attributes, "http.route"),
            Admission::Known
        );
        assert_eq!(
            paths.admit(JsonField::Attributes, "http.route"),
            Admission::Known
        );
        assert_eq!(
            paths.admit(JsonField::Resource, "http.route"),
            Admission::Known
        );
        assert_eq!(
            **paths.published().read(),
            vec!["attributes.http.route", "resource.http.route"]
        );
        let again = StringPaths::from_persisted([&paths.persisted()]);
        assert_eq!(again.count(), 2);
    }

    #[test]
    fn unspellable_paths_and_paths_past_the_cap_overflow() {
        let mut paths = StringPaths::default();
        for bad in ["", "a\\.b", ".a", "a.", "a..b"] {
            assert_eq!(paths.admit(JsonField::Attributes, bad), Admission::Overflow);
        }
        for i in 0..MAX_STRING_PATHS {
            assert_eq!(
                paths.admit(JsonField::Attributes, &format!("k{i}")),
                Admission::Known
            );
        }
        assert_eq!(
            paths.admit(JsonField::Resource, "one.more"),
            Admission::Overflow
        );
        assert_eq!(paths.count(), MAX_STRING_PATHS);
    }

    #[test]
    fn key_clauses_are_widened_and_nothing_else() {
        let names = vec!["attributes.order.id".to_string()];
        let ast = tantivy::query_grammar::parse_query(
            r#"key:"ord-1" AND service:checkout AND (key: IN [a b] OR name:key)"#,
        )
        .unwrap();
        let widened = format!("{:?}", widen_key_clauses(ast, &names));
        assert!(
            widened.contains(r#""attributes.order.id":"ord-1""#),
            "{widened}"
        );
        assert!(widened.contains(r#""key":"ord-1""#), "{widened}");
        assert!(
            widened.contains(r#""attributes.order.id": IN ["a" "b"]"#),
            "{widened}"
        );
        assert!(widened.contains(r#""service":checkout"#), "{widened}");
        assert_eq!(
            widened.matches("attributes.order.id").count(),
            2,
            "{widened}"
        );
    }
}
