//! Charts drawn on the server as SVG: sparklines, time-series line charts
//! and the pipeline graph. Pure functions from numbers to markup, so pages
//! read without JavaScript and charts are unit-tested as text.

pub mod graph;
pub mod lines;
pub mod waterfall;

/// Escapes text for SVG and HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A compact number: 1234 → "1.2k", 0.1234 → "0.123".
pub fn compact(v: f64) -> String {
    weir_core::human::count(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_compacts_numbers() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(compact(12_345.0), "12.3k");
        assert_eq!(compact(42.0), "42");
        assert_eq!(compact(2.25), "2.2");
        assert_eq!(compact(0.1234), "0.123");
    }
}
