//! `error_rate`: errors per invocation over the window, per component.

use super::Kind;
use super::file::RuleEntry;
use super::rate::Rate;
use super::window::{Reads, Verdicts, Window};
use crate::glob::Glob;
use weir_core::HealthRollup;

/// An `error_rate` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRate(pub Rate);

impl ErrorRate {
    pub(super) fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        Rate::parse(entry, problems).map(ErrorRate)
    }
}

impl Kind for ErrorRate {
    fn name(&self) -> &'static str {
        "error_rate"
    }

    fn reads(&self) -> Reads<'_> {
        Reads::Health
    }

    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a> {
        self.0.evaluate(select, window, HealthRollup::error_rate)
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{rollup, rule};
    use crate::rules::window::{HealthWindow, Verdict, Window};
    use std::collections::BTreeMap;
    use weir_core::HealthRollup;

    #[test]
    fn error_rate_needs_enough_invocations() {
        let r = rule(
            "      - alert: Errors\n        kind: error_rate\n        window: 5m\n        op: \">\"\n        threshold: 0.1\n        min_invocations: 20\n",
        );
        let window: BTreeMap<String, HealthRollup> = [
            ("busy".to_string(), rollup(40, 8, None)),
            ("quiet".to_string(), rollup(5, 5, None)),
        ]
        .into_iter()
        .collect();
        let health = HealthWindow::new(window, &[]);
        let v: Vec<_> = r.evaluate(Window::Health(&health)).collect();
        assert_eq!(
            v[0],
            Verdict {
                component: "busy",
                partition: None,
                value: Some(0.2),
                holds: Some(true),
                observed_at: None,
            }
        );
        assert_eq!(v[1].holds, None, "five invocations give no verdict");
    }
}
