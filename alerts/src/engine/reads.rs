//! Reading what rules need from the store: the components known recently,
//! and each window of health rollups or metric points, read once per
//! evaluation for every rule of a group that asks for the same.

use crate::rules::Rule;
use crate::rules::window::{HealthWindow, Reads, SeriesWindow, Window};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use weir_core::pipeline::minute_of;
use weir_store::StoreError;
use weir_store::db::{Database, MetricQuery};

/// How far back a component counts as known, so `absent` sees it go silent.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);
const MINUTE: u64 = 60_000_000_000;
/// Most points one metric window reads.
const MAX_POINTS: usize = 100_000;

/// What a rule reads: one window of health rollups or of metric points,
/// shared by the rules of a group that ask for the same.
pub enum Source {
    /// Health rollups.
    Health(Arc<HealthWindow>),
    /// Metric points.
    Points(Arc<SeriesWindow>),
}

impl Source {
    /// The window, as rules take it.
    pub fn window(&self) -> Window<'_> {
        match self {
            Source::Health(h) => Window::Health(h),
            Source::Points(p) => Window::Points(p),
        }
    }
}

/// The windows one group evaluation has read so far.
pub struct Reader<'a> {
    db: &'a Database,
    now: u64,
    known: Vec<String>,
    rollups: HashMap<u64, Arc<HealthWindow>>,
    points: HashMap<(String, u64), Arc<SeriesWindow>>,
}

impl<'a> Reader<'a> {
    /// Starts an evaluation at `now`: reads the components seen recently.
    pub async fn start(db: &'a Database, now: u64) -> Result<Self, StoreError> {
        let known_from = now.saturating_sub(KNOWN_FOR.as_nanos() as u64);
        let known = db
            .components_seen(minute_of(known_from), minute_of(now) + MINUTE)
            .await?;
        Ok(Reader {
            db,
            now,
            known,
            rollups: HashMap::new(),
            points: HashMap::new(),
        })
    }

    /// What `rule` reads, from the store or from an earlier rule's read.
    pub async fn read(&mut self, rule: &Rule) -> Result<Source, StoreError> {
        let now = self.now;
        let window = rule.window.0.as_nanos() as u64;
        match rule.reads() {
            Reads::Points(name) => {
                let key = (name.to_string(), window);
                if let Some(p) = self.points.get(&key) {
                    return Ok(Source::Points(p.clone()));
                }
                let start = now.saturating_sub(window);
                let query = MetricQuery {
                    name: name.to_string(),
                    service: None,
                    from: start,
                    to: now,
                    limit: MAX_POINTS,
                };
                let points = self.db.metric_points(&query).await?;
                let p = Arc::new(SeriesWindow::new(points, start, window + 1));
                self.points.insert(key, p.clone());
                Ok(Source::Points(p))
            }
            Reads::Health => {
                if let Some(r) = self.rollups.get(&window) {
                    return Ok(Source::Health(r.clone()));
                }
                let rollups = self
                    .db
                    .component_health(
                        minute_of(now.saturating_sub(window)),
                        minute_of(now) + MINUTE,
                    )
                    .await?;
                let r = Arc::new(HealthWindow::new(rollups, &self.known));
                self.rollups.insert(window, r.clone());
                Ok(Source::Health(r))
            }
        }
    }
}
