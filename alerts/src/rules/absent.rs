//! `absent`: a component that sent no invocations for the whole window (a
//! stalled consumer); components known recently are evaluated too.

use super::Kind;
use super::file::RuleEntry;
use super::window::{Reads, Verdict, Verdicts, Window};
use crate::glob::Glob;

/// An `absent` rule; `op` and `threshold`, when written, are not used.
#[derive(Debug, Clone, PartialEq)]
pub struct Absent;

impl Absent {
    pub(super) fn parse(_entry: &RuleEntry, _problems: &mut Vec<String>) -> Option<Self> {
        Some(Absent)
    }
}

impl Kind for Absent {
    fn name(&self) -> &'static str {
        "absent"
    }

    fn reads(&self) -> Reads<'_> {
        Reads::Health
    }

    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a> {
        let Window::Health(health) = window else {
            return Box::new(std::iter::empty());
        };
        Box::new(health.components(select).map(|(c, r)| Verdict {
            component: c,
            partition: None,
            value: Some(r.invocations as f64),
            holds: Some(r.invocations == 0),
            observed_at: None,
        }))
    }
}
