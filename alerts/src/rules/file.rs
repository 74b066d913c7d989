//! The YAML shape users write: one flat mapping per rule, read with every
//! error located at its line and key path, and the scalars it holds.

use crate::glob::Glob;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

// Why the file is read into a flat entry and not straight into the tagged
// `RuleKind` (`#[serde(tag = "kind")]`): serde buffers an internally tagged
// mapping before it knows the variant, so an error inside it loses its line
// and key path (`rules.yaml:4: rules: bad duration` instead of
// `rules.yaml:8: groups[0].rules[0].window: bad duration`) and an unknown
// key would list only that kind's keys. Every kind accepts every key, as
// before; each kind's module takes what it uses from the entry.

/// The rule kinds as written in `kind:`; the order is the one errors list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum KindName {
    Lag,
    ErrorRate,
    ColdStartRate,
    Metric,
    Absent,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct Rule")]
pub(super) struct RuleEntry {
    pub alert: String,
    /// Optional here so that a Prometheus rule (`expr:`, no `kind:`) gets
    /// a message about PromQL rather than "missing field".
    #[serde(default)]
    pub kind: Option<KindName>,
    /// A Prometheus rule's PromQL expression: read only to refuse it clearly.
    #[serde(default)]
    pub expr: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub component: Option<Glob>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    pub window: RuleDuration,
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub min_invocations: Option<u64>,
    #[serde(default, rename = "for")]
    pub for_: RuleDuration,
    #[serde(default)]
    pub keep_firing_for: RuleDuration,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// One group as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct RuleGroup")]
pub(super) struct GroupEntry {
    pub name: String,
    #[serde(default = "default_interval")]
    pub interval: RuleDuration,
    pub rules: Vec<RuleEntry>,
}

fn default_interval() -> RuleDuration {
    RuleDuration(Duration::from_secs(15))
}

/// A whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct RuleFile")]
pub(super) struct FileEntry {
    pub groups: Vec<GroupEntry>,
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

impl Aggregate {
    /// The word used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
            Aggregate::Rate => "rate",
            Aggregate::P50 => "p50",
            Aggregate::P95 => "p95",
            Aggregate::P99 => "p99",
        }
    }

    /// The series aggregation it stands for.
    pub fn series(self) -> weir_core::series::Aggregate {
        use weir_core::series::Aggregate as S;
        match self {
            Aggregate::Max => S::Max,
            Aggregate::Min => S::Min,
            Aggregate::Avg => S::Avg,
            Aggregate::Sum => S::Sum,
            Aggregate::Count => S::Count,
            Aggregate::Rate => S::Rate,
            Aggregate::P50 => S::Quantile(0.5),
            Aggregate::P95 => S::Quantile(0.95),
            Aggregate::P99 => S::Quantile(0.99),
        }
    }
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
    /// The operator as written in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

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

/// A duration written like `15s`, `5m`, `4h`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleDuration(pub Duration);

// Not humantime-serde: it parses the same syntax but refuses surrounding
// spaces, which rule files may have, and its error ("expected a duration")
// does not show the fix; this visitor keeps both, at the value's line.
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
