//! What a scenario decides to emit: spans, log records and gauge readings,
//! with times and causal references, but no I/O. The emitter turns a
//! [`Batch`] into OpenTelemetry SDK calls, in order, so a span's parent and
//! linked spans are always emitted before it.

use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::time::SystemTime;

/// Names a span within a run, so later spans can point at it.
pub type SpanKey = u64;

/// One span.
#[derive(Debug, Clone)]
pub struct SimSpan {
    /// Its name within the run.
    pub key: SpanKey,
    /// `service.name` of the component that emits it.
    pub component: &'static str,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start.
    pub start: SystemTime,
    /// End.
    pub end: SystemTime,
    /// The parent, emitted earlier.
    pub parent: Option<SpanKey>,
    /// Linked spans, emitted earlier (one per record of a batch).
    pub links: Vec<SpanKey>,
    /// Attributes, semantic-convention names.
    pub attributes: Vec<KeyValue>,
    /// Status ERROR with this message.
    pub error: Option<String>,
    /// An `exception` event: type and message.
    pub exception: Option<(String, String)>,
}

/// One log record.
#[derive(Debug, Clone)]
pub struct SimLog {
    /// `service.name` of the component that emits it.
    pub component: &'static str,
    /// When.
    pub time: SystemTime,
    /// Severity.
    pub severity: Severity,
    /// `event_name`, e.g. `exception`.
    pub event_name: Option<&'static str>,
    /// The message.
    pub body: String,
    /// Attributes (record ids, counts).
    pub attributes: Vec<KeyValue>,
    /// The span it was logged in, for trace context.
    pub span: Option<SpanKey>,
}

/// One gauge reading.
#[derive(Debug, Clone)]
pub struct SimGauge {
    /// `service.name` of the component that reports it.
    pub component: &'static str,
    /// Metric name.
    pub name: &'static str,
    /// Unit (`ms`, `{records}`).
    pub unit: &'static str,
    /// The reading.
    pub value: f64,
    /// Partition and destination attributes.
    pub attributes: Vec<KeyValue>,
}

/// Everything one step of a scenario emits.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Spans, parents and linked spans first.
    pub spans: Vec<SimSpan>,
    /// Log records.
    pub logs: Vec<SimLog>,
    /// Gauge readings.
    pub gauges: Vec<SimGauge>,
}

impl Batch {
    /// Appends another batch.
    pub fn extend(&mut self, other: Batch) {
        self.spans.extend(other.spans);
        self.logs.extend(other.logs);
        self.gauges.extend(other.gauges);
    }
}

/// A builder for spans with sensible defaults.
pub struct SpanPlan(SimSpan);

impl SpanPlan {
    /// A span of `component` named `name`.
    pub fn new(
        key: SpanKey,
        component: &'static str,
        name: impl Into<String>,
        kind: SpanKind,
        start: SystemTime,
        end: SystemTime,
    ) -> Self {
        SpanPlan(SimSpan {
            key,
            component,
            name: name.into(),
            kind,
            start,
            end,
            parent: None,
            links: Vec::new(),
            attributes: Vec::new(),
            error: None,
            exception: None,
        })
    }

    /// Its key.
    pub fn key(&self) -> SpanKey {
        self.0.key
    }

    /// Sets the parent.
    pub fn parent(mut self, parent: SpanKey) -> Self {
        self.0.parent = Some(parent);
        self
    }

    /// Adds links.
    pub fn links(mut self, links: Vec<SpanKey>) -> Self {
        self.0.links = links;
        self
    }

    /// Adds an attribute.
    pub fn attr(mut self, kv: KeyValue) -> Self {
        self.0.attributes.push(kv);
        self
    }

    /// Marks it failed, with an exception event.
    pub fn failed(mut self, exception_type: &str, message: &str) -> Self {
        self.0.error = Some(message.to_string());
        self.0.exception = Some((exception_type.to_string(), message.to_string()));
        self
    }

    /// The span.
    pub fn build(self) -> SimSpan {
        self.0
    }
}
