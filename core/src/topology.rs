//! The pipeline's shape as spans reveal it: nodes (components and the
//! streams between them), directed edges, and the bounded memory of recent
//! spans that ties a child, a consumer or a linking span to the component it
//! came from, whichever arrives first.

use crate::pipeline::{destination, span_failed};
use crate::{Span, SpanId, SpanKind, TraceId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What a topology node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A component (service or function).
    Component,
    /// A stream, queue or topic between components.
    Stream,
}

impl NodeKind {
    /// The word stored and returned.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Component => "component",
            NodeKind::Stream => "stream",
        }
    }

    /// Parses [`NodeKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "component" => Some(NodeKind::Component),
            "stream" => Some(NodeKind::Stream),
            _ => None,
        }
    }
}

/// A directed edge between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// Source kind.
    pub source_kind: NodeKind,
    /// Source name.
    pub source: String,
    /// Target kind.
    pub target_kind: NodeKind,
    /// Target name.
    pub target: String,
}

/// One edge observation: which edge, whether the receiving span failed,
/// and a delivery lag when a linked span was known.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// The edge.
    pub edge: Edge,
    /// The receiving span failed.
    pub failed: bool,
    /// Linked span's end to this span's start, milliseconds.
    pub delivery_lag_ms: Option<f64>,
    /// When the span it was learnt from started: the minute that counts it.
    pub at: u64,
}

struct Known {
    component: Arc<str>,
    end: u64,
}

/// A link from a span of another partition (a link stub) whose linked span
/// has not arrived yet.
struct WaitingLink {
    consumer: Arc<str>,
    /// The stream it consumed from, if it named one.
    stream: Option<Arc<str>>,
    start: u64,
    failed: bool,
}

impl WaitingLink {
    /// The crossing it makes once the linked span (of `producer`, ended at
    /// `end`) is known; `None` for a link within one component.
    fn crossing(&self, producer: &str, end: Option<u64>) -> Option<Crossing> {
        let edge = match &self.stream {
            Some(stream) => Edge {
                source_kind: NodeKind::Stream,
                source: stream.to_string(),
                target_kind: NodeKind::Component,
                target: self.consumer.to_string(),
            },
            None if producer != &*self.consumer => component_edge(producer, &self.consumer),
            None => return None,
        };
        Some(Crossing {
            edge,
            failed: self.failed,
            delivery_lag_ms: end.map(|end| self.start.saturating_sub(end) as f64 / 1e6),
            at: self.start,
        })
    }
}

/// Remembers recent spans' components so that a child, a consumer or a
/// linking span can be tied to the component of the span it refers to,
/// whichever arrives first.
pub struct SpanMemory {
    known: HashMap<SpanId, Known>,
    order: VecDeque<SpanId>,
    waiting: HashMap<SpanId, Vec<(Arc<str>, bool)>>,
    waiting_order: VecDeque<SpanId>,
    waiting_links: HashMap<SpanId, Vec<WaitingLink>>,
    waiting_links_order: VecDeque<SpanId>,
    capacity: usize,
}

fn component_edge(from: &str, to: &str) -> Edge {
    Edge {
        source_kind: NodeKind::Component,
        source: from.to_string(),
        target_kind: NodeKind::Component,
        target: to.to_string(),
    }
}

impl SpanMemory {
    /// Remembers up to `capacity` spans (and as many waiting children).
    pub fn new(capacity: usize) -> Self {
        SpanMemory {
            known: HashMap::new(),
            order: VecDeque::new(),
            waiting: HashMap::new(),
            waiting_order: VecDeque::new(),
            waiting_links: HashMap::new(),
            waiting_links_order: VecDeque::new(),
            capacity,
        }
    }

    /// The edges `span` reveals, now that it has arrived.
    pub fn observe(&mut self, span: &Span) -> Vec<Crossing> {
        self.observe_where(span, &|_| true)
    }

    /// [`SpanMemory::observe`] where only links to traces `here` says this
    /// memory sees are resolved: in cluster mode a partition's memory holds
    /// its own traces, and a link to another partition's trace is counted
    /// there, from a link stub ([`SpanMemory::observe_link_stub`]).
    pub fn observe_where(&mut self, span: &Span, here: &dyn Fn(&TraceId) -> bool) -> Vec<Crossing> {
        let mut out = Vec::new();
        let at = span.start_time_unix_nano;
        let me: Arc<str> = Arc::from(span.service.as_str());
        let failed = span_failed(span);
        // Parent in another component: parent → me.
        if let Some(parent) = span.parent_span_id {
            match self.known.get(&parent) {
                Some(p) if *p.component != *me => out.push(Crossing {
                    edge: component_edge(&p.component, &me),
                    failed,
                    delivery_lag_ms: None,
                    at,
                }),
                Some(_) => {}
                None => {
                    if !self.waiting.contains_key(&parent) {
                        self.waiting_order.push_back(parent);
                    }
                    self.waiting
                        .entry(parent)
                        .or_default()
                        .push((me.clone(), failed));
                    if self.waiting_order.len() > self.capacity
                        && let Some(old) = self.waiting_order.pop_front()
                    {
                        self.waiting.remove(&old);
                    }
                }
            }
        }
        // Children that arrived before me.
        if let Some(children) = self.waiting.remove(&span.span_id) {
            for (child, child_failed) in children {
                if *child != *me {
                    out.push(Crossing {
                        edge: component_edge(&me, &child),
                        failed: child_failed,
                        delivery_lag_ms: None,
                        at,
                    });
                }
            }
        }
        // Streams, queues and topics.
        let dest = destination(span);
        match (span.kind, dest) {
            (SpanKind::Producer, Some(d)) => out.push(Crossing {
                edge: Edge {
                    source_kind: NodeKind::Component,
                    source: me.to_string(),
                    target_kind: NodeKind::Stream,
                    target: d.to_string(),
                },
                failed,
                delivery_lag_ms: None,
                at,
            }),
            (SpanKind::Consumer, Some(d)) => {
                let edge = Edge {
                    source_kind: NodeKind::Stream,
                    source: d.to_string(),
                    target_kind: NodeKind::Component,
                    target: me.to_string(),
                };
                let lags = self.link_lags(span, here);
                let all_elsewhere =
                    !span.links.is_empty() && !span.links.iter().any(|l| here(&l.trace_id));
                if all_elsewhere {
                    // Counted where the linked spans live, one per link.
                } else if lags.is_empty() {
                    out.push(Crossing {
                        edge,
                        failed,
                        delivery_lag_ms: None,
                        at,
                    });
                } else {
                    // One crossing per delivered record.
                    out.extend(lags.into_iter().map(|(_, lag)| Crossing {
                        edge: edge.clone(),
                        failed,
                        delivery_lag_ms: Some(lag),
                        at,
                    }));
                }
            }
            _ => {
                // Links with no stream named: producer component → me.
                for (component, lag) in self.link_lags(span, here) {
                    if *component != *me {
                        out.push(Crossing {
                            edge: component_edge(&component, &me),
                            failed,
                            delivery_lag_ms: Some(lag),
                            at,
                        });
                    }
                }
            }
        }
        self.remember(span, me, &mut out);
        out
    }

    /// The edges a link stub reveals: a span of another partition, carrying
    /// only its links to spans this memory sees. Each link counts once: now
    /// if its span is known, when that span arrives, or (for a named stream,
    /// without a delivery lag) when the wait is given up for room. The stub
    /// itself is not remembered: its own trace lives elsewhere.
    pub fn observe_link_stub(&mut self, stub: &Span) -> Vec<Crossing> {
        let mut out = Vec::new();
        let stream = match (stub.kind, destination(stub)) {
            (SpanKind::Consumer, Some(d)) => Some(Arc::from(d)),
            // A producer's links add no edge where it is stored either.
            (SpanKind::Producer, Some(_)) => return out,
            _ => None,
        };
        let consumer: Arc<str> = Arc::from(stub.service.as_str());
        for link in &stub.links {
            let waiting = WaitingLink {
                consumer: consumer.clone(),
                stream: stream.clone(),
                start: stub.start_time_unix_nano,
                failed: span_failed(stub),
            };
            if let Some(known) = self.known.get(&link.span_id) {
                out.extend(waiting.crossing(&known.component, Some(known.end)));
                continue;
            }
            if !self.waiting_links.contains_key(&link.span_id) {
                self.waiting_links_order.push_back(link.span_id);
            }
            self.waiting_links
                .entry(link.span_id)
                .or_default()
                .push(waiting);
            if self.waiting_links_order.len() > self.capacity
                && let Some(old) = self.waiting_links_order.pop_front()
            {
                // Given up: a stream's delivery still counts.
                for gone in self.waiting_links.remove(&old).unwrap_or_default() {
                    if gone.stream.is_some() {
                        out.extend(gone.crossing("", None));
                    }
                }
            }
        }
        out
    }

    fn link_lags(&self, span: &Span, here: &dyn Fn(&TraceId) -> bool) -> Vec<(Arc<str>, f64)> {
        span.links
            .iter()
            .filter(|l| here(&l.trace_id))
            .filter_map(|l| self.known.get(&l.span_id))
            .map(|k| {
                (
                    k.component.clone(),
                    span.start_time_unix_nano.saturating_sub(k.end) as f64 / 1e6,
                )
            })
            .collect()
    }

    /// Remembers `span` and adds to `out` the links that waited for it.
    fn remember(&mut self, span: &Span, component: Arc<str>, out: &mut Vec<Crossing>) {
        for waiting in self.waiting_links.remove(&span.span_id).unwrap_or_default() {
            out.extend(waiting.crossing(&component, Some(span.end_time_unix_nano)));
        }
        if self
            .known
            .insert(
                span.span_id,
                Known {
                    component,
                    end: span.end_time_unix_nano,
                },
            )
            .is_none()
        {
            self.order.push_back(span.span_id);
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.known.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrValue, Attributes, SpanLink, TraceId};

    fn span(
        id: u8,
        service: &str,
        kind: SpanKind,
        parent: Option<u8>,
        start: u64,
        end: u64,
    ) -> Span {
        Span {
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..crate::fixtures::span(TraceId([id; 16]), id, parent, service, "s")
        }
    }

    fn names(c: &[Crossing]) -> Vec<(String, String)> {
        c.iter()
            .map(|c| (c.edge.source.clone(), c.edge.target.clone()))
            .collect()
    }

    #[test]
    fn producer_stream_consumer_with_delivery_lag() {
        let mut memory = SpanMemory::new(100);
        let mut publish = span(1, "producer", SpanKind::Producer, None, 0, 1_000_000);
        publish.attributes = Attributes(vec![(
            "messaging.destination.name".into(),
            AttrValue::Str("clicks".into()),
        )]);
        assert_eq!(
            names(&memory.observe(&publish)),
            [("producer".into(), "clicks".into())]
        );
        let mut consume = span(
            2,
            "consumer",
            SpanKind::Consumer,
            None,
            251_000_000,
            260_000_000,
        );
        consume.attributes = publish.attributes.clone();
        consume.links = vec![SpanLink {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([1; 8]),
            attributes: Attributes::default(),
        }];
        let crossings = memory.observe(&consume);
        assert_eq!(names(&crossings), [("clicks".into(), "consumer".into())]);
        assert_eq!(crossings[0].edge.source_kind, NodeKind::Stream);
        assert_eq!(crossings[0].delivery_lag_ms, Some(250.0));
    }

    #[test]
    fn parent_child_edges_in_either_arrival_order() {
        let mut memory = SpanMemory::new(100);
        // The child in another component arrives first.
        assert!(
            memory
                .observe(&span(2, "writer", SpanKind::Server, Some(1), 5, 6))
                .is_empty()
        );
        let crossings = memory.observe(&span(1, "consumer", SpanKind::Consumer, None, 0, 10));
        assert_eq!(names(&crossings), [("consumer".into(), "writer".into())]);
        // Parent first; same component: no edge.
        assert!(
            memory
                .observe(&span(3, "consumer", SpanKind::Internal, Some(1), 1, 2))
                .is_empty()
        );
        assert_eq!(
            names(&memory.observe(&span(4, "writer", SpanKind::Server, Some(1), 1, 2))),
            [("consumer".into(), "writer".into())]
        );
    }

    fn link_to(id: u8) -> SpanLink {
        SpanLink {
            trace_id: TraceId([id; 16]),
            span_id: SpanId([id; 8]),
            attributes: Attributes::default(),
        }
    }

    fn consumer_of(stream: Option<&str>, links: &[u8], start: u64) -> Span {
        let mut consume = span(9, "consumer", SpanKind::Consumer, None, start, start + 5);
        if let Some(stream) = stream {
            consume.attributes = Attributes(vec![(
                "messaging.destination.name".into(),
                AttrValue::Str(stream.into()),
            )]);
        }
        consume.links = links.iter().map(|id| link_to(*id)).collect();
        consume
    }

    #[test]
    fn a_link_stub_counts_once_whichever_arrives_first() {
        let mut memory = SpanMemory::new(100);
        // The stub first: it waits for the producer's span.
        let stub = consumer_of(None, &[1, 2], 3_000_000_000);
        assert!(memory.observe_link_stub(&stub).is_empty());
        let arrived = memory.observe(&span(
            1,
            "producer",
            SpanKind::Internal,
            None,
            0,
            1_000_000_000,
        ));
        assert_eq!(names(&arrived), [("producer".into(), "consumer".into())]);
        assert_eq!(arrived[0].delivery_lag_ms, Some(2000.0));
        assert_eq!(
            arrived[0].at, 3_000_000_000,
            "counted in the consumer's minute"
        );
        // Once only: the producer's span seen again adds nothing.
        assert!(
            memory
                .observe(&span(
                    1,
                    "producer",
                    SpanKind::Internal,
                    None,
                    0,
                    1_000_000_000
                ))
                .is_empty()
        );
        // The producer first: the stub resolves at once.
        let now = memory.observe_link_stub(&consumer_of(None, &[1], 4_000_000_000));
        assert_eq!(names(&now), [("producer".into(), "consumer".into())]);
        // A link within one component adds no edge.
        memory.observe(&span(2, "consumer", SpanKind::Internal, None, 0, 1));
        assert!(
            memory
                .observe_link_stub(&consumer_of(None, &[2], 5))
                .is_empty()
        );
    }

    #[test]
    fn links_to_other_partitions_are_left_to_their_stubs() {
        let mut memory = SpanMemory::new(100);
        // Trace 7 lives in another partition.
        let here = |t: &TraceId| t.0[0] != 7;
        memory.observe(&span(7, "producer", SpanKind::Internal, None, 0, 1));
        // Every link elsewhere: counted by the stubs, not here.
        assert!(
            memory
                .observe_where(&consumer_of(Some("clicks"), &[7, 7], 10), &here)
                .is_empty()
        );
        assert!(
            memory
                .observe_where(&consumer_of(None, &[7], 10), &here)
                .is_empty()
        );
        // No links at all: one delivery, counted here.
        assert_eq!(
            names(&memory.observe_where(&consumer_of(Some("clicks"), &[], 10), &here)),
            [("clicks".into(), "consumer".into())]
        );
        // Resolved here when every trace is.
        assert_eq!(
            names(&memory.observe(&consumer_of(None, &[7], 10))),
            [("producer".into(), "consumer".into())]
        );
    }

    #[test]
    fn a_stream_link_given_up_for_room_still_counts_its_delivery() {
        let mut memory = SpanMemory::new(2);
        let mut given_up = Vec::new();
        for id in 1..=4 {
            given_up.extend(memory.observe_link_stub(&consumer_of(Some("clicks"), &[id], 10)));
        }
        assert_eq!(
            names(&given_up),
            vec![("clicks".to_string(), "consumer".to_string()); 2]
        );
        assert!(given_up.iter().all(|c| c.delivery_lag_ms.is_none()));
        // A component link given up adds nothing: its producer is unknown.
        let mut memory = SpanMemory::new(1);
        memory.observe_link_stub(&consumer_of(None, &[1], 10));
        assert!(
            memory
                .observe_link_stub(&consumer_of(None, &[2], 10))
                .is_empty()
        );
    }
}
