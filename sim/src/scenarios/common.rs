//! What the scenarios share: the step context, functions with warm
//! instances and cold starts by runtime, and a stream consumer that polls
//! its partitions, falls behind, stalls, retries poison records and sends
//! them to a dead-letter queue.

use crate::faults::{FaultKind, Schedule};
use crate::plan::{Batch, SimGauge, SimLog, SpanKey, SpanPlan};
use opentelemetry::KeyValue;
use opentelemetry::logs::Severity;
use opentelemetry::trace::SpanKind;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// What a scenario step knows.
pub struct Ctx<'a> {
    /// Wall-clock time of the step.
    pub now: SystemTime,
    /// Time since the run started.
    pub elapsed: Duration,
    /// The faults of the run.
    pub faults: &'a Schedule,
    /// Randomness, seeded per run.
    pub rng: &'a mut fastrand::Rng,
    /// The next free span key.
    pub next_key: &'a mut SpanKey,
}

impl Ctx<'_> {
    /// A fresh span key.
    pub fn key(&mut self) -> SpanKey {
        *self.next_key += 1;
        *self.next_key
    }

    /// Whether a fault is active now.
    pub fn fault(&self, kind: FaultKind) -> bool {
        self.faults.active(kind, self.elapsed)
    }

    /// A random duration in `[lo, hi)` milliseconds.
    pub fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(self.rng.u64(lo * 1000..hi.max(lo + 1) * 1000))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    /// A random id of 16 hex digits.
    pub fn id(&mut self) -> String {
        format!("{:016x}", self.rng.u64(..))
    }
}

/// A function runtime, for cold-start init durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// ~180 ms init.
    Python,
    /// ~170 ms.
    Node,
    /// ~80 ms.
    Go,
    /// ~12 ms.
    Rust,
    /// ~3 s.
    Java,
    /// ~200 ms with snapshot restore.
    JavaSnapStart,
}

impl Runtime {
    /// Typical init duration, milliseconds.
    pub fn init_ms(self) -> f64 {
        match self {
            Runtime::Python => 180.0,
            Runtime::Node => 170.0,
            Runtime::Go => 80.0,
            Runtime::Rust => 12.0,
            Runtime::Java => 3000.0,
            Runtime::JavaSnapStart => 200.0,
        }
    }

    /// `cloud.platform`-style runtime name.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Python => "python3.12",
            Runtime::Node => "nodejs20.x",
            Runtime::Go => "provided.al2023-go",
            Runtime::Rust => "provided.al2023-rust",
            Runtime::Java => "java21",
            Runtime::JavaSnapStart => "java21-snapstart",
        }
    }
}

/// A serverless function: the first invocations start cold, then a warm
/// pool serves most; a new instance now and then starts cold again.
#[derive(Debug, Clone)]
pub struct Function {
    /// `service.name`.
    pub name: &'static str,
    /// Runtime.
    pub runtime: Runtime,
    warm: u32,
}

/// Warm instances a function keeps before cold starts become rare.
const WARM_POOL: u32 = 2;
/// How often a warm function still starts a new instance.
const COLD_START_RATE: f64 = 0.01;

impl Function {
    /// A function that has not run yet.
    pub const fn new(name: &'static str, runtime: Runtime) -> Self {
        Function {
            name,
            runtime,
            warm: 0,
        }
    }

    /// One invocation starting at `start` doing `work`: its span (with the
    /// faas.* attributes) and its whole duration including any init.
    pub fn invoke(
        &mut self,
        ctx: &mut Ctx<'_>,
        span_name: &str,
        kind: SpanKind,
        trigger: &'static str,
        start: SystemTime,
        work: Duration,
    ) -> (SpanPlan, Duration) {
        let cold = self.warm < WARM_POOL
            || ctx.fault(FaultKind::ColdStarts)
            || ctx.chance(COLD_START_RATE);
        if self.warm < WARM_POOL {
            self.warm += 1;
        }
        let init = if cold {
            let jitter = 0.8 + 0.4 * ctx.rng.f64();
            Duration::from_secs_f64(self.runtime.init_ms() * jitter / 1000.0)
        } else {
            Duration::ZERO
        };
        let total = init + work;
        let key = ctx.key();
        let invocation_id = ctx.id();
        let mut span = SpanPlan::new(key, self.name, span_name, kind, start, start + total)
            .attr(KeyValue::new("faas.invocation_id", invocation_id))
            .attr(KeyValue::new("faas.trigger", trigger))
            .attr(KeyValue::new("faas.coldstart", cold))
            .attr(KeyValue::new("faas.max_memory", 536_870_912_i64))
            .attr(KeyValue::new("process.runtime.name", self.runtime.name()));
        if cold {
            span = span.attr(KeyValue::new(
                "faas.init_duration",
                (init.as_secs_f64() * 1000.0).round() as i64,
            ));
        }
        (span, total)
    }
}

/// A record waiting in a stream or queue partition.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The producer span, linked from the consumer.
    pub span: SpanKey,
    /// When it was written.
    pub at: SystemTime,
    /// Its correlation id.
    pub id: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Fails every attempt.
    pub poison: bool,
}

/// A consumer of a partitioned stream, polling each partition once a second.
#[derive(Debug, Clone)]
pub struct StreamConsumer {
    /// The function that consumes.
    pub function: Function,
    /// Stream, queue or topic name.
    pub stream: &'static str,
    /// `messaging.system`.
    pub system: &'static str,
    /// Partition names.
    pub partitions: Vec<String>,
    /// What waits in each partition.
    pub pending: Vec<VecDeque<Pending>>,
    /// Records per poll, at most (the platform's batch size).
    pub batch_size: usize,
    /// Processing time per record.
    pub per_record: Duration,
    /// Where poison records go after `max_attempts`.
    pub dead_letter: &'static str,
    /// Attempts before a record goes to the dead-letter queue.
    pub max_attempts: u32,
    /// The fault kinds this consumer suffers.
    pub suffers: &'static [FaultKind],
    /// Records ever taken, per partition.
    pub consumed: Vec<u64>,
}

/// The bound on records waiting per partition: a stream keeps a day, a
/// simulator keeps memory bounded and drops the oldest beyond this.
const MAX_PENDING: usize = 100_000;

impl StreamConsumer {
    /// A consumer of `stream` with `partitions`.
    pub fn new(
        function: Function,
        stream: &'static str,
        system: &'static str,
        partitions: Vec<String>,
        suffers: &'static [FaultKind],
    ) -> Self {
        let n = partitions.len();
        StreamConsumer {
            function,
            stream,
            system,
            partitions,
            pending: vec![VecDeque::new(); n],
            batch_size: 100,
            per_record: Duration::from_micros(400),
            dead_letter: "",
            max_attempts: 3,
            suffers,
            consumed: vec![0; n],
        }
    }

    fn suffers(&self, ctx: &Ctx<'_>, kind: FaultKind) -> bool {
        self.suffers.contains(&kind) && ctx.fault(kind)
    }

    /// Puts a record in a partition; a poison fault poisons one record at
    /// a time.
    pub fn offer(&mut self, ctx: &Ctx<'_>, partition: usize, span: SpanKey, id: String) {
        let poison = self.suffers(ctx, FaultKind::Poison)
            && !self.pending.iter().flatten().any(|p| p.poison);
        let queue = &mut self.pending[partition];
        queue.push_back(Pending {
            span,
            at: ctx.now,
            id,
            attempts: 0,
            poison,
        });
        if queue.len() > MAX_PENDING {
            queue.pop_front();
        }
    }

    /// How far behind each partition is: the age of its oldest record.
    pub fn iterator_age_ms(&self, now: SystemTime) -> Vec<f64> {
        self.pending
            .iter()
            .map(|q| {
                q.front()
                    .and_then(|p| now.duration_since(p.at).ok())
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            })
            .collect()
    }

    /// Records waiting per partition.
    pub fn backlog(&self) -> Vec<usize> {
        self.pending.iter().map(VecDeque::len).collect()
    }

    /// One poll of every partition. `on_batch` adds what the consumer does
    /// with a successful batch (writes downstream) as children of its span.
    pub fn poll(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut on_batch: impl FnMut(&mut Ctx<'_>, SpanKey, SystemTime, &[Pending], &mut Batch) -> bool,
    ) -> Batch {
        let mut out = Batch::default();
        if self.suffers(ctx, FaultKind::Stall) {
            return out;
        }
        for p in 0..self.partitions.len() {
            if self.pending[p].is_empty() {
                continue;
            }
            // Falling behind: one record every fifth second, whatever arrives.
            let lagging = self.suffers(ctx, FaultKind::Lag);
            if lagging && !ctx.elapsed.as_secs().is_multiple_of(5) {
                continue;
            }
            let take = if lagging { 1 } else { self.batch_size }.min(self.pending[p].len());
            let records: Vec<Pending> = self.pending[p].iter().take(take).cloned().collect();
            let start = ctx.now - Duration::from_millis(900) + ctx.ms(0, 200);
            let work = self.per_record * records.len() as u32 + ctx.ms(5, 30);
            let (span, total) = self.function.invoke(
                ctx,
                &format!("{} process", self.stream),
                SpanKind::Consumer,
                "pubsub",
                start,
                work,
            );
            let key = span_key(&span);
            let mut span = span
                .links(records.iter().map(|r| r.span).collect())
                .attr(KeyValue::new("messaging.system", self.system))
                .attr(KeyValue::new("messaging.operation.type", "process"))
                .attr(KeyValue::new("messaging.destination.name", self.stream))
                .attr(KeyValue::new(
                    "messaging.destination.partition.id",
                    self.partitions[p].clone(),
                ))
                .attr(KeyValue::new(
                    "messaging.batch.message_count",
                    records.len() as i64,
                ));
            let mut children = Batch::default();
            let poisoned = records.iter().find(|r| r.poison).cloned();
            let failed = if let Some(poison) = &poisoned {
                span = span.failed(
                    "MalformedRecordError",
                    &format!("cannot parse record {}", poison.id),
                );
                children.logs.push(log(
                    self.function.name,
                    start + total,
                    Severity::Error,
                    Some("exception"),
                    format!(
                        "record {} failed (attempt {} of {}): cannot parse",
                        poison.id,
                        poison.attempts + 1,
                        self.max_attempts
                    ),
                    vec![KeyValue::new("record.id", poison.id.clone())],
                    Some(key),
                ));
                true
            } else if self.suffers(ctx, FaultKind::Errors) && ctx.chance(0.6) {
                span = span.failed("ProcessingError", "downstream call timed out");
                children.logs.push(log(
                    self.function.name,
                    start + total,
                    Severity::Error,
                    Some("exception"),
                    format!(
                        "batch of {} records failed; the stream will redeliver it",
                        records.len()
                    ),
                    vec![KeyValue::new("record.id", records[0].id.clone())],
                    Some(key),
                ));
                true
            } else {
                !on_batch(ctx, key, start, &records, &mut children)
            };
            out.spans.push(span.build());
            out.extend(children);
            if failed {
                if let Some(poison) = poisoned {
                    let entry = self.pending[p]
                        .iter_mut()
                        .find(|r| r.span == poison.span)
                        .expect("the poison record waits");
                    entry.attempts += 1;
                    if entry.attempts >= self.max_attempts && !self.dead_letter.is_empty() {
                        let entry = entry.clone();
                        self.pending[p].retain(|r| r.span != entry.span);
                        let dlq = ctx.key();
                        out.spans.push(
                            SpanPlan::new(
                                dlq,
                                self.function.name,
                                format!("{} publish", self.dead_letter),
                                SpanKind::Producer,
                                start + total,
                                start + total + ctx.ms(2, 8),
                            )
                            .parent(key)
                            .links(vec![entry.span])
                            .attr(KeyValue::new("messaging.system", "aws_sqs"))
                            .attr(KeyValue::new("messaging.operation.type", "send"))
                            .attr(KeyValue::new(
                                "messaging.destination.name",
                                self.dead_letter,
                            ))
                            .attr(KeyValue::new("record.id", entry.id.clone()))
                            .build(),
                        );
                        out.logs.push(log(
                            self.function.name,
                            start + total,
                            Severity::Warn,
                            None,
                            format!(
                                "sent record {} to {} after {} attempts",
                                entry.id, self.dead_letter, entry.attempts
                            ),
                            vec![KeyValue::new("record.id", entry.id)],
                            Some(key),
                        ));
                    }
                }
            } else {
                self.pending[p].drain(..records.len());
                self.consumed[p] += records.len() as u64;
            }
        }
        out
    }

    /// The iterator-age gauge of every partition, in milliseconds.
    pub fn age_gauges(&self, now: SystemTime) -> Vec<SimGauge> {
        self.iterator_age_ms(now)
            .into_iter()
            .zip(&self.partitions)
            .map(|(age, p)| SimGauge {
                component: self.function.name,
                name: "pipeline.iterator_age",
                unit: "ms",
                value: age,
                attributes: vec![
                    KeyValue::new("messaging.destination.name", self.stream),
                    KeyValue::new("messaging.destination.partition.id", p.clone()),
                ],
            })
            .collect()
    }
}

/// The key a span plan was given.
pub fn span_key(plan: &SpanPlan) -> SpanKey {
    plan.key()
}

/// A log record.
pub fn log(
    component: &'static str,
    time: SystemTime,
    severity: Severity,
    event_name: Option<&'static str>,
    body: String,
    attributes: Vec<KeyValue>,
    span: Option<SpanKey>,
) -> SimLog {
    SimLog {
        component,
        time,
        severity,
        event_name,
        body,
        attributes,
        span,
    }
}

/// A downstream key-value write (a CLIENT span), throttled and retried
/// under the throttle fault. Returns whether it finally succeeded.
pub fn kv_write(
    ctx: &mut Ctx<'_>,
    component: &'static str,
    parent: SpanKey,
    table: &'static str,
    start: SystemTime,
    out: &mut Batch,
) -> (bool, Duration) {
    let throttled = ctx.fault(FaultKind::Throttle);
    let attempts = if throttled { 3 } else { 1 };
    let mut at = start;
    for attempt in 0..attempts {
        let took = ctx.ms(3, 12);
        let key = ctx.key();
        let last = attempt + 1 == attempts;
        let fails = throttled && (!last || ctx.chance(0.5));
        let mut span = SpanPlan::new(key, component, "PutItem", SpanKind::Client, at, at + took)
            .parent(parent)
            .attr(KeyValue::new("db.system.name", "aws.dynamodb"))
            .attr(KeyValue::new("db.operation.name", "PutItem"))
            .attr(KeyValue::new("db.collection.name", table))
            .attr(KeyValue::new("aws.dynamodb.table_names", table));
        if fails {
            span = span.failed(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded",
            );
        }
        out.spans.push(span.build());
        // Exponential backoff between attempts, as the AWS SDKs do.
        at = at + took + Duration::from_millis(25 << attempt);
        if !fails {
            return (true, at.duration_since(start).unwrap_or_default());
        }
    }
    (false, at.duration_since(start).unwrap_or_default())
}
