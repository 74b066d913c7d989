//! clickstream: a web producer writes page views to a stream of two shards;
//! a page-view counter consumes batches (one CONSUMER span per batch, one
//! link per record), counts views per one-minute window and calls a
//! key-value store writer; a delivery stream archives the raw events to
//! object storage. Iterator age per shard is reported in ms.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, StreamConsumer, kv_write, log};
use crate::faults::FaultKind;
use crate::plan::{Batch, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::time::Duration;

const PAGES: [&str; 5] = ["/", "/pricing", "/docs", "/blog/launch", "/signup"];

pub struct Clickstream {
    counter: StreamConsumer,
    archive: StreamConsumer,
    writer: Function,
    clicks: u64,
}

impl Default for Clickstream {
    fn default() -> Self {
        let shards = vec!["shard-0".to_string(), "shard-1".to_string()];
        let mut counter = StreamConsumer::new(
            Function::new("page-view-counter", Runtime::Python),
            "clickstream",
            "aws_kinesis",
            shards.clone(),
            &FaultKind::ALL,
        );
        counter.dead_letter = "clickstream-dlq";
        let mut archive = StreamConsumer::new(
            Function::new("clickstream-archive", Runtime::Go),
            "clickstream",
            "aws_kinesis",
            shards,
            &[],
        );
        archive.per_record = Duration::from_micros(50);
        Clickstream {
            counter,
            archive,
            writer: Function::new("page-view-store", Runtime::Node),
            clicks: 0,
        }
    }
}

impl Scenario for Clickstream {
    fn name(&self) -> &'static str {
        "clickstream"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.clicks += 1;
        let n = self.clicks;
        let shard = (n % 2) as usize;
        let id = format!("click-{n}");
        let page = PAGES[ctx.rng.usize(..PAGES.len())];
        let took = ctx.ms(3, 12);
        let start = ctx.now - took;
        let request = ctx.key();
        let publish = ctx.key();
        let mut out = Batch::default();
        out.spans.push(
            SpanPlan::new(
                request,
                "clickstream-web",
                "POST /collect",
                SpanKind::Server,
                start,
                ctx.now,
            )
            .attr(KeyValue::new("http.request.method", "POST"))
            .attr(KeyValue::new("http.route", "/collect"))
            .attr(KeyValue::new("http.response.status_code", 202))
            .attr(KeyValue::new("url.path", "/collect"))
            .attr(KeyValue::new("record.id", id.clone()))
            .build(),
        );
        out.spans.push(
            SpanPlan::new(
                publish,
                "clickstream-web",
                "clickstream send",
                SpanKind::Producer,
                start + Duration::from_millis(1),
                ctx.now,
            )
            .parent(request)
            .attr(KeyValue::new("messaging.system", "aws_kinesis"))
            .attr(KeyValue::new("messaging.operation.type", "send"))
            .attr(KeyValue::new("messaging.destination.name", "clickstream"))
            .attr(KeyValue::new(
                "messaging.destination.partition.id",
                format!("shard-{shard}"),
            ))
            .attr(KeyValue::new("record.id", id.clone()))
            .attr(KeyValue::new("page.path", page))
            .build(),
        );
        out.logs.push(log(
            "clickstream-web",
            ctx.now,
            Severity::Info,
            None,
            format!("accepted page view {id} of {page}"),
            vec![
                KeyValue::new("record.id", id.clone()),
                KeyValue::new("page.path", page),
            ],
            Some(publish),
        ));
        self.counter.offer(ctx, shard, publish, id.clone());
        self.archive.offer(ctx, shard, publish, id);
        out
    }

    fn second(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        let writer = &mut self.writer;
        let window = ctx.elapsed.as_secs() / 60;
        let mut out = self
            .counter
            .poll(ctx, |ctx, consumer, start, records, out| {
                // The counter adds this batch to the current one-minute window
                // and hands the counts to the store writer.
                let at = start + ctx.ms(2, 6);
                let work = ctx.ms(2, 6);
                let (span, total) = writer.invoke(
                    ctx,
                    "write page-view counts",
                    SpanKind::Server,
                    "other",
                    at,
                    work,
                );
                let invocation = span.key();
                let (stored, write_time) =
                    kv_write(ctx, "page-view-store", invocation, "page-views", at, out);
                let mut span = span
                    .parent(consumer)
                    .attr(KeyValue::new("pageviews.window", window as i64))
                    .attr(KeyValue::new("pageviews.counted", records.len() as i64));
                if !stored {
                    span = span.failed(
                        "ProvisionedThroughputExceededException",
                        "page-views table throttled the write",
                    );
                }
                let mut built = span.build();
                built.end = built.end.max(at + write_time + total / 4);
                out.spans.insert(0, built);
                out.logs.push(log(
                    "page-view-counter",
                    at,
                    Severity::Info,
                    None,
                    format!(
                        "window {window}: counted {} page views ({}…)",
                        records.len(),
                        records[0].id
                    ),
                    vec![KeyValue::new("record.id", records[0].id.clone())],
                    Some(consumer),
                ));
                stored
            });
        out.extend(
            self.archive
                .poll(ctx, |ctx, consumer, start, records, out| {
                    let key = ctx.key();
                    let at = start + ctx.ms(5, 15);
                    out.spans.push(
                        SpanPlan::new(
                            key,
                            "clickstream-archive",
                            "PutObject",
                            SpanKind::Client,
                            at,
                            at + ctx.ms(20, 60),
                        )
                        .parent(consumer)
                        .attr(KeyValue::new("rpc.system", "aws-api"))
                        .attr(KeyValue::new("rpc.service", "S3"))
                        .attr(KeyValue::new("rpc.method", "PutObject"))
                        .attr(KeyValue::new("aws.s3.bucket", "clickstream-archive"))
                        .attr(KeyValue::new(
                            "aws.s3.key",
                            format!("raw/{}-{}.json.gz", records[0].id, records.len()),
                        ))
                        .build(),
                    );
                    true
                }),
        );
        out.gauges.extend(self.counter.age_gauges(ctx.now));
        out
    }
}
