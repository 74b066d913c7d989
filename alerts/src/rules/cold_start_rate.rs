//! `cold_start_rate`: cold starts per invocation over the window, per component.

use super::Kind;
use super::file::RuleEntry;
use super::rate::Rate;
use super::window::{Reads, Verdicts, Window};
use crate::glob::Glob;
use weir_core::HealthRollup;

/// A `cold_start_rate` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStartRate(pub Rate);

impl ColdStartRate {
    pub(super) fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        Rate::parse(entry, problems).map(ColdStartRate)
    }
}

impl Kind for ColdStartRate {
    fn name(&self) -> &'static str {
        "cold_start_rate"
    }

    fn reads(&self) -> Reads<'_> {
        Reads::Health
    }

    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a> {
        self.0
            .evaluate(select, window, HealthRollup::cold_start_rate)
    }
}
