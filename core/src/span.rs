//! Spans: one unit of work in a trace.

use crate::{Attributes, Resource, SpanId, TraceId};
use serde::{Deserialize, Serialize};

/// What role a span plays, as OpenTelemetry defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    /// Not specified by the producer.
    #[default]
    Unspecified,
    /// An internal operation.
    Internal,
    /// Handles a synchronous request.
    Server,
    /// Makes a synchronous request.
    Client,
    /// Sends a message to a broker.
    Producer,
    /// Receives messages from a broker.
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum number; unknown numbers are unspecified.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The word users type in queries (`kind:server`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StatusCode {
    /// Not set by the producer.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error,
}

impl StatusCode {
    /// From the OTLP enum number; unknown numbers are unset.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// The word users type in queries (`status:error`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

/// A timestamped event inside a span, such as an `exception`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// Event time, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Event name.
    pub name: String,
    /// Event attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// A link from a span to another span, often in another trace (a batch
/// consumer links to each record's producer span).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// Link attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// One span, with its component already resolved from the resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The parent span, absent for a root span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
    /// The component (service) that produced the span.
    pub service: String,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Status code.
    pub status: StatusCode,
    /// Status message, empty when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_message: String,
    /// Span attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Resource attributes of the producer.
    #[serde(default)]
    pub resource: Resource,
    /// Instrumentation scope name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Events, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
    /// Links to other spans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SpanLink>,
}

impl Span {
    /// Duration in nanoseconds; zero when the end precedes the start.
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// Duration in milliseconds, the unit users query by (`duration_ms:>100`).
    pub fn duration_ms(&self) -> f64 {
        self.duration_nanos() as f64 / 1e6
    }
}
