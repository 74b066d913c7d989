//! Where a record lives in cluster mode: the partition of an export's
//! records, and the export split into one request per partition.
//!
//! Spans and the logs tied to a trace go by their trace id, so one trace
//! sits in one partition; other logs and metric points go by their resource.
//! The hash decides where stored data lives, so it must never change
//! between versions or differ between nodes: XXH3-64 with seed 0 (a
//! published algorithm; std's hasher may change between Rust releases).

use super::ExportRequest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use std::collections::BTreeMap;
use xxhash_rust::xxh3::xxh3_64;

/// A partition number, below the cluster's fixed partition count.
pub type Partition = u32;

/// The partition of a trace, from its id's bytes.
pub fn of_trace(trace_id: &[u8], partitions: u32) -> Partition {
    bucket(xxh3_64(trace_id), partitions)
}

/// The partition of records that belong to no trace, from their resource
/// as encoded (the same resource, attributes in the same order, lands in
/// the same partition).
pub fn of_resource(resource: Option<&Resource>, partitions: u32) -> Partition {
    let encoded = resource.map(Message::encode_to_vec).unwrap_or_default();
    bucket(xxh3_64(&encoded), partitions)
}

fn bucket(hash: u64, partitions: u32) -> Partition {
    assert!(partitions > 0, "a cluster has at least one partition");
    (hash % u64::from(partitions)) as Partition
}

/// Splits an export into one request per partition, in partition order.
/// Every record keeps its resource and scope; nothing is dropped or copied
/// twice, so the parts hold exactly the records of the whole.
pub fn split(request: ExportRequest, partitions: u32) -> Vec<(Partition, ExportRequest)> {
    match request {
        ExportRequest::Traces(r) => split_traces(r, partitions)
            .into_iter()
            .map(|(p, r)| (p, ExportRequest::Traces(r)))
            .collect(),
        ExportRequest::Logs(r) => split_logs(r, partitions)
            .into_iter()
            .map(|(p, r)| (p, ExportRequest::Logs(r)))
            .collect(),
        ExportRequest::Metrics(r) => split_metrics(r, partitions)
            .into_iter()
            .map(|(p, r)| (p, ExportRequest::Metrics(r)))
            .collect(),
    }
}

/// Groups items by partition, each group in arrival order.
fn group<T>(items: Vec<T>, partition_of: impl Fn(&T) -> Partition) -> BTreeMap<Partition, Vec<T>> {
    let mut groups: BTreeMap<Partition, Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(partition_of(&item)).or_default().push(item);
    }
    groups
}

/// Appends each partition's group to that partition's part.
fn append<T, P: Default>(
    parts: &mut BTreeMap<Partition, P>,
    groups: BTreeMap<Partition, T>,
    into: impl Fn(&mut P, T),
) {
    for (p, group) in groups {
        into(parts.entry(p).or_default(), group);
    }
}

fn split_traces(
    request: ExportTraceServiceRequest,
    partitions: u32,
) -> BTreeMap<Partition, ExportTraceServiceRequest> {
    let mut parts = BTreeMap::new();
    for ResourceSpans {
        resource,
        scope_spans,
        schema_url,
    } in request.resource_spans
    {
        // Per partition, this resource's scopes in arrival order.
        let mut scopes: BTreeMap<Partition, Vec<ScopeSpans>> = BTreeMap::new();
        for ScopeSpans {
            scope,
            spans,
            schema_url: scope_schema,
        } in scope_spans
        {
            let by_trace = group(spans, |span| of_trace(&span.trace_id, partitions));
            append(&mut scopes, by_trace, |scopes, spans| {
                scopes.push(ScopeSpans {
                    scope: scope.clone(),
                    spans,
                    schema_url: scope_schema.clone(),
                })
            });
        }
        append(
            &mut parts,
            scopes,
            |part: &mut ExportTraceServiceRequest, scope_spans| {
                part.resource_spans.push(ResourceSpans {
                    resource: resource.clone(),
                    scope_spans,
                    schema_url: schema_url.clone(),
                })
            },
        );
    }
    parts
}

fn split_logs(
    request: ExportLogsServiceRequest,
    partitions: u32,
) -> BTreeMap<Partition, ExportLogsServiceRequest> {
    let mut parts = BTreeMap::new();
    for ResourceLogs {
        resource,
        scope_logs,
        schema_url,
    } in request.resource_logs
    {
        let untraced = of_resource(resource.as_ref(), partitions);
        let mut scopes: BTreeMap<Partition, Vec<ScopeLogs>> = BTreeMap::new();
        for ScopeLogs {
            scope,
            log_records,
            schema_url: scope_schema,
        } in scope_logs
        {
            // A log tied to a trace lives with its trace; validation has
            // already refused ids of the wrong length.
            let by_trace = group(log_records, |log| {
                if log.trace_id.is_empty() {
                    untraced
                } else {
                    of_trace(&log.trace_id, partitions)
                }
            });
            append(&mut scopes, by_trace, |scopes, log_records| {
                scopes.push(ScopeLogs {
                    scope: scope.clone(),
                    log_records,
                    schema_url: scope_schema.clone(),
                })
            });
        }
        append(
            &mut parts,
            scopes,
            |part: &mut ExportLogsServiceRequest, scope_logs| {
                part.resource_logs.push(ResourceLogs {
                    resource: resource.clone(),
                    scope_logs,
                    schema_url: schema_url.clone(),
                })
            },
        );
    }
    parts
}

fn split_metrics(
    request: ExportMetricsServiceRequest,
    partitions: u32,
) -> BTreeMap<Partition, ExportMetricsServiceRequest> {
    let by_resource = group(request.resource_metrics, |r| {
        of_resource(r.resource.as_ref(), partitions)
    });
    let mut parts = BTreeMap::new();
    append(
        &mut parts,
        by_resource,
        |part: &mut ExportMetricsServiceRequest, resource_metrics| {
            part.resource_metrics = resource_metrics
        },
    );
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::fleet;

    #[test]
    fn the_hash_is_fixed_forever() {
        // Stored data is placed by these numbers: if this test fails, data
        // written by an older weir would be looked for in the wrong place.
        // XXH3-64 of no bytes, seed 0, as the algorithm's specification has it.
        assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        let trace = hex::decode("5b8efff798038103d269b633813fc60c").unwrap();
        assert_eq!(xxh3_64(&trace), 0xbfd1_4c1b_f7c4_44f0);
        assert_eq!(of_trace(&trace, 1), 0);
        assert_eq!([16, 64, 1000].map(|n| of_trace(&trace, n)), [0, 48, 904]);
        assert_eq!(
            of_resource(None, 16),
            (0x2d06_8005_38d3_94c2_u64 % 16) as u32
        );
    }

    #[test]
    fn a_trace_goes_whole_to_one_partition_and_nothing_is_lost() {
        let mut seq = 0;
        let request = fleet::spans(3, &mut seq, 400);
        let total = request.resource_spans[0].scope_spans[0].spans.len();
        let parts = split(ExportRequest::Traces(request), 16);
        assert!(parts.len() > 4, "100 traces spread over many partitions");
        let mut seen = 0;
        let mut home = std::collections::HashMap::new();
        for (p, part) in &parts {
            let ExportRequest::Traces(part) = part else {
                panic!("spans stay spans")
            };
            for rs in &part.resource_spans {
                assert!(rs.resource.is_some(), "each part keeps its resource");
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        assert_eq!(of_trace(&span.trace_id, 16), *p);
                        let first = *home.entry(span.trace_id.clone()).or_insert(*p);
                        assert_eq!(first, *p, "one trace, one partition");
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, total);
        let order: Vec<_> = parts.iter().map(|(p, _)| *p).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "partition order");
    }

    #[test]
    fn traced_logs_follow_their_trace_and_others_their_resource() {
        let mut seq = 0;
        let mut request = fleet::logs(1, &mut seq, 90);
        let records = &mut request.resource_logs[0].scope_logs[0].log_records;
        let traced = records.iter().filter(|l| !l.trace_id.is_empty()).count();
        assert!(traced > 0 && traced < records.len());
        let resource = request.resource_logs[0].resource.clone();
        let parts = split(ExportRequest::Logs(request), 8);
        let mut seen = 0;
        for (p, part) in parts {
            let ExportRequest::Logs(part) = part else {
                panic!("logs stay logs")
            };
            for log in part
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                let expected = if log.trace_id.is_empty() {
                    of_resource(resource.as_ref(), 8)
                } else {
                    of_trace(&log.trace_id, 8)
                };
                assert_eq!(p, expected);
                seen += 1;
            }
        }
        assert_eq!(seen, 90);
    }

    #[test]
    fn metrics_go_by_resource() {
        let mut seq = 0;
        // One resource per function of the fleet.
        let request = ExportMetricsServiceRequest {
            resource_metrics: (0..8)
                .flat_map(|client| fleet::metrics(client, &mut seq, 10).resource_metrics)
                .collect(),
        };
        let resources: Vec<_> = request
            .resource_metrics
            .iter()
            .map(|r| of_resource(r.resource.as_ref(), 4))
            .collect();
        let parts = split(ExportRequest::Metrics(request), 4);
        assert!(parts.len() > 1, "eight resources spread over partitions");
        let total: usize = parts
            .iter()
            .map(|(p, part)| {
                let ExportRequest::Metrics(part) = part else {
                    panic!("metrics stay metrics")
                };
                for rm in &part.resource_metrics {
                    assert_eq!(of_resource(rm.resource.as_ref(), 4), *p);
                }
                part.resource_metrics.len()
            })
            .sum();
        assert_eq!(total, resources.len());
    }
}
