//! Name globs for rule `component:` and route matchers: `*` matches any run
//! of characters (slashes included), every other character only itself.

use globset::GlobBuilder;

/// A compiled glob, kept with the text it was written as.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    matcher: globset::GlobMatcher,
}

impl Glob {
    /// Compiles `pattern`. Every pattern is valid: only `*` is special.
    pub fn new(pattern: &str) -> Self {
        // globset also gives `?`, `[..]`, `{a,b}` and `\` meanings rule files
        // never had, so everything but `*` is escaped; runs of `*` collapse
        // to one, which matches the same names and keeps globset from reading
        // `**` as its recursive wildcard.
        let mut escaped = String::with_capacity(pattern.len() + 8);
        for (i, part) in pattern.split('*').enumerate() {
            if i > 0 && !escaped.ends_with('*') {
                escaped.push('*');
            }
            escaped.push_str(&globset::escape(part));
        }
        let matcher = GlobBuilder::new(&escaped)
            .literal_separator(false)
            .backslash_escape(false)
            .build()
            .expect("an escaped pattern with only `*` wildcards always compiles")
            .compile_matcher();
        Glob {
            text: pattern.to_string(),
            matcher,
        }
    }

    /// Whether `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl<'de> serde::Deserialize<'de> for Glob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|text| Glob::new(&text))
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matcher rule files were written against before globset, kept as
    /// the oracle the globset translation must agree with.
    fn before(pattern: &str, name: &str) -> bool {
        let parts: Vec<&str> = pattern.split('*').collect();
        if parts.len() == 1 {
            return pattern == name;
        }
        let mut rest = name;
        for (i, part) in parts.iter().enumerate() {
            if i == 0 {
                let Some(r) = rest.strip_prefix(part) else {
                    return false;
                };
                rest = r;
            } else if i == parts.len() - 1 {
                return rest.ends_with(part);
            } else {
                let Some(at) = rest.find(part) else {
                    return false;
                };
                rest = &rest[at + part.len()..];
            }
        }
        true
    }

    #[test]
    fn globs() {
        let m = |p: &str, n: &str| Glob::new(p).is_match(n);
        assert!(m("page-view-*", "page-view-counter"));
        assert!(m("*-writer", "kv-writer"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("page-*", "kv-writer"));
        assert!(m("exact", "exact") && !m("exact", "exactly"));
    }

    #[test]
    fn only_the_star_is_special_as_before() {
        let patterns = [
            "",
            "*",
            "**",
            "a**b",
            "a*",
            "*a",
            "a*b*c",
            "ab*ba",
            "a?c",
            "[ab]",
            "{a,b}",
            "a\\*",
            "x/*",
            "*/y",
            "a.b*",
            "é*",
            "*-writer",
            "page-*-v2",
            "a*a*a",
        ];
        let names = [
            "",
            "a",
            "abc",
            "aab",
            "ab",
            "aba",
            "abba",
            "axxbyyc",
            "a?c",
            "abc?",
            "[ab]",
            "a",
            "{a,b}",
            "a\\x",
            "a\\*",
            "x/y/z",
            "x/",
            "z/y",
            "a.bc",
            "é-x",
            "kv-writer",
            "writer",
            "page-x-v2",
            "page--v2",
            "page-v2",
            "aaa",
            "aa",
            "a\nb",
        ];
        for p in patterns {
            let glob = Glob::new(p);
            for n in names {
                assert_eq!(glob.is_match(n), before(p, n), "pattern {p:?} name {n:?}");
            }
        }
    }
}
