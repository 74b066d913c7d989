//! A component's status now, and why: one verdict that the overview, the
//! component page, the topology and `GET /api/v1/components` all show.
//!
//! It reads the last [`STATUS_MINUTES`] minutes of rollups, never the
//! page's window: a burst of errors an hour ago must not keep a component
//! red after it recovered. Lag is the latest minute's reading per series
//! ("now"), not the window's peak. Alerts firing on the component count
//! first: the user's own rules say what is wrong with it, in their
//! thresholds. Measures no alert fires on are judged by fixed defaults
//! ([`ERROR_RATE_FAILING`], [`LAG_FAILING_MS`] and their degraded
//! counterparts), so a pipeline without rules still gets a status.

use crate::human::{self, Unit};
use crate::pipeline::{LagUnit, minute_of};
use crate::rollup::HealthRollup;
use serde::Serialize;
use std::collections::BTreeMap;

/// Minutes of rollups a status reads, the current one included.
pub const STATUS_MINUTES: u64 = 5;
/// Error rate that makes a component failing without a rule.
pub const ERROR_RATE_FAILING: f64 = 0.20;
/// Error rate that makes it degraded.
pub const ERROR_RATE_DEGRADED: f64 = 0.05;
/// Time lag that makes a component failing without a rule.
pub const LAG_FAILING_MS: f64 = 60_000.0;
/// Time lag that makes it degraded.
pub const LAG_DEGRADED_MS: f64 = 10_000.0;

const MINUTE: u64 = 60_000_000_000;

/// The `[from, to)` minutes a status reads at `now`.
pub fn window(now: u64) -> (u64, u64) {
    let to = minute_of(now) + MINUTE;
    (to.saturating_sub(STATUS_MINUTES * MINUTE), to)
}

/// How a component is doing, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Nothing received in the status window.
    NoData,
    /// Fine.
    Healthy,
    /// Worth a look.
    Degraded,
    /// Not invoked while it should be (an `absent` rule fires).
    Stalled,
    /// Failing or far behind.
    Failing,
}

impl Level {
    /// The word people read.
    pub fn words(self) -> &'static str {
        match self {
            Level::NoData => "no data",
            Level::Healthy => "healthy",
            Level::Degraded => "degraded",
            Level::Stalled => "stalled",
            Level::Failing => "failing",
        }
    }

    /// The CSS class of its colour.
    pub fn class(self) -> &'static str {
        match self {
            Level::NoData => "unknown",
            Level::Healthy => "ok",
            Level::Degraded => "warn",
            Level::Stalled | Level::Failing => "bad",
        }
    }
}

/// An alert firing on a component, as the status reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiringAlert {
    /// `alertname`.
    pub alertname: String,
    /// The component it fires on.
    pub component: String,
    /// The rule's kind: `lag`, `error_rate`, `cold_start_rate`, `metric`,
    /// `absent`.
    pub kind: String,
    /// The shard or partition, for series that have one.
    pub partition: Option<String>,
    /// The last value compared.
    pub value: Option<f64>,
    /// The rule's comparison, `>` and the like.
    pub op: Option<String>,
    /// What the value is compared with.
    pub threshold: Option<f64>,
    /// Its `severity` label; `warning` and `info` make a component
    /// degraded, anything else failing.
    pub severity: Option<String>,
}

/// A component's status and the reasons for it, worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The verdict.
    pub level: Level,
    /// Why, in words: `lag 2.0 min on shard-0 (threshold 1.0 min)`.
    pub reasons: Vec<String>,
}

impl Status {
    /// The verdict and its first reason, for one line.
    pub fn summary(&self) -> String {
        match self.reasons.first() {
            Some(r) => format!("{}: {r}", self.level.words()),
            None => self.level.words().to_string(),
        }
    }
}

/// What a reason is about, so a measure an alert already explains is not
/// listed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Lag,
    ErrorRate,
    Other,
}

struct Reason {
    level: Level,
    measure: Measure,
    text: String,
}

/// The latest lag per series: the readings of the newest minute that has
/// any, keyed by partition.
struct LagNow {
    by_partition: Vec<(String, LagUnit, f64)>,
}

impl LagNow {
    fn of(recent: &BTreeMap<u64, HealthRollup>) -> LagNow {
        let latest = recent
            .values()
            .rev()
            .find(|r| !r.lag_series.is_empty() || r.max_lag_ms.is_some());
        let mut by_partition = Vec::new();
        if let Some(r) = latest {
            for (series, peak) in &r.lag_series {
                let partition = series.rsplit_once(' ').map_or("all", |(_, p)| p);
                by_partition.push((partition.to_string(), peak.unit, peak.max));
            }
            // A rollup keeps a bounded number of series; the maximum still
            // covers the rest.
            if by_partition.is_empty()
                && let Some(ms) = r.max_lag_ms
            {
                by_partition.push(("all".into(), LagUnit::Ms, ms));
            }
        }
        LagNow { by_partition }
    }

    /// The worst time lag now and its partition.
    fn worst_time(&self) -> Option<(&str, f64)> {
        self.by_partition
            .iter()
            .filter(|(_, unit, _)| *unit == LagUnit::Ms)
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(p, _, v)| (p.as_str(), *v))
    }

    /// The reading of one partition now, worst unit first.
    fn of_partition(&self, partition: &str) -> Option<(LagUnit, f64)> {
        self.by_partition
            .iter()
            .filter(|(p, _, _)| p == partition)
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(_, unit, v)| (*unit, *v))
    }
}

fn lag_unit(unit: LagUnit) -> Unit {
    match unit {
        LagUnit::Ms => Unit::Millis,
        LagUnit::Records => Unit::Records,
    }
}

fn on_partition(partition: &str) -> String {
    if partition == "all" {
        String::new()
    } else {
        format!(" on {partition}")
    }
}

fn threshold_text(alert: &FiringAlert, unit: Unit) -> String {
    match alert.threshold {
        Some(t) => {
            let op = match alert.op.as_deref() {
                Some(">") | Some(">=") | None => String::new(),
                Some(op) => format!("{op} "),
            };
            format!(" (threshold {op}{})", human::value(t, unit))
        }
        None => String::new(),
    }
}

fn alert_reason(alert: &FiringAlert, lag: &LagNow, last_seen: u64, now: u64) -> Reason {
    let level = match alert.severity.as_deref() {
        _ if alert.kind == "absent" => Level::Stalled,
        Some("warning") | Some("info") => Level::Degraded,
        _ => Level::Failing,
    };
    let (measure, text) = match alert.kind.as_str() {
        "absent" => {
            let text = if last_seen == 0 {
                "stalled: never invoked".to_string()
            } else {
                let idle = now.saturating_sub(last_seen) as f64 / 1e6;
                format!("stalled {}", human::duration_ms(idle))
            };
            (Measure::Other, text)
        }
        "lag" => {
            let partition = alert.partition.as_deref().unwrap_or("all");
            let (unit, v) = match lag.of_partition(partition) {
                Some((unit, v)) => (lag_unit(unit), Some(v)),
                None => (Unit::Millis, alert.value),
            };
            let value = v.map_or_else(|| "high".into(), |v| human::value(v, unit));
            let text = format!(
                "lag {value}{}{}",
                on_partition(partition),
                threshold_text(alert, unit)
            );
            (Measure::Lag, text)
        }
        "error_rate" => (
            Measure::ErrorRate,
            format!(
                "error rate {}{}",
                alert.value.map_or_else(|| "high".into(), human::percent),
                threshold_text(alert, Unit::Ratio)
            ),
        ),
        "cold_start_rate" => (
            Measure::Other,
            format!(
                "cold starts {} of invocations{}",
                alert.value.map_or_else(|| "high".into(), human::percent),
                threshold_text(alert, Unit::Ratio)
            ),
        ),
        _ => (
            Measure::Other,
            format!(
                "{} at {}{}",
                alert.alertname,
                alert
                    .value
                    .map_or_else(|| "—".into(), |v| human::value(v, Unit::Plain)),
                threshold_text(alert, Unit::Plain)
            ),
        ),
    };
    Reason {
        level,
        measure,
        text,
    }
}

/// A measure's level by the default thresholds.
fn level_by(value: f64, failing: f64, degraded: f64) -> Level {
    if value >= failing {
        Level::Failing
    } else if value >= degraded {
        Level::Degraded
    } else {
        Level::Healthy
    }
}

fn measured_reasons(merged: &HealthRollup, lag: &LagNow) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(rate) = merged.error_rate() {
        let level = level_by(rate, ERROR_RATE_FAILING, ERROR_RATE_DEGRADED);
        if level > Level::Healthy {
            reasons.push(Reason {
                level,
                measure: Measure::ErrorRate,
                text: format!(
                    "error rate {} in the last {STATUS_MINUTES} min",
                    human::percent(rate)
                ),
            });
        }
    }
    if let Some((partition, ms)) = lag.worst_time() {
        let level = level_by(ms, LAG_FAILING_MS, LAG_DEGRADED_MS);
        if level > Level::Healthy {
            reasons.push(Reason {
                level,
                measure: Measure::Lag,
                text: format!("lag {}{}", human::duration_ms(ms), on_partition(partition)),
            });
        }
    }
    reasons
}

/// The status of one component at `now`, from its rollups of the status
/// [`window`] (per minute), when it last sent anything (from any window; 0
/// when never), and the alerts firing on it.
pub fn assess(
    recent: &BTreeMap<u64, HealthRollup>,
    last_seen: u64,
    firing: &[&FiringAlert],
    now: u64,
) -> Status {
    let mut merged = HealthRollup::default();
    recent.values().for_each(|r| merged.merge(r));
    let last_seen = last_seen.max(merged.last_seen);
    let lag = LagNow::of(recent);
    let mut reasons: Vec<Reason> = firing
        .iter()
        .map(|a| alert_reason(a, &lag, last_seen, now))
        .collect();
    for measured in measured_reasons(&merged, &lag) {
        if !reasons
            .iter()
            .any(|r| r.measure == measured.measure && r.measure != Measure::Other)
        {
            reasons.push(measured);
        }
    }
    // Stable: alerts keep their order within a level.
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    let has_data = merged.invocations > 0 || !lag.by_partition.is_empty();
    let level = match reasons.first() {
        Some(r) => r.level,
        None if has_data => Level::Healthy,
        None => Level::NoData,
    };
    let mut texts: Vec<String> = reasons.into_iter().map(|r| r.text).collect();
    if texts.is_empty() {
        if has_data {
            if let Some(rate) = merged.error_rate() {
                let noun = if merged.invocations == 1 {
                    "invocation"
                } else {
                    "invocations"
                };
                texts.push(format!(
                    "{} {noun}, error rate {} in the last {STATUS_MINUTES} min",
                    human::count(merged.invocations as f64),
                    human::percent(rate)
                ));
            }
        } else if last_seen > 0 {
            let idle = now.saturating_sub(last_seen) as f64 / 1e6;
            texts.push(format!("nothing received for {}", human::duration_ms(idle)));
        }
    }
    Status {
        level,
        reasons: texts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 100 * MINUTE + 30_000_000_000;

    fn minute(m: u64, f: impl FnOnce(&mut HealthRollup)) -> (u64, HealthRollup) {
        let mut r = HealthRollup::default();
        f(&mut r);
        (m * MINUTE, r)
    }

    fn invocations(r: &mut HealthRollup, n: u64, failed: u64) {
        for i in 0..n {
            r.add_invocation(10.0, i < failed, None, 1, 99 * MINUTE);
        }
    }

    fn alert(kind: &str, partition: Option<&str>, value: f64, threshold: f64) -> FiringAlert {
        FiringAlert {
            alertname: "A".into(),
            component: "c".into(),
            kind: kind.into(),
            partition: partition.map(Into::into),
            value: Some(value),
            op: Some(">".into()),
            threshold: Some(threshold),
            severity: None,
        }
    }

    #[test]
    fn the_window_is_the_last_five_minutes_with_the_open_one() {
        assert_eq!(window(NOW), (96 * MINUTE, 101 * MINUTE));
    }

    #[test]
    fn lag_is_read_now_not_at_the_windows_peak() {
        let recent: BTreeMap<_, _> = [
            minute(97, |r| {
                r.add_lag("age shard-0", LagUnit::Ms, 120_000.0, 97 * MINUTE)
            }),
            minute(99, |r| {
                r.add_lag("age shard-0", LagUnit::Ms, 20.0, 99 * MINUTE)
            }),
        ]
        .into_iter()
        .collect();
        let s = assess(&recent, 0, &[], NOW);
        assert_eq!(s.level, Level::Healthy, "{s:?}");

        let behind: BTreeMap<_, _> = [minute(99, |r| {
            r.add_lag("age shard-0", LagUnit::Ms, 120_000.0, 99 * MINUTE);
            r.add_lag("age shard-1", LagUnit::Ms, 5.0, 99 * MINUTE);
        })]
        .into_iter()
        .collect();
        let s = assess(&behind, 0, &[], NOW);
        assert_eq!(s.level, Level::Failing);
        assert_eq!(s.reasons, ["lag 2.0 min on shard-0"]);
    }

    #[test]
    fn a_firing_alert_decides_and_says_its_threshold() {
        let recent: BTreeMap<_, _> = [minute(99, |r| invocations(r, 100, 22))]
            .into_iter()
            .collect();
        let a = alert("error_rate", None, 0.22, 0.05);
        let s = assess(&recent, 0, &[&a], NOW);
        assert_eq!(s.level, Level::Failing);
        assert_eq!(
            s.reasons,
            ["error rate 22 % (threshold 5 %)"],
            "listed once"
        );

        let warning = FiringAlert {
            severity: Some("warning".into()),
            ..alert("error_rate", None, 0.04, 0.03)
        };
        let calm: BTreeMap<_, _> = [minute(99, |r| invocations(r, 100, 4))]
            .into_iter()
            .collect();
        assert_eq!(assess(&calm, 0, &[&warning], NOW).level, Level::Degraded);
    }

    #[test]
    fn a_lag_alert_reads_its_partitions_lag_in_its_unit() {
        let recent: BTreeMap<_, _> = [minute(99, |r| {
            r.add_lag("backlog p-3", LagUnit::Records, 12_345.0, 99 * MINUTE)
        })]
        .into_iter()
        .collect();
        let a = alert("lag", Some("p-3"), 12_345.0, 1000.0);
        let s = assess(&recent, 0, &[&a], NOW);
        assert_eq!(
            s.reasons,
            ["lag 12.3k records on p-3 (threshold 1000 records)"]
        );
    }

    #[test]
    fn a_stalled_component_says_for_how_long() {
        let a = FiringAlert {
            kind: "absent".into(),
            ..Default::default()
        };
        let s = assess(&BTreeMap::new(), NOW - 3 * MINUTE, &[&a], NOW);
        assert_eq!(s.level, Level::Stalled);
        assert_eq!(s.reasons, ["stalled 3.0 min"]);
    }

    #[test]
    fn without_alerts_or_data_it_says_what_it_saw() {
        let recent: BTreeMap<_, _> = [minute(99, |r| invocations(r, 100, 1))]
            .into_iter()
            .collect();
        let s = assess(&recent, 0, &[], NOW);
        assert_eq!(s.level, Level::Healthy);
        assert_eq!(
            s.reasons,
            ["100 invocations, error rate 1 % in the last 5 min"]
        );

        let failing: BTreeMap<_, _> = [minute(99, |r| invocations(r, 10, 3))]
            .into_iter()
            .collect();
        let s = assess(&failing, 0, &[], NOW);
        assert_eq!(s.level, Level::Failing);
        assert_eq!(s.summary(), "failing: error rate 30 % in the last 5 min");

        let s = assess(&BTreeMap::new(), NOW - 12 * MINUTE, &[], NOW);
        assert_eq!(s.level, Level::NoData);
        assert_eq!(s.reasons, ["nothing received for 12.0 min"]);
    }
}
