//! What a rule says, for people: its settings as `GET /api/v1/rules` lists
//! them, one line of words for the alerts page, and the unit its values
//! are in, so `0.2361` reads `24 %` and `94669.0185` reads `1.6 min`.

use super::{Rule, RuleKind};
use serde::Serialize;
use std::collections::BTreeMap;
use weir_core::human::{self, Unit};
use weir_core::pipeline::{LagUnit, lag_reading};

/// A rule's settings, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definition {
    /// Component glob; null for every component.
    pub component: Option<String>,
    /// The metric read (`lag` with a metric, `metric`).
    pub metric: Option<String>,
    /// How a metric's window is reduced.
    pub aggregate: Option<&'static str>,
    /// The window, seconds.
    pub window_s: f64,
    /// The comparison; null for `absent`.
    pub op: Option<&'static str>,
    /// What the value is compared with; null for `absent`.
    pub threshold: Option<f64>,
    /// `for`, seconds.
    pub for_s: f64,
    /// `keep_firing_for`, seconds.
    pub keep_firing_for_s: f64,
    /// The rule's own labels.
    pub labels: BTreeMap<String, String>,
    /// `ms`, `ratio`, `records` or `number`: what its values measure.
    pub unit: &'static str,
    /// The rule in words: `error rate of orders-* > 10 % over 5m, for 2m`.
    pub text: String,
}

fn seconds(d: std::time::Duration) -> String {
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

impl Rule {
    /// What its values (and threshold) measure.
    pub fn value_unit(&self) -> Unit {
        match &self.kind {
            RuleKind::ErrorRate(_) | RuleKind::ColdStartRate(_) => Unit::Ratio,
            // Lag from rollups compares time lag when a component has it;
            // a lag metric's unit is not known before its points arrive, so
            // its name decides, as `lag_reading` does without a unit.
            RuleKind::Lag(l) => match l.metric.as_deref() {
                None => Unit::Millis,
                Some(m) => match lag_reading(m, "", 1.0).0 {
                    LagUnit::Ms => Unit::Millis,
                    LagUnit::Records => Unit::Records,
                },
            },
            RuleKind::Metric(_) | RuleKind::Absent(_) => Unit::Plain,
        }
    }

    /// Its settings and its words.
    pub fn definition(&self) -> Definition {
        let threshold = self.kind.threshold();
        let (metric, aggregate) = match &self.kind {
            RuleKind::Lag(l) => (l.metric.clone(), l.metric.as_ref().map(|_| l.aggregate)),
            RuleKind::Metric(m) => (Some(m.metric.clone()), Some(m.aggregate)),
            _ => (None, None),
        };
        let unit = self.value_unit();
        let of = match &self.component {
            Some(g) => format!(" of {}", g.as_str()),
            None => " of every component".into(),
        };
        let measure = match &self.kind {
            RuleKind::Lag(_) => format!("lag{of}"),
            RuleKind::ErrorRate(_) => format!("error rate{of}"),
            RuleKind::ColdStartRate(_) => format!("cold-start rate{of}"),
            RuleKind::Metric(_) => format!(
                "{} of {}{of}",
                aggregate.map_or("max", |a| a.as_str()),
                metric.as_deref().unwrap_or("?")
            ),
            RuleKind::Absent(_) => format!("no invocations{of}"),
        };
        let window = seconds(self.window.0);
        let mut text = match threshold {
            Some(t) => format!(
                "{measure} {} {} over {window}",
                t.op.as_str(),
                human::value(t.value, unit)
            ),
            None => format!("{measure} for {window}"),
        };
        if !self.for_.0.is_zero() {
            text.push_str(&format!(", for {}", seconds(self.for_.0)));
        }
        if !self.keep_firing_for.0.is_zero() {
            text.push_str(&format!(
                ", keeps firing for {}",
                seconds(self.keep_firing_for.0)
            ));
        }
        Definition {
            component: self.component.as_ref().map(|g| g.as_str().to_string()),
            metric,
            aggregate: aggregate.map(|a| a.as_str()),
            window_s: self.window.0.as_secs_f64(),
            op: threshold.map(|t| t.op.as_str()),
            threshold: threshold.map(|t| t.value),
            for_s: self.for_.0.as_secs_f64(),
            keep_firing_for_s: self.keep_firing_for.0.as_secs_f64(),
            labels: self.labels.clone(),
            unit: match unit {
                Unit::Millis => "ms",
                Unit::Ratio => "ratio",
                Unit::Records => "records",
                Unit::Plain => "number",
            },
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::rule;

    #[test]
    fn a_rule_reads_in_words_with_its_unit() {
        let r = rule(
            "      - alert: ErrorsRising\n        kind: error_rate\n        component: orders-*\n        window: 5m\n        op: \">\"\n        threshold: 0.1\n        for: 2m\n        labels: {severity: page}\n",
        );
        let d = r.definition();
        assert_eq!(d.text, "error rate of orders-* > 10 % over 5m, for 2m");
        assert_eq!((d.op, d.threshold, d.unit), (Some(">"), Some(0.1), "ratio"));
        assert_eq!((d.window_s, d.for_s), (300.0, 120.0));
        assert_eq!(d.labels["severity"], "page");

        let lag = rule(
            "      - alert: Behind\n        kind: lag\n        window: 5m\n        op: \">=\"\n        threshold: 60000\n",
        );
        assert_eq!(
            lag.definition().text,
            "lag of every component >= 1.0 min over 5m"
        );
        let stalled = rule(
            "      - alert: Stalled\n        kind: absent\n        component: indexer\n        window: 30s\n",
        );
        let d = stalled.definition();
        assert_eq!(d.text, "no invocations of indexer for 30s");
        assert_eq!((d.op, d.threshold), (None, None));
        let metric = rule(
            "      - alert: GroupBehind\n        kind: metric\n        metric: kafka.consumer_group.lag\n        aggregate: max\n        window: 5m\n        op: \">\"\n        threshold: 1000\n",
        );
        assert_eq!(
            metric.definition().text,
            "max of kafka.consumer_group.lag of every component > 1000 over 5m"
        );
    }
}
