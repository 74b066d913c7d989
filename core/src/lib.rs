//! The domain model of weir: what a pipeline's telemetry *means*, with no I/O.
//!
//! This crate owns the plain types every other crate speaks — [`Span`],
//! [`LogRecord`], [`MetricPoint`], [`Resource`], trace and span ids, attribute
//! values — and the pipeline semantics that follow from them: which component
//! a resource belongs to ([`component_name`]), what counts as an invocation,
//! an error, a cold start or a lag reading ([`pipeline`]), the pipeline's
//! nodes and edges ([`topology`]), mergeable per-minute rollups ([`rollup`])
//! and the accumulator that turns records into rollup deltas at ingest
//! ([`accumulator`]). The one wall clock is [`now_unix_nanos`]; everything
//! else takes `now` as a parameter. Feature `test-fixtures` adds record
//! builders for tests (`fixtures`).
//!
//! It knows nothing of OTLP, SQL, tantivy or HTTP: the collector converts wire
//! formats into these types at its edge, the store persists them, and the query
//! side reads them back. Everything here is pure and unit-tested.

pub mod accumulator;
mod attributes;
mod component;
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
pub mod human;
mod ids;
mod log;
mod metric;
pub mod pipeline;
pub mod rollup;
pub mod series;
mod span;
pub mod status;
mod time;
pub mod topology;

pub use attributes::{AttrValue, Attributes};
pub use component::{UNKNOWN_SERVICE, component_name};
pub use ids::{HexId, IdError, SpanId, TraceId};
pub use log::{LogRecord, Severity};
pub use metric::{
    BucketCounts, ExponentialHistogram, Histogram, MetricKind, MetricPoint, MetricValue,
    SummaryQuantile, Temporality,
};
pub use rollup::{DurationSketch, EdgeRollup, HealthRollup};
pub use span::{Span, SpanEvent, SpanKind, SpanLink, StatusCode};
pub use time::{
    TimeError, UnixNanos, is_plausible_timestamp, now_unix_nanos, parse_duration, parse_time,
    parse_time_at,
};
pub use topology::{Edge, NodeKind};

/// The resource attributes of the entity that produced telemetry, shared by
/// every record of one export rather than copied into each.
pub type Resource = std::sync::Arc<Attributes>;
