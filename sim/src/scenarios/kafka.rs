//! kafka: a producer writes payments to a topic of three partitions; a
//! consumer group reads them in batches; record lag per partition is
//! reported as `kafka.consumer_group.lag`.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, StreamConsumer, kv_write};
use crate::faults::FaultKind;
use crate::plan::{Batch, SimGauge, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

pub struct Kafka {
    ledger: StreamConsumer,
    payments: u64,
}

impl Default for Kafka {
    fn default() -> Self {
        let mut ledger = StreamConsumer::new(
            Function::new("payments-ledger", Runtime::Java),
            "payments",
            "kafka",
            (0..3).map(|p| p.to_string()).collect(),
            &FaultKind::ALL,
        );
        ledger.batch_size = 500;
        ledger.dead_letter = "payments.DLQ";
        Kafka {
            ledger,
            payments: 0,
        }
    }
}

impl Scenario for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.payments += 1;
        let id = format!("pay-{:07}", self.payments);
        let account = ctx.rng.u64(1..1000);
        let partition = (account % 3) as usize;
        let took = ctx.ms(1, 4);
        let key = ctx.key();
        let mut out = Batch::default();
        out.spans.push(
            SpanPlan::new(
                key,
                "payments-api",
                "payments send",
                SpanKind::Producer,
                ctx.now - took,
                ctx.now,
            )
            .attr(KeyValue::new("messaging.system", "kafka"))
            .attr(KeyValue::new("messaging.operation.type", "send"))
            .attr(KeyValue::new("messaging.destination.name", "payments"))
            .attr(KeyValue::new(
                "messaging.destination.partition.id",
                partition.to_string(),
            ))
            .attr(KeyValue::new(
                "messaging.kafka.message.key",
                format!("account-{account}"),
            ))
            .attr(KeyValue::new("record.id", id.clone()))
            .build(),
        );
        self.ledger.offer(ctx, partition, key, id);
        out
    }

    fn second(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        let mut out = self
            .ledger
            .poll(ctx, |ctx, consumer, start, _records, out| {
                kv_write(ctx, "payments-ledger", consumer, "ledger", start, out).0
            });
        for (p, backlog) in self.ledger.backlog().into_iter().enumerate() {
            out.gauges.push(SimGauge {
                component: "payments-ledger",
                name: "kafka.consumer_group.lag",
                unit: "{records}",
                value: backlog as f64,
                attributes: vec![
                    KeyValue::new("messaging.destination.name", "payments"),
                    KeyValue::new("messaging.consumer.group.name", "ledger"),
                    KeyValue::new("messaging.destination.partition.id", p.to_string()),
                ],
            });
        }
        out
    }
}
