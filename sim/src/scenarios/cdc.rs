//! cdc: writes to an orders table → its change stream (four partitions by
//! order id) → functions that update a search index, invalidate a cache and
//! send notifications. Changes to one order keep their order: each carries
//! a sequence number per key, and a partition is consumed in order.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, StreamConsumer, log};
use crate::faults::FaultKind;
use crate::plan::{Batch, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::collections::HashMap;

const PARTITIONS: usize = 4;

pub struct Cdc {
    consumers: Vec<StreamConsumer>,
    sequence: HashMap<u64, u64>,
    writes: u64,
}

impl Default for Cdc {
    fn default() -> Self {
        let partitions: Vec<String> = (0..PARTITIONS).map(|p| format!("shard-{p}")).collect();
        let consumer = |name, runtime, suffers| {
            StreamConsumer::new(
                Function::new(name, runtime),
                "orders-changes",
                "aws_dynamodb_streams",
                partitions.clone(),
                suffers,
            )
        };
        let mut cache = consumer("cache-invalidator", Runtime::Go, &[FaultKind::Poison]);
        cache.dead_letter = "orders-changes-dlq";
        Cdc {
            consumers: vec![
                consumer(
                    "search-index-updater",
                    Runtime::Java,
                    &[FaultKind::Lag, FaultKind::Stall, FaultKind::ColdStarts],
                ),
                cache,
                consumer(
                    "notification-sender",
                    Runtime::Node,
                    &[FaultKind::Errors, FaultKind::Throttle],
                ),
            ],
            sequence: HashMap::new(),
            writes: 0,
        }
    }
}

impl Scenario for Cdc {
    fn name(&self) -> &'static str {
        "cdc"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.writes += 1;
        let order = ctx.rng.u64(1..500);
        let seq = self.sequence.entry(order).or_insert(0);
        *seq += 1;
        let seq = *seq;
        let partition = (order % PARTITIONS as u64) as usize;
        let id = format!("order-{order}#{seq}");
        let took = ctx.ms(5, 20);
        let start = ctx.now - took;
        let request = ctx.key();
        let change = ctx.key();
        let mut out = Batch::default();
        out.spans.push(
            SpanPlan::new(
                request,
                "orders-service",
                "PUT /orders/{id}",
                SpanKind::Server,
                start,
                ctx.now,
            )
            .attr(KeyValue::new("http.request.method", "PUT"))
            .attr(KeyValue::new("http.route", "/orders/{id}"))
            .attr(KeyValue::new("http.response.status_code", 200))
            .attr(KeyValue::new("order.id", format!("order-{order}")))
            .build(),
        );
        out.spans.push(
            SpanPlan::new(
                change,
                "orders-service",
                "orders-changes send",
                SpanKind::Producer,
                start + took / 2,
                ctx.now,
            )
            .parent(request)
            .attr(KeyValue::new("db.system.name", "aws.dynamodb"))
            .attr(KeyValue::new("db.operation.name", "UpdateItem"))
            .attr(KeyValue::new("messaging.system", "aws_dynamodb_streams"))
            .attr(KeyValue::new(
                "messaging.destination.name",
                "orders-changes",
            ))
            .attr(KeyValue::new(
                "messaging.destination.partition.id",
                format!("shard-{partition}"),
            ))
            .attr(KeyValue::new("order.id", format!("order-{order}")))
            .attr(KeyValue::new("cdc.sequence_number", seq as i64))
            .attr(KeyValue::new("record.id", id.clone()))
            .build(),
        );
        for c in &mut self.consumers {
            c.offer(ctx, partition, change, id.clone());
        }
        out
    }

    fn second(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        let mut out = Batch::default();
        for c in &mut self.consumers {
            let name = c.function.name;
            out.extend(c.poll(ctx, |_ctx, consumer, start, records, out| {
                out.logs.push(log(
                    name,
                    start,
                    Severity::Info,
                    None,
                    format!(
                        "applied {} changes in order, from {}",
                        records.len(),
                        records[0].id
                    ),
                    vec![KeyValue::new("record.id", records[0].id.clone())],
                    Some(consumer),
                ));
                true
            }));
            out.gauges.extend(c.age_gauges(ctx.now));
        }
        out
    }
}
