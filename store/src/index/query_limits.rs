//! What a search query may be: limits checked before tantivy parses it, and
//! the errors of queries tantivy parses but cannot run, told as the user's
//! mistake rather than an internal error.

use crate::StoreError;

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Deepest nesting of parentheses accepted.
pub const MAX_QUERY_DEPTH: usize = 32;
/// Longest run of prefix operators (`+`, `-`, `NOT`) on one clause; each is
/// one more level of tantivy's recursive parser.
pub const MAX_PREFIX_OPERATORS: usize = 32;

/// Refuses queries over the size and nesting limits.
pub fn check(text: &str) -> Result<(), StoreError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(StoreError::BadQuery(format!(
            "the query is {} bytes long; at most {MAX_QUERY_BYTES} are accepted",
            text.len()
        )));
    }
    // tantivy encodes JSON paths with control bytes as separators; a query
    // that holds one trips an assertion inside tantivy (found by fuzzing).
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(StoreError::BadQuery(format!(
            "the query contains the control character {:?}: remove it",
            c
        )));
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut prefixes = 0usize;
    let mut most_prefixes = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            '+' | '-' | '!' => {
                prefixes += 1;
                most_prefixes = most_prefixes.max(prefixes);
                continue;
            }
            c if c.is_whitespace() => continue,
            _ => {}
        }
        prefixes = 0;
    }
    // `NOT NOT NOT …` nests as deeply as `- - -`.
    let nots = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .fold((0usize, 0usize), |(run, most), w| {
            if w[0] == "NOT" {
                (run + 1, most.max(run + 1))
            } else {
                (0, most)
            }
        })
        .1;
    if deepest > MAX_QUERY_DEPTH {
        return Err(StoreError::BadQuery(format!(
            "the query nests parentheses {deepest} deep; at most {MAX_QUERY_DEPTH} are accepted"
        )));
    }
    if most_prefixes.max(nots) > MAX_PREFIX_OPERATORS {
        return Err(StoreError::BadQuery(format!(
            "the query stacks {} prefix operators on one clause; at most {MAX_PREFIX_OPERATORS} are accepted",
            most_prefixes.max(nots)
        )));
    }
    Ok(())
}

/// Runs a search, turning a panic inside tantivy into the user's error:
/// fuzzing found phrase queries (`\t*\t-I-I*-I*`) that trip an assertion in
/// tantivy's phrase scorer. A search only reads, so nothing is left half-done.
pub fn run_guarded<T>(search: impl FnOnce() -> tantivy::Result<T>) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(search)) {
        Ok(result) => result.map_err(unrunnable),
        Err(_) => Err(StoreError::BadQuery(
            "the index cannot run this query (it stopped inside tantivy): simplify it, for example without wildcards inside phrases".into(),
        )),
    }
}

/// A query tantivy parsed but refuses to run (`name:*` on a field without
/// fast values, a range on a text field) is the user's error, not weir's.
pub fn unrunnable(e: tantivy::TantivyError) -> StoreError {
    match e {
        tantivy::TantivyError::SchemaError(msg) | tantivy::TantivyError::InvalidArgument(msg) => {
            StoreError::BadQuery(format!(
                "this query cannot run on weir's index ({msg}); `field:*` works only on duration_ms, and ranges only on numbers"
            ))
        }
        tantivy::TantivyError::FieldNotFound(field) => {
            StoreError::BadQuery(format!("no field `{field}` in the index"))
        }
        other => StoreError::Index(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_and_stacked_operators_are_refused() {
        let deep = format!("{}x{}", "(".repeat(3000), ")".repeat(3000));
        assert!(check(&deep).unwrap_err().to_string().contains("nests"));
        assert!(check(&format!("{}x", "-".repeat(100))).is_err());
        assert!(check(&format!("{}x", "NOT ".repeat(100))).is_err());
        assert!(check(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
        assert!(check("resource.clo\0d.region:e").is_err());
    }

    #[test]
    fn ordinary_queries_pass() {
        for q in [
            r#"service:"page-view-counter" AND status:error"#,
            "((a OR b) AND (c OR (d AND e)))",
            r#"body:"((((((((((((((((((((((((((((((((((((quoted""#,
            "duration_ms:>100 -name:health",
        ] {
            check(q).unwrap();
        }
    }
}
