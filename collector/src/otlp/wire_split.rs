//! An export of spans split by partition as it arrived on the wire: the
//! parts are cut from the sender's protobuf bytes, never decoded into
//! structs or encoded again.
//!
//! Encoding every part again took about a tenth of a cluster node's CPU.
//! The parts decode to exactly what [`super::partition::split`] makes of
//! the decoded export: each resource and scope is copied, as it was sent,
//! into every part that gets one of its spans; spans keep their order.
//!
//! Kept here rather than taken from a crate: no crate splits a protobuf
//! by a nested field's value. It reads the wire format with prost's own
//! key and varint functions.

use super::partition::{Partition, of_trace};
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use prost::encoding::{encoded_len_varint, key_len};
use std::collections::BTreeMap;

/// `ExportTraceServiceRequest.resource_spans`, `ResourceSpans.scope_spans`,
/// `ScopeSpans.spans`: field 2 of the two inner messages, 1 of the outer.
const RESOURCE_SPANS: u32 = 1;
const SCOPE_SPANS: u32 = 2;
const SPANS: u32 = 2;
/// `Span.trace_id`.
const TRACE_ID: u32 = 1;

/// The bytes were not protobuf the receiver could have decoded.
#[derive(Debug, thiserror::Error)]
#[error("the export's protobuf is malformed: {0}")]
pub struct WireError(String);

/// One field as it sits in a message.
struct Field<'a> {
    number: u32,
    /// Key, length and value: what is copied.
    whole: &'a [u8],
    /// The value of a length-delimited field (empty for other types).
    value: &'a [u8],
}

/// The fields of one message, in order.
fn fields(message: &[u8]) -> impl Iterator<Item = Result<Field<'_>, WireError>> {
    let mut rest = message;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(next_field(&mut rest))
    })
}

fn next_field<'a>(rest: &mut &'a [u8]) -> Result<Field<'a>, WireError> {
    let start = *rest;
    let bad = |e: prost::DecodeError| WireError(e.to_string());
    let (number, wire_type) = decode_key(rest).map_err(bad)?;
    let mut value: &[u8] = &[];
    let skip = match wire_type {
        WireType::Varint => {
            decode_varint(rest).map_err(bad)?;
            0
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => {
            let len = decode_varint(rest).map_err(bad)?;
            let len = usize::try_from(len).map_err(|_| WireError("a length overflows".into()))?;
            value = rest
                .get(..len)
                .ok_or_else(|| WireError("a field runs past its message".into()))?;
            len
        }
        WireType::StartGroup | WireType::EndGroup => {
            return Err(WireError("groups are not used by OTLP".into()));
        }
    };
    if rest.len() < skip {
        return Err(WireError("a field runs past its message".into()));
    }
    *rest = &rest[skip..];
    let used = start.len() - rest.len();
    Ok(Field {
        number,
        whole: &start[..used],
        value,
    })
}

/// One scope's share of a part: its other fields, then the spans.
struct ScopeShare<'a> {
    header: Vec<&'a [u8]>,
    spans: Vec<&'a [u8]>,
}

impl ScopeShare<'_> {
    fn len(&self) -> usize {
        self.header.iter().chain(&self.spans).map(|f| f.len()).sum()
    }
}

/// One resource's share of a part.
struct ResourceShare<'a> {
    header: Vec<&'a [u8]>,
    scopes: Vec<ScopeShare<'a>>,
}

impl ResourceShare<'_> {
    fn len(&self) -> usize {
        let header: usize = self.header.iter().map(|f| f.len()).sum();
        let scopes: usize = self
            .scopes
            .iter()
            .map(|s| nested_len(SCOPE_SPANS, s.len()))
            .sum();
        header + scopes
    }
}

/// Bytes of a length-delimited field `number` holding `len` bytes.
fn nested_len(number: u32, len: usize) -> usize {
    key_len(number) + encoded_len_varint(len as u64) + len
}

fn put_nested_header(out: &mut Vec<u8>, number: u32, len: usize) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// The partition of one encoded span, by its trace id (the last one, as a
/// decoder keeps the last of a repeated scalar field).
fn partition_of_span(span: &[u8], partitions: u32) -> Result<Partition, WireError> {
    let mut trace_id: &[u8] = &[];
    for field in fields(span) {
        let field = field?;
        if field.number == TRACE_ID {
            trace_id = field.value;
        }
    }
    Ok(of_trace(trace_id, partitions))
}

/// Splits an encoded `ExportTraceServiceRequest` into one encoded request
/// per partition, in partition order.
pub fn split_traces(sent: &[u8], partitions: u32) -> Result<Vec<(Partition, Vec<u8>)>, WireError> {
    let mut parts: BTreeMap<Partition, Vec<u8>> = BTreeMap::new();
    for resource in fields(sent) {
        let resource = resource?;
        // Unknown top-level fields are dropped, as a decoder drops them.
        if resource.number != RESOURCE_SPANS {
            continue;
        }
        let mut shares: BTreeMap<Partition, ResourceShare<'_>> = BTreeMap::new();
        let mut resource_header = Vec::new();
        let mut scopes = Vec::new();
        for field in fields(resource.value) {
            let field = field?;
            if field.number == SCOPE_SPANS {
                scopes.push(field.value);
            } else {
                resource_header.push(field.whole);
            }
        }
        for scope in scopes {
            let mut scope_header = Vec::new();
            let mut by_partition: BTreeMap<Partition, Vec<&[u8]>> = BTreeMap::new();
            for field in fields(scope) {
                let field = field?;
                if field.number == SPANS {
                    let partition = partition_of_span(field.value, partitions)?;
                    by_partition.entry(partition).or_default().push(field.whole);
                } else {
                    scope_header.push(field.whole);
                }
            }
            for (partition, spans) in by_partition {
                shares
                    .entry(partition)
                    .or_insert_with(|| ResourceShare {
                        header: resource_header.clone(),
                        scopes: Vec::new(),
                    })
                    .scopes
                    .push(ScopeShare {
                        header: scope_header.clone(),
                        spans,
                    });
            }
        }
        for (partition, share) in shares {
            let out = parts.entry(partition).or_default();
            put_nested_header(out, RESOURCE_SPANS, share.len());
            share.header.iter().for_each(|f| out.extend_from_slice(f));
            for scope in &share.scopes {
                put_nested_header(out, SCOPE_SPANS, scope.len());
                scope.header.iter().for_each(|f| out.extend_from_slice(f));
                scope.spans.iter().for_each(|f| out.extend_from_slice(f));
            }
        }
    }
    Ok(parts.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::ExportRequest;
    use crate::otlp::partition::split;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn attr(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn span(trace: u8, n: u8) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![n.max(1); 8],
            name: format!("op-{n}"),
            start_time_unix_nano: 1_000 + u64::from(n),
            end_time_unix_nano: 2_000 + u64::from(n),
            attributes: vec![attr("record.id", &format!("r-{trace}-{n}"))],
            ..Default::default()
        }
    }

    /// Two resources, the first with two scopes; spans of many traces.
    fn request() -> ExportTraceServiceRequest {
        let scope = |name: &str, spans: Vec<Span>| ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                ..Default::default()
            }),
            spans,
            schema_url: format!("https://schema/{name}"),
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![attr("service.name", "orders")],
                        ..Default::default()
                    }),
                    scope_spans: vec![
                        scope("a", (1..=40).map(|i| span(i, i)).collect()),
                        scope("b", (20..=30).map(|i| span(i, i + 100)).collect()),
                        scope("empty", Vec::new()),
                    ],
                    schema_url: "https://schema/r1".into(),
                },
                ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![attr("service.name", "billing")],
                        ..Default::default()
                    }),
                    scope_spans: vec![scope("c", (5..=9).map(|i| span(i, i + 50)).collect())],
                    schema_url: String::new(),
                },
            ],
        }
    }

    fn decoded(parts: Vec<(Partition, Vec<u8>)>) -> Vec<(Partition, ExportTraceServiceRequest)> {
        parts
            .into_iter()
            .map(|(p, bytes)| {
                (
                    p,
                    ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_parts_decode_to_what_the_struct_split_makes() {
        let request = request();
        let sent = request.encode_to_vec();
        for partitions in [1, 4, 16] {
            let expected: Vec<_> = split(ExportRequest::Traces(request.clone()), partitions)
                .into_iter()
                .map(|(p, r)| match r {
                    ExportRequest::Traces(t) => (p, t),
                    _ => unreachable!("traces split into traces"),
                })
                .collect();
            let wire = decoded(split_traces(&sent, partitions).unwrap());
            assert_eq!(wire, expected, "{partitions} partitions");
        }
    }

    #[test]
    fn every_span_lands_once_in_its_traces_partition() {
        let sent = request().encode_to_vec();
        let parts = decoded(split_traces(&sent, 16).unwrap());
        let mut seen = 0;
        for (partition, part) in &parts {
            for span in part
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                assert_eq!(of_trace(&span.trace_id, 16), *partition);
                seen += 1;
            }
        }
        assert_eq!(seen, 40 + 11 + 5);
        assert!(parts.len() > 1, "spread over partitions");
    }

    #[test]
    fn the_same_bytes_split_the_same_way() {
        let sent = request().encode_to_vec();
        assert_eq!(
            split_traces(&sent, 8).unwrap(),
            split_traces(&sent, 8).unwrap()
        );
    }

    #[test]
    fn malformed_bytes_are_an_error_not_a_panic() {
        let sent = request().encode_to_vec();
        for cut in [1, 7, sent.len() / 2, sent.len() - 1] {
            assert!(split_traces(&sent[..cut], 4).is_err(), "cut at {cut}");
        }
        assert!(split_traces(&[0x0b, 0x00], 4).is_err(), "a group");
        assert_eq!(split_traces(&[], 4).unwrap(), Vec::new());
    }
}
