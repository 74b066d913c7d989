//! What the two rate kinds share: a ratio threshold in [0, 1], and no
//! verdict on fewer invocations than `min_invocations`.

use super::Threshold;
use super::file::RuleEntry;
use super::window::{Verdict, Verdicts, Window};
use crate::glob::Glob;
use weir_core::HealthRollup;

/// A rate rule's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// The comparison, a ratio.
    pub threshold: Threshold,
    /// Fewer invocations than this give no verdict (at least 1).
    pub min_invocations: u64,
}

impl Rate {
    pub(super) fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        let threshold = Threshold::required(entry, problems);
        if entry.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            problems.push(format!(
                "rule `{}`: rates are ratios in [0, 1]; write 0.05 for 5 %",
                entry.alert
            ));
        }
        Some(Rate {
            threshold: threshold?,
            min_invocations: entry.min_invocations.unwrap_or(1).max(1),
        })
    }

    /// Verdicts of `rate_of` per component of a health window.
    pub(super) fn evaluate<'a>(
        &'a self,
        select: Option<&'a Glob>,
        window: Window<'a>,
        rate_of: fn(&HealthRollup) -> Option<f64>,
    ) -> Verdicts<'a> {
        let Window::Health(health) = window else {
            return Box::new(std::iter::empty());
        };
        Box::new(health.components(select).map(move |(c, r)| {
            let enough = r.invocations >= self.min_invocations;
            let rate = rate_of(r);
            let (value, holds) = match rate.filter(|_| enough) {
                Some(v) => (Some(v), Some(self.threshold.holds(v))),
                None => (rate, None),
            };
            Verdict {
                component: c,
                partition: None,
                value,
                holds,
                observed_at: None,
            }
        }))
    }
}
