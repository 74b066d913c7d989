//! Rule files: YAML in the shape of Prometheus rule groups, parsed and
//! checked with errors that name the file and line.

use crate::glob::Glob;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// The rule kinds, closed: adding one touches this enum and its evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Consumer lag from the lag metrics.
    Lag,
    /// Errors per invocation.
    ErrorRate,
    /// Cold starts per invocation.
    ColdStartRate,
    /// Any metric, any aggregate.
    Metric,
    /// No invocations for the window: a stalled consumer.
    Absent,
}

impl RuleKind {
    /// The word used in rule files and the `kind` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Lag => "lag",
            RuleKind::ErrorRate => "error_rate",
            RuleKind::ColdStartRate => "cold_start_rate",
            RuleKind::Metric => "metric",
            RuleKind::Absent => "absent",
        }
    }
}

/// How a window's values are reduced to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// Largest.
    Max,
    /// Smallest.
    Min,
    /// Mean.
    Avg,
    /// Sum.
    Sum,
    /// Number of points.
    Count,
    /// Per-second increase.
    Rate,
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

/// The comparison of the aggregated value with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }
}

/// Parses a scalar inside the deserializer's own visit, so that an error is
/// located at the value's line rather than its mapping's.
struct ScalarVisitor<T>(fn(&str) -> Result<T, String>);

impl<T> de::Visitor<'_> for ScalarVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ScalarVisitor(|text| {
            Ok(match text {
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                "==" => Op::Eq,
                "!=" => Op::Ne,
                other => {
                    return Err(format!(
                        "unknown op `{other}` (expected >, >=, <, <=, ==, !=)"
                    ));
                }
            })
        }))
    }
}

/// A duration written like `15s`, `5m`, `4h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleDuration(pub Duration);

impl<'de> Deserialize<'de> for RuleDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ScalarVisitor(|text| {
            humantime::parse_duration(text.trim())
                .map(RuleDuration)
                .map_err(|_| {
                    format!("bad duration `{text}` (use a number with a unit, like 30s, 5m, 1h)")
                })
        }))
    }
}

/// One alerting rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The alert's name (`alertname`).
    pub alert: String,
    /// What it watches.
    pub kind: RuleKind,
    /// Component glob; none means every component, one alert each.
    #[serde(default)]
    pub component: Option<Glob>,
    /// The metric, for `lag` (default: the lag metrics) and `metric`.
    #[serde(default)]
    pub metric: Option<String>,
    /// How the window is reduced.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// How far back each evaluation looks.
    pub window: RuleDuration,
    /// The comparison; `absent` needs none.
    #[serde(default)]
    pub op: Option<Op>,
    /// The threshold; `absent` needs none.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Rate kinds give no verdict on fewer invocations than this.
    #[serde(default)]
    pub min_invocations: Option<u64>,
    /// How long the condition must hold before firing.
    #[serde(default, rename = "for")]
    pub for_: RuleDuration,
    /// How long a resolved condition keeps firing.
    #[serde(default)]
    pub keep_firing_for: RuleDuration,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A group of rules evaluated together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval.
    #[serde(default = "default_interval")]
    pub interval: RuleDuration,
    /// The rules.
    pub rules: Vec<Rule>,
}

fn default_interval() -> RuleDuration {
    RuleDuration(Duration::from_secs(15))
}

/// A whole rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Its groups.
    pub groups: Vec<RuleGroup>,
}

/// A problem in a rule file, located by line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    /// The file, as named by the caller.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// The line where `alert: <name>` is written, for errors about a whole rule.
fn rule_line(text: &str, alert: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim();
            l.strip_prefix("alert:")
                .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == alert)
        })
        .map_or(1, |i| i + 1)
}

/// Parses and checks a rule file. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, Vec<RuleError>> {
    let parsed: RuleFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        // serde_yaml_ng appends " at line N column M"; the prefix says it already.
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        vec![RuleError {
            file: file.to_string(),
            line,
            message,
        }]
    })?;
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for group in &parsed.groups {
        for rule in &group.rules {
            let line = rule_line(text, &rule.alert);
            let mut problem = |message: String| {
                errors.push(RuleError {
                    file: file.to_string(),
                    line,
                    message,
                })
            };
            if rule.alert.trim().is_empty() {
                problem("a rule needs a non-empty `alert` name".into());
            }
            if !seen.insert((group.name.clone(), rule.alert.clone())) {
                problem(format!(
                    "alert `{}` appears twice in group `{}`",
                    rule.alert, group.name
                ));
            }
            if rule.kind == RuleKind::Metric && rule.metric.is_none() {
                problem(format!(
                    "rule `{}`: kind metric needs `metric: <metric name>`",
                    rule.alert
                ));
            }
            if rule.kind != RuleKind::Absent && (rule.op.is_none() || rule.threshold.is_none()) {
                problem(format!("rule `{}`: needs `op` and `threshold`", rule.alert));
            }
            if matches!(rule.kind, RuleKind::ErrorRate | RuleKind::ColdStartRate)
                && rule.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t))
            {
                problem(format!(
                    "rule `{}`: rates are ratios in [0, 1]; write 0.05 for 5 %",
                    rule.alert
                ));
            }
            if rule.window.0.is_zero() {
                problem(format!(
                    "rule `{}`: window must be longer than zero",
                    rule.alert
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"groups:
  - name: clickstream
    interval: 15s
    rules:
      - alert: ConsumerLagging
        kind: lag
        component: page-view-*
        metric: pipeline.iterator_age
        aggregate: max
        window: 5m
        op: ">"
        threshold: 60000
        for: 2m
        labels: {severity: page}
        annotations:
          summary: "{{ component }} is {{ value }} behind"
      - alert: Stalled
        kind: absent
        window: 10m
"#;

    #[test]
    fn the_contract_example_parses() {
        let file = parse(GOOD, "rules.yaml").unwrap();
        let rule = &file.groups[0].rules[0];
        assert_eq!(rule.kind, RuleKind::Lag);
        assert_eq!(rule.op, Some(Op::Gt));
        assert_eq!(rule.for_.0, Duration::from_secs(120));
        assert_eq!(rule.labels["severity"], "page");
        assert_eq!(file.groups[0].interval.0, Duration::from_secs(15));
        assert_eq!(file.groups[0].rules[1].kind, RuleKind::Absent);
    }

    fn first_error(text: &str) -> RuleError {
        parse(text, "rules.yaml").unwrap_err().remove(0)
    }

    #[test]
    fn unknown_kind_is_reported_at_its_line() {
        let e = first_error(&GOOD.replace("kind: lag", "kind: lagg"));
        assert_eq!(e.line, 6);
        assert!(
            e.message.contains("lagg") && e.message.contains("error_rate"),
            "{e}"
        );
        assert!(e.to_string().starts_with("rules.yaml:6: "), "{e}");
    }

    #[test]
    fn bad_duration_and_bad_op_are_reported_at_their_lines() {
        let e = first_error(&GOOD.replace("window: 5m", "window: fivemin"));
        assert_eq!(e.line, 10);
        assert!(e.message.contains("bad duration `fivemin`"), "{e}");
        let e = first_error(&GOOD.replace("op: \">\"", "op: \"=>\""));
        assert_eq!(e.line, 11);
        assert!(e.message.contains("unknown op `=>`"), "{e}");
    }

    #[test]
    fn a_metric_rule_without_a_metric_is_reported_at_the_rule() {
        let text = GOOD
            .replace("kind: lag", "kind: metric")
            .replace("        metric: pipeline.iterator_age\n", "");
        let e = first_error(&text);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("needs `metric"), "{e}");
    }

    #[test]
    fn rates_outside_zero_to_one_and_unknown_keys_are_refused() {
        let text = GOOD.replace("kind: lag", "kind: error_rate");
        let e = first_error(&text);
        assert!(e.message.contains("ratios in [0, 1]"), "{e}");
        let e = first_error(&GOOD.replace("for: 2m", "fore: 2m"));
        assert_eq!(e.line, 13);
        assert!(e.message.contains("fore"), "{e}");
    }

    #[test]
    fn ops_compare() {
        assert!(Op::Gt.holds(2.0, 1.0) && !Op::Gt.holds(1.0, 1.0));
        assert!(Op::Ge.holds(1.0, 1.0) && Op::Ne.holds(1.0, 2.0) && Op::Le.holds(1.0, 1.0));
    }
}
