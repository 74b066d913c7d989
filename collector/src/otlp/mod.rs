//! OTLP payloads: the one place that knows the OpenTelemetry protocol's types.
//!
//! Requests are validated record by record ([`validate`]) before anything is
//! written, and converted into `weir_core` types ([`convert`]) after.

pub mod convert;
pub mod response;
pub mod validate;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Traces (spans).
    Traces,
    /// Logs.
    Logs,
    /// Metrics (data points).
    Metrics,
}

impl SignalKind {
    /// All signals, in a fixed order.
    pub const ALL: [SignalKind; 3] = [SignalKind::Traces, SignalKind::Logs, SignalKind::Metrics];

    /// Label value used in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Traces => "spans",
            SignalKind::Logs => "logs",
            SignalKind::Metrics => "metric_points",
        }
    }

    /// The byte tag stored in the write-ahead log.
    pub fn wal_tag(self) -> u8 {
        match self {
            SignalKind::Traces => 1,
            SignalKind::Logs => 2,
            SignalKind::Metrics => 3,
        }
    }

    /// Parses [`SignalKind::wal_tag`].
    pub fn from_wal_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(SignalKind::Traces),
            2 => Some(SignalKind::Logs),
            3 => Some(SignalKind::Metrics),
            _ => None,
        }
    }

    /// The store that holds this signal, as `/readyz` and `/metrics` name it.
    pub fn store_part(self) -> &'static str {
        match self {
            SignalKind::Traces => "spans",
            SignalKind::Logs => "logs",
            SignalKind::Metrics => "metrics",
        }
    }

    /// The rollups built from this signal, as `/readyz` and `/metrics` name them.
    pub fn rollups_part(self) -> &'static str {
        match self {
            SignalKind::Traces => "rollups.spans",
            SignalKind::Logs => "rollups.logs",
            SignalKind::Metrics => "rollups.metrics",
        }
    }

    /// Index into per-signal arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A decoded export request of any signal.
#[derive(Debug, Clone)]
pub enum ExportRequest {
    /// Traces.
    Traces(ExportTraceServiceRequest),
    /// Logs.
    Logs(ExportLogsServiceRequest),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
}

impl ExportRequest {
    /// Which signal.
    pub fn signal(&self) -> SignalKind {
        match self {
            ExportRequest::Traces(_) => SignalKind::Traces,
            ExportRequest::Logs(_) => SignalKind::Logs,
            ExportRequest::Metrics(_) => SignalKind::Metrics,
        }
    }

    /// Protobuf encoding, as stored in the write-ahead log.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ExportRequest::Traces(r) => r.encode_to_vec(),
            ExportRequest::Logs(r) => r.encode_to_vec(),
            ExportRequest::Metrics(r) => r.encode_to_vec(),
        }
    }

    /// Decodes protobuf bytes of `signal`.
    pub fn decode_protobuf(signal: SignalKind, bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        Ok(match signal {
            SignalKind::Traces => ExportRequest::Traces(ExportTraceServiceRequest::decode(bytes)?),
            SignalKind::Logs => ExportRequest::Logs(ExportLogsServiceRequest::decode(bytes)?),
            SignalKind::Metrics => {
                ExportRequest::Metrics(ExportMetricsServiceRequest::decode(bytes)?)
            }
        })
    }

    /// Decodes OTLP/JSON of `signal`.
    pub fn decode_json(signal: SignalKind, bytes: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match signal {
            SignalKind::Traces => ExportRequest::Traces(serde_json::from_slice(bytes)?),
            SignalKind::Logs => ExportRequest::Logs(serde_json::from_slice(bytes)?),
            SignalKind::Metrics => ExportRequest::Metrics(serde_json::from_slice(bytes)?),
        })
    }
}
