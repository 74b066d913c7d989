//! The pipelines users run, each a [`Scenario`]: pure decisions of what to
//! emit at each unit of work (one click, one request, one execution) and
//! each second (consumers polling, gauges), with faults applied.

mod api;
mod cdc;
mod clickstream;
mod common;
mod etl;
mod fanout;
mod kafka;

pub use common::{Ctx, Runtime};

use crate::plan::Batch;

/// One simulated pipeline.
pub trait Scenario: Send {
    /// Its name on the command line.
    fn name(&self) -> &'static str;
    /// One unit of work at the scenario's rate.
    fn unit(&mut self, ctx: &mut Ctx<'_>) -> Batch;
    /// Once a second: consumers poll, gauges are read.
    fn second(&mut self, _ctx: &mut Ctx<'_>) -> Batch {
        Batch::default()
    }
}

/// Every scenario, by name.
pub const NAMES: [&str; 6] = ["clickstream", "etl", "api", "fanout", "cdc", "kafka"];

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Scenario>> {
    Some(match name {
        "clickstream" => Box::new(clickstream::Clickstream::default()),
        "etl" => Box::new(etl::Etl::default()),
        "api" => Box::new(api::Api::default()),
        "fanout" => Box::new(fanout::Fanout::default()),
        "cdc" => Box::new(cdc::Cdc::default()),
        "kafka" => Box::new(kafka::Kafka::default()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Schedule;
    use crate::plan::SpanKey;
    use opentelemetry::trace::SpanKind;
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    /// Runs `seconds` seconds of a scenario at `rate` units a second.
    fn drive(name: &str, rate: u32, seconds: u64, faults: &[&str]) -> Batch {
        let mut scenario = by_name(name).unwrap();
        let schedule = Schedule(faults.iter().map(|f| f.parse().unwrap()).collect());
        let mut rng = fastrand::Rng::with_seed(7);
        let mut next_key: SpanKey = 0;
        let start = SystemTime::now();
        let mut out = Batch::default();
        for s in 0..seconds {
            for u in 0..rate {
                let elapsed = Duration::from_secs(s)
                    + Duration::from_millis(u64::from(u) * 1000 / u64::from(rate));
                let mut ctx = Ctx {
                    now: start + elapsed,
                    elapsed,
                    faults: &schedule,
                    rng: &mut rng,
                    next_key: &mut next_key,
                };
                out.extend(scenario.unit(&mut ctx));
            }
            let elapsed = Duration::from_secs(s + 1);
            let mut ctx = Ctx {
                now: start + elapsed,
                elapsed,
                faults: &schedule,
                rng: &mut rng,
                next_key: &mut next_key,
            };
            out.extend(scenario.second(&mut ctx));
        }
        out
    }

    fn components(b: &Batch) -> BTreeSet<&'static str> {
        b.spans.iter().map(|s| s.component).collect()
    }

    fn invocations_of<'a>(b: &'a Batch, component: &str) -> Vec<&'a crate::plan::SimSpan> {
        b.spans
            .iter()
            .filter(|s| {
                s.component == component && matches!(s.kind, SpanKind::Server | SpanKind::Consumer)
            })
            .collect()
    }

    #[test]
    fn every_scenario_emits_its_components_and_references_only_earlier_spans() {
        let expected: [(&str, &[&str]); 6] = [
            (
                "clickstream",
                &[
                    "clickstream-web",
                    "page-view-counter",
                    "page-view-store",
                    "clickstream-archive",
                ],
            ),
            (
                "etl",
                &[
                    "file-uploads",
                    "ingest-files",
                    "validate-data",
                    "transform-data",
                    "store-data",
                    "update-catalog",
                ],
            ),
            (
                "api",
                &[
                    "api-gateway",
                    "orders-python",
                    "orders-node",
                    "orders-go",
                    "orders-rust",
                    "orders-java",
                    "orders-java-snapstart",
                ],
            ),
            (
                "fanout",
                &[
                    "image-upload-api",
                    "image-dispatcher",
                    "thumbnail",
                    "image-metadata",
                    "image-moderation",
                    "search-indexer",
                ],
            ),
            (
                "cdc",
                &[
                    "orders-service",
                    "search-index-updater",
                    "cache-invalidator",
                    "notification-sender",
                ],
            ),
            ("kafka", &["payments-api", "payments-ledger"]),
        ];
        for (name, want) in expected {
            let b = drive(name, 10, 5, &[]);
            let got = components(&b);
            for c in want {
                assert!(got.contains(c), "{name} lacks {c}: {got:?}");
            }
            let mut seen = BTreeSet::new();
            for s in &b.spans {
                for r in s.parent.iter().chain(&s.links) {
                    assert!(
                        seen.contains(r),
                        "{name}: {} refers to a later span",
                        s.name
                    );
                }
                assert!(s.end >= s.start, "{name}: {} ends before it starts", s.name);
                seen.insert(s.key);
            }
        }
    }

    #[test]
    fn stream_consumers_link_every_record_of_a_batch() {
        let b = drive("clickstream", 20, 3, &[]);
        let batches = invocations_of(&b, "page-view-counter");
        assert!(!batches.is_empty());
        let linked: usize = batches.iter().map(|s| s.links.len()).sum();
        // Two polls a second have drained all but the last second's clicks.
        assert!(linked >= 40, "{linked} records linked");
        let gauges: Vec<_> = b
            .gauges
            .iter()
            .filter(|g| g.name == "pipeline.iterator_age")
            .collect();
        assert!(
            gauges
                .iter()
                .any(|g| g.attributes.iter().any(|kv| kv.value.as_str() == "shard-1"))
        );
    }

    #[test]
    fn lag_grows_iterator_age_and_stall_stops_invocations() {
        let age = |b: &Batch| {
            b.gauges
                .iter()
                .filter(|g| g.name == "pipeline.iterator_age")
                .map(|g| g.value)
                .fold(0.0, f64::max)
        };
        let normal = drive("clickstream", 10, 30, &[]);
        let lagging = drive("clickstream", 10, 30, &["lag"]);
        assert!(age(&normal) < 2_000.0, "{}", age(&normal));
        assert!(age(&lagging) > 20_000.0, "{}", age(&lagging));
        let stalled = drive("clickstream", 10, 30, &["stall@10s"]);
        assert!(invocations_of(&stalled, "page-view-counter").len() <= 2 * 10);
        let kafka = drive("kafka", 20, 20, &["lag"]);
        let lag = kafka
            .gauges
            .iter()
            .filter(|g| g.name == "kafka.consumer_group.lag")
            .map(|g| g.value)
            .fold(0.0, f64::max);
        assert!(lag > 50.0, "{lag}");
    }

    #[test]
    fn errors_and_cold_starts_show_in_invocations() {
        let failing = |b: &Batch, c: &str| {
            let inv = invocations_of(b, c);
            inv.iter().filter(|s| s.error.is_some()).count() as f64 / inv.len() as f64
        };
        let cold = |b: &Batch, c: &str| {
            let inv = invocations_of(b, c);
            inv.iter()
                .filter(|s| {
                    s.attributes.iter().any(|kv| {
                        kv.key.as_str() == "faas.coldstart" && kv.value.as_str() == "true"
                    })
                })
                .count() as f64
                / inv.len() as f64
        };
        let normal = drive("api", 20, 10, &[]);
        assert!(failing(&normal, "orders-go") < 0.05);
        assert!(cold(&normal, "orders-go") < 0.2);
        let bad = drive("api", 20, 10, &["errors", "cold-starts"]);
        assert!(failing(&bad, "orders-go") > 0.2);
        assert_eq!(cold(&bad, "orders-go"), 1.0);
        let java = bad
            .spans
            .iter()
            .find(|s| s.component == "orders-java")
            .unwrap();
        let init = java
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "faas.init_duration")
            .map(|kv| kv.value.as_str().parse::<f64>().unwrap())
            .unwrap();
        assert!(
            (2000.0..4000.0).contains(&init),
            "Java starts in ~3 s: {init}"
        );
    }

    #[test]
    fn a_poison_record_is_retried_then_sent_to_the_dead_letter_queue() {
        let b = drive("clickstream", 10, 10, &["poison@0s+1s"]);
        let dlq: Vec<_> = b
            .spans
            .iter()
            .filter(|s| s.kind == SpanKind::Producer && s.name == "clickstream-dlq publish")
            .collect();
        assert_eq!(dlq.len(), 1, "one poison record, one dead letter");
        let failed = invocations_of(&b, "page-view-counter")
            .iter()
            .filter(|s| {
                s.exception
                    .as_ref()
                    .is_some_and(|(t, _)| t == "MalformedRecordError")
            })
            .count();
        assert_eq!(failed, 3, "three attempts first");
    }

    #[test]
    fn throttling_retries_writes() {
        let b = drive("kafka", 10, 5, &["throttle"]);
        let throttled = b
            .spans
            .iter()
            .filter(|s| {
                s.exception
                    .as_ref()
                    .is_some_and(|(t, _)| t.starts_with("ProvisionedThroughput"))
            })
            .count();
        assert!(throttled > 0);
    }
}
