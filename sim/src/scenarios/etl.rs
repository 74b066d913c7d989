//! etl: an object upload starts a step workflow, one trace per execution:
//! ValidateData → TransformData (a Map state over the records; Retry with
//! interval 2 s, backoff 2, at most 3 attempts; Catch → FailureState) → a
//! Parallel state of StoreData and UpdateCatalog. Valid and invalid record
//! counts travel in attributes and logs.

use super::Scenario;
use super::common::{Ctx, Function, Runtime, log};
use crate::faults::FaultKind;
use crate::plan::{Batch, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::time::{Duration, SystemTime};

pub struct Etl {
    validate: Function,
    transform: Function,
    store: Function,
    catalog: Function,
    failure: Function,
    files: u64,
}

impl Default for Etl {
    fn default() -> Self {
        Etl {
            validate: Function::new("validate-data", Runtime::Python),
            transform: Function::new("transform-data", Runtime::Python),
            store: Function::new("store-data", Runtime::Go),
            catalog: Function::new("update-catalog", Runtime::Node),
            failure: Function::new("etl-failure-handler", Runtime::Node),
            files: 0,
        }
    }
}

/// Retry: interval 2 s, backoff rate 2, max attempts 3.
const RETRY_INTERVAL: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 3;

impl Scenario for Etl {
    fn name(&self) -> &'static str {
        "etl"
    }

    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch {
        self.files += 1;
        let file = format!(
            "uploads/{}/batch-{:06}.csv",
            ctx.elapsed.as_secs() / 3600,
            self.files
        );
        let records = ctx.rng.u64(20..200);
        let invalid_rate = if ctx.fault(FaultKind::Errors) {
            0.3
        } else {
            0.02
        };
        let invalid = (0..records).filter(|_| ctx.chance(invalid_rate)).count() as u64;
        let valid = records - invalid;
        let failing_transform = ctx.fault(FaultKind::Errors) || ctx.fault(FaultKind::Throttle);

        // Lay the execution out from a start in the past so it has ended by now.
        let mut out = Batch::default();
        let execution = ctx.key();
        let upload = ctx.key();
        let t0 = SystemTime::UNIX_EPOCH; // offsets, shifted below
        let mut t = t0 + ctx.ms(20, 60);
        let exec_attrs = vec![
            KeyValue::new("etl.file.key", file.clone()),
            KeyValue::new("aws.step_functions.state_machine", "ingest-files"),
        ];

        let work = ctx.ms(200, 800);
        let (v_span, v_took) =
            self.validate
                .invoke(ctx, "ValidateData", SpanKind::Server, "other", t, work);
        let v_key = v_span.key();
        let mut spans = vec![
            v_span
                .parent(execution)
                .attr(KeyValue::new("etl.file.key", file.clone()))
                .attr(KeyValue::new("etl.records.valid", valid as i64))
                .attr(KeyValue::new("etl.records.invalid", invalid as i64))
                .build(),
        ];
        out.logs.push(log(
            "validate-data",
            t + v_took,
            if invalid > 0 {
                Severity::Warn
            } else {
                Severity::Info
            },
            None,
            format!("validated {file}: {valid} valid, {invalid} invalid records"),
            vec![
                KeyValue::new("etl.file.key", file.clone()),
                KeyValue::new("etl.records.valid", valid as i64),
                KeyValue::new("etl.records.invalid", invalid as i64),
            ],
            Some(v_key),
        ));
        t = t + v_took + ctx.ms(20, 50);

        let mut transformed = false;
        let mut wait = RETRY_INTERVAL;
        for attempt in 1..=MAX_ATTEMPTS {
            let work = Duration::from_millis(2 * valid) + ctx.ms(100, 400);
            let (span, took) =
                self.transform
                    .invoke(ctx, "TransformData", SpanKind::Server, "other", t, work);
            let key = span.key();
            let fails = failing_transform && (attempt < MAX_ATTEMPTS || ctx.chance(0.7));
            let mut span = span
                .parent(execution)
                .attr(KeyValue::new("etl.file.key", file.clone()))
                .attr(KeyValue::new("aws.step_functions.attempt", attempt as i64));
            if fails {
                span = span.failed(
                    "States.TaskFailed",
                    "warehouse connection reset while transforming",
                );
                out.logs.push(log(
                    "transform-data",
                    t + took,
                    Severity::Error,
                    Some("exception"),
                    format!("TransformData attempt {attempt} of {MAX_ATTEMPTS} failed for {file}"),
                    vec![KeyValue::new("etl.file.key", file.clone())],
                    Some(key),
                ));
            }
            spans.push(span.build());
            // The Map state: one child span per record, a sample of them.
            let mapped = valid.min(10);
            let mut m = t + Duration::from_millis(5);
            for r in 0..mapped {
                let k = ctx.key();
                let d = ctx.ms(1, 8);
                spans.push(
                    SpanPlan::new(
                        k,
                        "transform-data",
                        "Map transform record",
                        SpanKind::Internal,
                        m,
                        m + d,
                    )
                    .parent(key)
                    .attr(KeyValue::new("etl.record.index", r as i64))
                    .build(),
                );
                m += d;
            }
            t += took;
            if !fails {
                transformed = true;
                break;
            }
            if attempt < MAX_ATTEMPTS {
                t += wait;
                wait *= 2;
            }
        }

        if transformed {
            // The Parallel state: both branches start together.
            let work = ctx.ms(300, 1000);
            let (s_span, s_took) =
                self.store
                    .invoke(ctx, "StoreData", SpanKind::Server, "other", t, work);
            let work = ctx.ms(50, 200);
            let (c_span, c_took) =
                self.catalog
                    .invoke(ctx, "UpdateCatalog", SpanKind::Server, "other", t, work);
            spans.push(
                s_span
                    .parent(execution)
                    .attr(KeyValue::new("etl.file.key", file.clone()))
                    .attr(KeyValue::new("etl.records.stored", valid as i64))
                    .build(),
            );
            spans.push(
                c_span
                    .parent(execution)
                    .attr(KeyValue::new("etl.file.key", file.clone()))
                    .build(),
            );
            t += s_took.max(c_took);
        } else {
            // Catch → FailureState.
            let work = ctx.ms(20, 80);
            let (f_span, f_took) =
                self.failure
                    .invoke(ctx, "FailureState", SpanKind::Server, "other", t, work);
            let key = f_span.key();
            spans.push(
                f_span
                    .parent(execution)
                    .attr(KeyValue::new("etl.file.key", file.clone()))
                    .build(),
            );
            out.logs.push(log(
                "etl-failure-handler",
                t + f_took,
                Severity::Error,
                None,
                format!("{file} moved to quarantine after {MAX_ATTEMPTS} failed transforms"),
                vec![KeyValue::new("etl.file.key", file.clone())],
                Some(key),
            ));
            t += f_took;
        }

        // Shift the whole execution so it ends now.
        let total = t.duration_since(t0).unwrap_or_default();
        let now = ctx.now;
        let invocation_id = ctx.id();
        let shift = |at: SystemTime| now - total + at.duration_since(t0).unwrap_or_default();
        let mut execution_span = SpanPlan::new(
            execution,
            "ingest-files",
            "ingest-files execution",
            SpanKind::Server,
            t0,
            t,
        )
        .parent(upload)
        .attr(KeyValue::new("faas.trigger", "datasource"))
        .attr(KeyValue::new("faas.invocation_id", invocation_id));
        for kv in exec_attrs {
            execution_span = execution_span.attr(kv);
        }
        if !transformed {
            execution_span =
                execution_span.failed("States.TaskFailed", "TransformData failed after 3 attempts");
        }
        let upload_span = SpanPlan::new(
            upload,
            "file-uploads",
            "s3:ObjectCreated:Put",
            SpanKind::Producer,
            t0,
            t0 + Duration::from_millis(5),
        )
        .attr(KeyValue::new("aws.s3.bucket", "incoming-files"))
        .attr(KeyValue::new("aws.s3.key", file.clone()))
        .attr(KeyValue::new("etl.file.key", file.clone()))
        .build();
        let mut all = vec![upload_span, execution_span.build()];
        all.extend(spans);
        for mut s in all {
            s.start = shift(s.start);
            s.end = shift(s.end);
            out.spans.push(s);
        }
        for l in &mut out.logs {
            l.time = shift(l.time);
        }
        out
    }
}
