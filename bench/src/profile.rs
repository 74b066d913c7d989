//! The span loads the benchmark can send, and how to find a sent trace or
//! record again for the lookups.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use weir_collector::fixtures::{fleet, realistic};

/// Which spans the gRPC and JSON phases send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Today's fleet: sequential ids, 15 attributes (see bench/README.md).
    Default,
    /// As SDKs send them: random trace and span ids, a unique invocation id
    /// per root and two unique correlation values per span.
    Realistic,
}

impl Profile {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Realistic => "realistic",
        }
    }

    /// A component the load has many invocations of, for its dashboard page.
    pub fn component(self) -> &'static str {
        match self {
            Profile::Default => "page-view-counter",
            Profile::Realistic => "clickstream-consumer",
        }
    }

    /// The `n` spans a client sends at record offset `offset`.
    pub fn spans(self, client: u64, offset: u64, n: usize) -> ExportTraceServiceRequest {
        let mut cursor = offset;
        match self {
            Profile::Default => fleet::spans(client, &mut cursor, n),
            Profile::Realistic => realistic::spans(client, &mut cursor, n),
        }
    }

    /// The id of the `j`-th trace of the batch a client sent at `offset`.
    pub fn trace_id(self, client: u64, offset: u64, j: u64) -> [u8; 16] {
        match self {
            Profile::Default => fleet::trace_id(client, offset + 1 + j),
            Profile::Realistic => realistic::trace_id(client, offset + j),
        }
    }

    /// The record key on span `k` of the batch a client sent at `offset`.
    pub fn record_key(self, client: u64, offset: u64, k: u64) -> String {
        match self {
            Profile::Default => format!("rec-{client}-{}-{k}", offset + 1 + k / 4),
            Profile::Realistic => realistic::record_id(client, offset + k / 4, k % 4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(request: &ExportTraceServiceRequest, k: usize, key: &str) -> String {
        let span = &request.resource_spans[0].scope_spans[0].spans[k];
        let kv = span.attributes.iter().find(|a| a.key == key).unwrap();
        match kv.value.as_ref().unwrap().value.as_ref().unwrap() {
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => s.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sent_traces_and_records_are_found_again() {
        for (profile, record_attribute) in [
            (Profile::Default, "record.key"),
            (Profile::Realistic, "record.id"),
        ] {
            let request = profile.spans(2, 3000, 1000);
            let spans = &request.resource_spans[0].scope_spans[0].spans;
            for k in [0usize, 1, 4, 517, 999] {
                assert_eq!(
                    spans[k].trace_id,
                    profile.trace_id(2, 3000, k as u64 / 4),
                    "{profile:?} span {k}"
                );
                assert_eq!(
                    attribute(&request, k, record_attribute),
                    profile.record_key(2, 3000, k as u64),
                    "{profile:?} span {k}"
                );
            }
        }
    }
}
