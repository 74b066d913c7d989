//! Pacing: each scenario emits `rate` units a second, spread over the
//! second, and takes its once-a-second step (consumers polling, gauges) on
//! every whole second of the run.

use crate::emit::{EmitError, Emitter, Target};
use crate::faults::Schedule;
use crate::plan::SpanKey;
use crate::scenarios::{self, Ctx, Scenario};
use std::time::{Duration, Instant, SystemTime};

/// What to run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to send.
    pub target: Target,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Units of work per second, per scenario.
    pub rate: f64,
    /// How long; `None` until stopped.
    pub duration: Option<Duration>,
    /// Faults.
    pub faults: Schedule,
    /// Seed for the randomness.
    pub seed: u64,
}

/// What a run sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Units of work, all scenarios.
    pub units: u64,
    /// Spans handed to the SDK.
    pub spans: u64,
    /// Log records.
    pub logs: u64,
    /// Gauge readings.
    pub gauges: u64,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such scenario.
    #[error("unknown scenario {0:?}; the scenarios are {names}", names = scenarios::NAMES.join(", "))]
    UnknownScenario(String),
    /// A rate that cannot be kept.
    #[error("--rate {0} must be above 0")]
    BadRate(f64),
    /// The exporters failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// How often the pacer wakes up.
const TICK: Duration = Duration::from_millis(20);

/// Runs until the duration passes or `stop` turns true; flushes every
/// exporter before returning.
pub async fn run(
    config: SimConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Summary, SimError> {
    if config.rate.is_nan() || config.rate <= 0.0 {
        return Err(SimError::BadRate(config.rate));
    }
    let mut running: Vec<Box<dyn Scenario>> = config
        .scenarios
        .iter()
        .map(|n| scenarios::by_name(n).ok_or_else(|| SimError::UnknownScenario(n.clone())))
        .collect::<Result<_, _>>()?;
    let mut emitter = Emitter::new(config.target.clone());
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut next_key: SpanKey = 0;
    let started = Instant::now();
    let wall_start = SystemTime::now();
    let mut done: u64 = 0;
    let mut seconds_done: u64 = 0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let elapsed = started.elapsed();
        let end = config.duration.is_some_and(|d| elapsed >= d);
        let until = config.duration.map_or(elapsed, |d| elapsed.min(d));
        let due = (config.rate * until.as_secs_f64()).floor() as u64;
        let now = wall_start + elapsed;
        while done < due {
            for scenario in &mut running {
                let mut ctx = Ctx {
                    now,
                    elapsed,
                    faults: &config.faults,
                    rng: &mut rng,
                    next_key: &mut next_key,
                };
                let batch = scenario.unit(&mut ctx);
                emitter.emit(batch)?;
            }
            done += 1;
        }
        while seconds_done < until.as_secs() {
            seconds_done += 1;
            for scenario in &mut running {
                let mut ctx = Ctx {
                    now,
                    elapsed,
                    faults: &config.faults,
                    rng: &mut rng,
                    next_key: &mut next_key,
                };
                let batch = scenario.second(&mut ctx);
                emitter.emit(batch)?;
            }
        }
        if end {
            break;
        }
    }
    let (spans, logs, gauges) = emitter.sent;
    let elapsed = started.elapsed();
    tokio::task::spawn_blocking(move || emitter.shutdown())
        .await
        .map_err(|e| EmitError::from_message(format!("flushing stopped: {e}")))??;
    Ok(Summary {
        units: done * running.len() as u64,
        spans,
        logs,
        gauges,
        elapsed,
    })
}
