//! Annotation templates: `{{ component }}`, `{{ value }}`, `{{ $labels.x }}`
//! and `{{ $value }}`, rendered per alert.

use crate::webhook::LabelSet;

/// Renders `{{ component }}`, `{{ value }}`, `{{ $labels.x }}` and
/// `{{ $value }}` (spaces inside the braces optional).
pub fn render(template: &str, labels: &LabelSet, value: Option<f64>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let expr = rest[open + 2..open + close].trim();
        let name = expr
            .strip_prefix("$labels.")
            .or_else(|| expr.strip_prefix('.'));
        let replacement = match (expr, name) {
            ("value" | "$value", _) => value.map(format_value).unwrap_or_default(),
            (_, Some(label)) => labels.get(label).cloned().unwrap_or_default(),
            (plain, None) => labels
                .get(plain)
                .cloned()
                .unwrap_or_else(|| format!("{{{{{expr}}}}}")),
        };
        out.push_str(&replacement);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Whole numbers as such; others to four decimals, trailing zeros dropped
/// (0.6666… reads 0.6667).
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> LabelSet {
        [
            ("alertname", "ConsumerLagging"),
            ("component", "page-view-counter"),
            ("kind", "lag"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn templates_accept_both_spellings() {
        let l = labels();
        assert_eq!(
            render("{{ component }} is {{ value }} behind", &l, Some(61000.0)),
            "page-view-counter is 61000 behind"
        );
        assert_eq!(
            render("{{$labels.component}}: {{ $value }}", &l, Some(0.25)),
            "page-view-counter: 0.25"
        );
        assert_eq!(render("no {{ placeholders", &l, None), "no {{ placeholders");
        assert_eq!(render("{{ value }}", &l, Some(2.0 / 3.0)), "0.6667");
    }
}
