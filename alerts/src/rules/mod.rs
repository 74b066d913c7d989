//! Rule files: YAML in the shape of Prometheus rule groups, parsed and
//! checked with errors that name the file and line, into rules of a closed
//! set of kinds, one module each.
//!
//! A kind's module holds its checks and its evaluation; adding a kind is one
//! new module, its [`RuleKind`] variant, and one arm in each of the two
//! matches below (`RuleKind::parse`, [`RuleKind::as_kind`]).

mod absent;
mod cold_start_rate;
mod definition;
mod error_rate;
mod file;
mod lag;
mod metric;
mod rate;
pub mod window;

pub use absent::Absent;
pub use cold_start_rate::ColdStartRate;
pub use definition::Definition;
pub use error_rate::ErrorRate;
pub use file::{Aggregate, Op, RuleDuration};
pub use lag::Lag;
pub use metric::Metric;
pub use rate::Rate;

use crate::glob::Glob;
use file::{FileEntry, KindName, RuleEntry};
use std::collections::BTreeMap;
use window::{Reads, Verdicts, Window};

/// What every rule kind provides.
pub trait Kind {
    /// The word used in rule files and the `kind` label.
    fn name(&self) -> &'static str;
    /// What it reads each evaluation.
    fn reads(&self) -> Reads<'_>;
    /// Its verdicts over the window it asked for, one per component (and
    /// partition) that `select` admits; a window of the other sort gives
    /// none.
    fn evaluate<'a>(&'a self, select: Option<&'a Glob>, window: Window<'a>) -> Verdicts<'a>;
}

/// The rule kinds, closed.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// Consumer lag from the lag metrics.
    Lag(Lag),
    /// Errors per invocation.
    ErrorRate(ErrorRate),
    /// Cold starts per invocation.
    ColdStartRate(ColdStartRate),
    /// Any metric, any aggregate.
    Metric(Metric),
    /// No invocations for the window: a stalled consumer.
    Absent(Absent),
}

impl RuleKind {
    /// The kind's checks; `None` when it reported problems.
    fn parse(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        if entry.expr.is_some() {
            problems.push(format!(
                "rule `{}`: PromQL expressions (`expr:`) are not supported; use kind: metric with metric:, aggregate:, op: and threshold:",
                entry.alert
            ));
            return None;
        }
        let Some(kind) = entry.kind else {
            problems.push(format!(
                "rule `{}` needs `kind:` (lag, error_rate, cold_start_rate, metric or absent)",
                entry.alert
            ));
            return None;
        };
        Some(match kind {
            KindName::Lag => RuleKind::Lag(Lag::parse(entry, problems)?),
            KindName::ErrorRate => RuleKind::ErrorRate(ErrorRate::parse(entry, problems)?),
            KindName::ColdStartRate => {
                RuleKind::ColdStartRate(ColdStartRate::parse(entry, problems)?)
            }
            KindName::Metric => RuleKind::Metric(Metric::parse(entry, problems)?),
            KindName::Absent => RuleKind::Absent(Absent::parse(entry, problems)?),
        })
    }

    /// The kind behind the variant.
    pub fn as_kind(&self) -> &dyn Kind {
        match self {
            RuleKind::Lag(k) => k,
            RuleKind::ErrorRate(k) => k,
            RuleKind::ColdStartRate(k) => k,
            RuleKind::Metric(k) => k,
            RuleKind::Absent(k) => k,
        }
    }

    /// The word used in rule files and the `kind` label.
    pub fn as_str(&self) -> &'static str {
        self.as_kind().name()
    }

    /// The comparison its alerts fire on; `absent` has none.
    pub fn threshold(&self) -> Option<Threshold> {
        match self {
            RuleKind::Lag(k) => Some(k.threshold),
            RuleKind::ErrorRate(k) => Some(k.0.threshold),
            RuleKind::ColdStartRate(k) => Some(k.0.threshold),
            RuleKind::Metric(k) => Some(k.threshold),
            RuleKind::Absent(_) => None,
        }
    }
}

/// `op` and `threshold`, which every kind but `absent` needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The comparison.
    pub op: Op,
    /// What the value is compared with.
    pub value: f64,
}

impl Threshold {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }

    /// The verdict on one component's (or partition's) value; no value
    /// gives no verdict.
    pub fn judge<'a>(
        self,
        component: &'a str,
        partition: Option<&'a str>,
        value: Option<f64>,
    ) -> window::Verdict<'a> {
        window::Verdict {
            component,
            partition,
            value,
            holds: value.map(|v| self.holds(v)),
            observed_at: None,
        }
    }

    fn required(entry: &RuleEntry, problems: &mut Vec<String>) -> Option<Self> {
        match (entry.op, entry.threshold) {
            (Some(op), Some(value)) => Some(Threshold { op, value }),
            _ => {
                problems.push(format!(
                    "rule `{}`: needs `op` and `threshold`",
                    entry.alert
                ));
                None
            }
        }
    }
}

/// One alerting rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The alert's name (`alertname`).
    pub alert: String,
    /// What it watches, and how.
    pub kind: RuleKind,
    /// Component glob; none means every component, one alert each.
    pub component: Option<Glob>,
    /// How far back each evaluation looks.
    pub window: RuleDuration,
    /// How long the condition must hold before firing.
    pub for_: RuleDuration,
    /// How long a resolved condition keeps firing.
    pub keep_firing_for: RuleDuration,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates).
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// What it reads each evaluation.
    pub fn reads(&self) -> Reads<'_> {
        self.kind.as_kind().reads()
    }

    /// Its verdicts over the window it asked for.
    pub fn evaluate<'a>(&'a self, window: Window<'a>) -> Verdicts<'a> {
        self.kind
            .as_kind()
            .evaluate(self.component.as_ref(), window)
    }
}

/// A group of rules evaluated together.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval.
    pub interval: RuleDuration,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A whole rule file.
#[derive(Debug, Clone)]
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

/// The shape errors of the rules after the first one the parser stopped
/// at, so a file's every broken rule is reported at once. Each rule is read
/// on its own from the parsed YAML, which keeps no positions: its errors
/// are placed at its `alert:` line.
fn other_shape_errors(text: &str, file: &str, first: &str) -> Vec<RuleError> {
    let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return Vec::new();
    };
    let Some(groups) = value.get("groups").and_then(|g| g.as_sequence()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let Some(rules) = group.get("rules").and_then(|r| r.as_sequence()) else {
            continue;
        };
        for (r, rule) in rules.iter().enumerate() {
            let path = format!("groups[{g}].rules[{r}]");
            if first.starts_with(&path) {
                continue;
            }
            if let Err(e) = <RuleEntry as serde::Deserialize>::deserialize(rule.clone()) {
                let alert = rule
                    .get("alert")
                    .and_then(|a| a.as_str())
                    .unwrap_or_default();
                out.push(RuleError {
                    file: file.to_string(),
                    line: rule_line(text, alert),
                    message: format!("{path}: {e}"),
                });
            }
        }
    }
    out
}

/// Parses and checks a rule file. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, Vec<RuleError>> {
    let parsed: FileEntry = serde_yaml_ng::from_str(text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        // serde_yaml_ng appends " at line N column M"; the prefix says it already.
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        let others = other_shape_errors(text, file, &message);
        let mut errors = vec![RuleError {
            file: file.to_string(),
            line,
            message,
        }];
        errors.extend(others);
        errors
    })?;
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut groups = Vec::with_capacity(parsed.groups.len());
    for group in parsed.groups {
        let mut rules = Vec::with_capacity(group.rules.len());
        for entry in group.rules {
            let mut problems = Vec::new();
            if entry.alert.trim().is_empty() {
                problems.push("a rule needs a non-empty `alert` name".into());
            }
            if !seen.insert((group.name.clone(), entry.alert.clone())) {
                problems.push(format!(
                    "alert `{}` appears twice in group `{}`",
                    entry.alert, group.name
                ));
            }
            let kind = RuleKind::parse(&entry, &mut problems);
            if entry.window.0.is_zero() {
                problems.push(format!(
                    "rule `{}`: window must be longer than zero",
                    entry.alert
                ));
            }
            let line = rule_line(text, &entry.alert);
            errors.extend(problems.into_iter().map(|message| RuleError {
                file: file.to_string(),
                line,
                message,
            }));
            if let Some(kind) = kind {
                rules.push(Rule {
                    alert: entry.alert,
                    kind,
                    component: entry.component,
                    window: entry.window,
                    for_: entry.for_,
                    keep_firing_for: entry.keep_firing_for,
                    labels: entry.labels,
                    annotations: entry.annotations,
                });
            }
        }
        groups.push(RuleGroup {
            name: group.name,
            interval: group.interval,
            rules,
        });
    }
    if errors.is_empty() {
        Ok(RuleFile { groups })
    } else {
        Err(errors)
    }
}

/// Helpers for the kinds' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Rule, parse};
    use weir_core::HealthRollup;
    use weir_core::pipeline::LagUnit;

    /// The one rule of a group holding `yaml_rule` (indented as a list item).
    pub fn rule(yaml_rule: &str) -> Rule {
        let text = format!("groups:\n  - name: g\n    rules:\n{yaml_rule}");
        parse(&text, "t.yaml")
            .unwrap()
            .groups
            .remove(0)
            .rules
            .remove(0)
    }

    /// A rollup of `invocations`, the first `errors` of them failed, and a
    /// time-lag reading.
    pub fn rollup(invocations: u64, errors: u64, lag_ms: Option<f64>) -> HealthRollup {
        let mut r = HealthRollup::default();
        for i in 0..invocations {
            r.add_invocation(1.0, i < errors, None, 0, 1);
        }
        if let Some(l) = lag_ms {
            r.add_lag("age all", LagUnit::Ms, l, 1);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert_eq!(
            rule.kind,
            RuleKind::Lag(Lag {
                metric: Some("pipeline.iterator_age".into()),
                aggregate: Aggregate::Max,
                threshold: Threshold {
                    op: Op::Gt,
                    value: 60000.0
                },
            })
        );
        assert_eq!(rule.reads(), Reads::Points("pipeline.iterator_age"));
        assert_eq!(rule.for_.0, Duration::from_secs(120));
        assert_eq!(rule.labels["severity"], "page");
        assert_eq!(file.groups[0].interval.0, Duration::from_secs(15));
        assert_eq!(file.groups[0].rules[1].kind, RuleKind::Absent(Absent));
        assert_eq!(file.groups[0].rules[1].kind.as_str(), "absent");
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
