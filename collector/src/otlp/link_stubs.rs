//! Link stubs: in cluster mode a span that links to traces of other
//! partitions (a batch consumer linking to the producers of its records)
//! is stored in its own trace's partition, where the linked spans are not
//! seen. So each partition it links into also gets a stub: a copy of the
//! span carrying only its links into that partition, without events or
//! link attributes. That partition's owner counts the topology edge and its
//! delivery lag from the stub, once per link (core's
//! `SpanMemory::observe_link_stub`); stubs are never indexed.

use super::partition::{Partition, of_trace};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use std::collections::BTreeMap;

/// The stubs of `request`'s links into other partitions, one request per
/// partition that gets any, in partition order.
pub fn link_stubs(
    request: &ExportTraceServiceRequest,
    partitions: u32,
) -> Vec<(Partition, ExportTraceServiceRequest)> {
    let mut parts: BTreeMap<Partition, ExportTraceServiceRequest> = BTreeMap::new();
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in ss.spans.iter().filter(|s| !s.links.is_empty()) {
                let home = of_trace(&span.trace_id, partitions);
                let mut by_partition: BTreeMap<Partition, Vec<_>> = BTreeMap::new();
                for link in &span.links {
                    let there = of_trace(&link.trace_id, partitions);
                    if there != home {
                        let mut link = link.clone();
                        link.attributes.clear();
                        by_partition.entry(there).or_default().push(link);
                    }
                }
                for (there, links) in by_partition {
                    let stub = Span {
                        links,
                        events: Vec::new(),
                        ..span.clone()
                    };
                    push(parts.entry(there).or_default(), rs, ss, stub);
                }
            }
        }
    }
    parts.into_iter().collect()
}

/// Adds `stub` under its resource and scope, reusing the part's last
/// resource and scope when they are the same ones.
fn push(part: &mut ExportTraceServiceRequest, rs: &ResourceSpans, ss: &ScopeSpans, stub: Span) {
    let same_resource = part
        .resource_spans
        .last()
        .is_some_and(|last| last.resource == rs.resource && last.schema_url == rs.schema_url);
    if !same_resource {
        part.resource_spans.push(ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: rs.schema_url.clone(),
        });
    }
    let scopes = &mut part
        .resource_spans
        .last_mut()
        .expect("just ensured")
        .scope_spans;
    let same_scope = scopes
        .last()
        .is_some_and(|last| last.scope == ss.scope && last.schema_url == ss.schema_url);
    if !same_scope {
        scopes.push(ScopeSpans {
            scope: ss.scope.clone(),
            spans: Vec::new(),
            schema_url: ss.schema_url.clone(),
        });
    }
    scopes.last_mut().expect("just ensured").spans.push(stub);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::span::Link;

    /// A trace id whose partition (of 16) is `p`.
    fn trace_in(p: Partition) -> Vec<u8> {
        (0u8..=255)
            .map(|b| vec![b; 16])
            .find(|id| of_trace(id, 16) == p)
            .expect("some byte lands in every partition")
    }

    fn link(trace: Vec<u8>) -> Link {
        Link {
            trace_id: trace,
            span_id: vec![1; 8],
            attributes: vec![Default::default()],
            ..Default::default()
        }
    }

    #[test]
    fn each_other_partition_gets_the_links_into_it_only() {
        let span = Span {
            trace_id: trace_in(0),
            span_id: vec![9; 8],
            name: "consume".into(),
            links: vec![
                link(trace_in(0)),
                link(trace_in(3)),
                link(trace_in(5)),
                link(trace_in(3)),
            ],
            events: vec![Default::default()],
            ..Default::default()
        };
        let lonely = Span {
            trace_id: trace_in(3),
            span_id: vec![8; 8],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span, lonely],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let stubs = link_stubs(&request, 16);
        let summary: Vec<(Partition, usize)> = stubs
            .iter()
            .map(|(p, r)| {
                let spans = &r.resource_spans[0].scope_spans[0].spans;
                assert_eq!(spans.len(), 1);
                assert_eq!(spans[0].span_id, vec![9; 8], "only the linking span");
                assert!(spans[0].events.is_empty());
                assert!(
                    spans[0]
                        .links
                        .iter()
                        .all(|l| l.attributes.is_empty() && of_trace(&l.trace_id, 16) == *p)
                );
                (*p, spans[0].links.len())
            })
            .collect();
        assert_eq!(summary, [(3, 2), (5, 1)], "none for its own partition");
    }
}
