//! fanout: an image upload → a dispatcher → a topic → thumbnail, metadata,
//! moderation and search-index functions, in parallel, each linked to the
//! message it received.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, log};
use crate::faults::FaultKind;
use crate::plan::{Batch, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::time::Duration;

pub struct Fanout {
    dispatcher: Function,
    subscribers: Vec<(Function, (u64, u64))>,
    images: u64,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout {
            dispatcher: Function::new("image-dispatcher", Runtime::Node),
            subscribers: vec![
                (Function::new("thumbnail", Runtime::Python), (300, 900)),
                (Function::new("image-metadata", Runtime::Go), (50, 150)),
                (
                    Function::new("image-moderation", Runtime::Python),
                    (400, 1500),
                ),
                (Function::new("search-indexer", Runtime::Rust), (30, 80)),
            ],
            images: 0,
        }
    }
}

impl Scenario for Fanout {
    fn name(&self) -> &'static str {
        "fanout"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.images += 1;
        let image = format!("img-{:06}", self.images);
        let mut out = Batch::default();
        // Start in the past so every subscriber has finished by now.
        let t0 = ctx.now - Duration::from_secs(5);
        let upload = ctx.key();
        let upload_took = ctx.ms(20, 60);
        out.spans.push(
            SpanPlan::new(
                upload,
                "image-upload-api",
                "PUT /images/{id}",
                SpanKind::Server,
                t0,
                t0 + upload_took,
            )
            .attr(KeyValue::new("http.request.method", "PUT"))
            .attr(KeyValue::new("http.route", "/images/{id}"))
            .attr(KeyValue::new("http.response.status_code", 201))
            .attr(KeyValue::new("image.id", image.clone()))
            .build(),
        );
        let at = t0 + Duration::from_millis(5);
        let work = ctx.ms(3, 10);
        let (span, took) =
            self.dispatcher
                .invoke(ctx, "dispatch image", SpanKind::Server, "other", at, work);
        let dispatch = span.key();
        out.spans.push(
            span.parent(upload)
                .attr(KeyValue::new("image.id", image.clone()))
                .build(),
        );
        let publish = ctx.key();
        let published = at + took;
        out.spans.push(
            SpanPlan::new(
                publish,
                "image-dispatcher",
                "image-uploaded publish",
                SpanKind::Producer,
                at + took / 2,
                published,
            )
            .parent(dispatch)
            .attr(KeyValue::new("messaging.system", "aws_sns"))
            .attr(KeyValue::new("messaging.operation.type", "send"))
            .attr(KeyValue::new(
                "messaging.destination.name",
                "image-uploaded",
            ))
            .attr(KeyValue::new("image.id", image.clone()))
            .build(),
        );
        let lagging = ctx.fault(FaultKind::Lag);
        for (function, (lo, hi)) in &mut self.subscribers {
            let name = function.name;
            if name == "search-indexer" && ctx.fault(FaultKind::Stall) {
                continue;
            }
            let delay = if lagging {
                ctx.ms(1500, 3000)
            } else {
                ctx.ms(10, 60)
            };
            let work = ctx.ms(*lo, *hi);
            let (span, took) = function.invoke(
                ctx,
                "image-uploaded process",
                SpanKind::Consumer,
                "pubsub",
                published + delay,
                work,
            );
            let key = span.key();
            let mut span = span
                .links(vec![publish])
                .attr(KeyValue::new("messaging.system", "aws_sns"))
                .attr(KeyValue::new("messaging.operation.type", "process"))
                .attr(KeyValue::new(
                    "messaging.destination.name",
                    "image-uploaded",
                ))
                .attr(KeyValue::new("image.id", image.clone()));
            let fails = (name == "image-moderation"
                && ctx.fault(FaultKind::Errors)
                && ctx.chance(0.6))
                || (name == "search-indexer" && ctx.fault(FaultKind::Throttle) && ctx.chance(0.5));
            if fails {
                span = span.failed(
                    "ImageProcessingError",
                    &format!("{name} could not process {image}"),
                );
                out.logs.push(log(
                    name,
                    published + delay + took,
                    Severity::Error,
                    Some("exception"),
                    format!("{name} failed on {image}"),
                    vec![KeyValue::new("image.id", image.clone())],
                    Some(key),
                ));
            }
            out.spans.push(span.build());
        }
        out
    }
}
