//! What a rule evaluates over: one window of health rollups or of one
//! metric's points, read once for every rule that asks for the same, and
//! the verdicts rules give. Pure: the engine reads the windows.

use crate::glob::Glob;
use std::collections::BTreeMap;
use weir_core::pipeline::partition_of;
use weir_core::{HealthRollup, MetricPoint};

/// One (rule, component, partition) evaluation, borrowing the names from
/// the window it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'a> {
    /// The component.
    pub component: &'a str,
    /// The shard or partition, for metric series that have one.
    pub partition: Option<&'a str>,
    /// The value compared, when there is one.
    pub value: Option<f64>,
    /// Whether the condition holds; `None` gives no verdict.
    pub holds: Option<bool>,
    /// The newest reading's timestamp, for verdicts on metric points:
    /// `for` counts from it. `None` counts from the evaluation.
    pub observed_at: Option<u64>,
}

/// A rule's verdicts over one window.
pub type Verdicts<'a> = Box<dyn Iterator<Item = Verdict<'a>> + 'a>;

/// What a rule reads each evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads<'a> {
    /// Health rollups over its window.
    Health,
    /// The points of this metric over its window.
    Points(&'a str),
}

/// A window as read, handed to the rule that asked for it.
#[derive(Debug, Clone, Copy)]
pub enum Window<'a> {
    /// Health rollups.
    Health(&'a HealthWindow),
    /// Metric points.
    Points(&'a SeriesWindow),
}

/// One window of health rollups: each component's rollup, and every
/// component to evaluate (seen in the window or known recently, so one that
/// went silent is still evaluated).
#[derive(Debug, Clone, Default)]
pub struct HealthWindow {
    rollups: BTreeMap<String, HealthRollup>,
    components: Vec<String>,
    /// What a silent component reads as.
    empty: HealthRollup,
}

impl HealthWindow {
    /// `rollups` over the window; `known` lists components seen recently.
    pub fn new(rollups: BTreeMap<String, HealthRollup>, known: &[String]) -> Self {
        let mut components: Vec<String> = known.iter().chain(rollups.keys()).cloned().collect();
        components.sort();
        components.dedup();
        HealthWindow {
            rollups,
            components,
            empty: HealthRollup::default(),
        }
    }

    /// Each component `select` admits (all when `None`), with its rollup;
    /// a silent component reads as an empty rollup.
    pub fn components<'a>(
        &'a self,
        select: Option<&'a Glob>,
    ) -> impl Iterator<Item = (&'a str, &'a HealthRollup)> + 'a {
        self.components
            .iter()
            .filter(move |c| select.is_none_or(|g| g.is_match(c)))
            .map(|c| (c.as_str(), self.rollups.get(c).unwrap_or(&self.empty)))
    }
}

/// One metric's points over a window, split by (component, partition) and
/// sorted by time.
#[derive(Debug, Clone, Default)]
pub struct SeriesWindow {
    series: BTreeMap<(String, Option<String>), Vec<MetricPoint>>,
    /// Window start, Unix nanoseconds.
    pub start: u64,
    /// Window length, nanoseconds (at least 1).
    pub len: u64,
}

impl SeriesWindow {
    /// The points of `[start, start + len)`.
    pub fn new(points: Vec<MetricPoint>, start: u64, len: u64) -> Self {
        let mut series: BTreeMap<(String, Option<String>), Vec<MetricPoint>> = BTreeMap::new();
        for p in points {
            let partition = partition_of(&p.attributes);
            series
                .entry((p.service.clone(), partition))
                .or_default()
                .push(p);
        }
        for pts in series.values_mut() {
            pts.sort_by_key(|p| p.time_unix_nano);
        }
        SeriesWindow {
            series,
            start,
            len: len.max(1),
        }
    }

    /// Each (component, partition) series whose component `select` admits.
    pub fn series<'a>(
        &'a self,
        select: Option<&'a Glob>,
    ) -> impl Iterator<Item = (&'a str, Option<&'a str>, &'a [MetricPoint])> + 'a {
        self.series
            .iter()
            .filter(move |((component, _), _)| select.is_none_or(|g| g.is_match(component)))
            .map(|((component, partition), pts)| {
                (component.as_str(), partition.as_deref(), pts.as_slice())
            })
    }

    /// When the oldest point of `component`'s `partition` series leaves
    /// the window (Unix nanoseconds): the verdict may change then without
    /// a new reading.
    pub fn first_expiry(&self, component: &str, partition: Option<&str>) -> Option<u64> {
        let key = (component.to_string(), partition.map(str::to_string));
        let first = self.series.get(&key)?.first()?;
        // The window is [start, start + len): a point stays in while
        // time >= now - (len - 1).
        Some(first.time_unix_nano.saturating_add(self.len))
    }

    /// Every point of a series reduced to one value over the whole window.
    pub fn reduce(
        &self,
        points: &[MetricPoint],
        aggregate: weir_core::series::Aggregate,
    ) -> Option<f64> {
        weir_core::series::aggregate(points, self.start, self.len, aggregate)
            .first()
            .map(|(_, v)| *v)
    }
}
