//! Log records.

use crate::{AttrValue, Attributes, Resource, SpanId, TraceId};
use serde::{Deserialize, Serialize};

/// Severity, by the OpenTelemetry severity-number ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No severity given.
    #[default]
    Unspecified,
    /// 1–4.
    Trace,
    /// 5–8.
    Debug,
    /// 9–12.
    Info,
    /// 13–16.
    Warn,
    /// 17–20.
    Error,
    /// 21–24.
    Fatal,
}

impl Severity {
    /// From an OTLP severity number, falling back to the severity text when the
    /// number is unset (some SDKs send only "Information" or "ERROR").
    pub fn from_otlp(number: i32, text: &str) -> Self {
        match number {
            1..=4 => Severity::Trace,
            5..=8 => Severity::Debug,
            9..=12 => Severity::Info,
            13..=16 => Severity::Warn,
            17..=20 => Severity::Error,
            21..=24 => Severity::Fatal,
            _ => Self::from_text(text),
        }
    }

    fn from_text(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            t if t.starts_with("trace") => Severity::Trace,
            t if t.starts_with("debug") => Severity::Debug,
            t if t.starts_with("info") => Severity::Info,
            t if t.starts_with("warn") => Severity::Warn,
            t if t.starts_with("err") => Severity::Error,
            t if t.starts_with("fatal") || t.starts_with("crit") => Severity::Fatal,
            _ => Severity::Unspecified,
        }
    }

    /// The word users type in queries (`severity:error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unspecified => "unspecified",
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        }
    }
}

/// One structured log record, with its component resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When the event happened (or, if the producer did not say, when it was
    /// observed), Unix nanoseconds.
    pub time_unix_nano: u64,
    /// When the SDK observed it, Unix nanoseconds; zero if not sent.
    #[serde(default)]
    pub observed_time_unix_nano: u64,
    /// Severity bucket.
    pub severity: Severity,
    /// The original severity number.
    #[serde(default)]
    pub severity_number: i32,
    /// The original severity text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity_text: String,
    /// The body.
    #[serde(default)]
    pub body: AttrValue,
    /// The event name (`exception`, `faas.invocation.exception`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_name: String,
    /// The component that produced the record.
    pub service: String,
    /// The trace this record belongs to, when it carries valid trace context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// The span this record belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
    /// Record attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Resource attributes of the producer.
    #[serde(default)]
    pub resource: Resource,
    /// Instrumentation scope name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_number_then_text() {
        assert_eq!(Severity::from_otlp(17, ""), Severity::Error);
        assert_eq!(Severity::from_otlp(0, "Information"), Severity::Info);
        assert_eq!(Severity::from_otlp(0, "WARNING"), Severity::Warn);
        assert_eq!(Severity::from_otlp(0, ""), Severity::Unspecified);
    }
}
