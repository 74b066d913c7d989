//! The pipeline's shape as spans reveal it: nodes (components and the
//! streams between them), directed edges, and the bounded memory of recent
//! spans that ties a child, a consumer or a linking span to the component it
//! came from, whichever arrives first.

use crate::pipeline::{destination, span_failed};
use crate::{Span, SpanId, SpanKind};
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
}

struct Known {
    component: Arc<str>,
    end: u64,
}

/// Remembers recent spans' components so that a child, a consumer or a
/// linking span can be tied to the component of the span it refers to,
/// whichever arrives first.
pub struct SpanMemory {
    known: HashMap<SpanId, Known>,
    order: VecDeque<SpanId>,
    waiting: HashMap<SpanId, Vec<(Arc<str>, bool)>>,
    waiting_order: VecDeque<SpanId>,
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
            capacity,
        }
    }

    /// The edges `span` reveals, now that it has arrived.
    pub fn observe(&mut self, span: &Span) -> Vec<Crossing> {
        let mut out = Vec::new();
        let me: Arc<str> = Arc::from(span.service.as_str());
        let failed = span_failed(span);
        // Parent in another component: parent → me.
        if let Some(parent) = span.parent_span_id {
            match self.known.get(&parent) {
                Some(p) if *p.component != *me => out.push(Crossing {
                    edge: component_edge(&p.component, &me),
                    failed,
                    delivery_lag_ms: None,
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
            }),
            (SpanKind::Consumer, Some(d)) => {
                let edge = Edge {
                    source_kind: NodeKind::Stream,
                    source: d.to_string(),
                    target_kind: NodeKind::Component,
                    target: me.to_string(),
                };
                let lags = self.link_lags(span);
                if lags.is_empty() {
                    out.push(Crossing {
                        edge,
                        failed,
                        delivery_lag_ms: None,
                    });
                } else {
                    // One crossing per delivered record.
                    out.extend(lags.into_iter().map(|(_, lag)| Crossing {
                        edge: edge.clone(),
                        failed,
                        delivery_lag_ms: Some(lag),
                    }));
                }
            }
            _ => {
                // Links with no stream named: producer component → me.
                for (component, lag) in self.link_lags(span) {
                    if *component != *me {
                        out.push(Crossing {
                            edge: component_edge(&component, &me),
                            failed,
                            delivery_lag_ms: Some(lag),
                        });
                    }
                }
            }
        }
        self.remember(span, me);
        out
    }

    fn link_lags(&self, span: &Span) -> Vec<(Arc<str>, f64)> {
        span.links
            .iter()
            .filter_map(|l| self.known.get(&l.span_id))
            .map(|k| {
                (
                    k.component.clone(),
                    span.start_time_unix_nano.saturating_sub(k.end) as f64 / 1e6,
                )
            })
            .collect()
    }

    fn remember(&mut self, span: &Span, component: Arc<str>) {
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
}
