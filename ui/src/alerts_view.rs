//! What the alerts page shows, as the dashboard sees it. The binary
//! implements [`AlertsView`] over the alert engine, so the dashboard depends
//! on no other feature crate.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for a dyn-compatible trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One rule.
#[derive(Debug, Clone, Default)]
pub struct RuleRow {
    /// Its group.
    pub group: String,
    /// `alert:` name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
    /// Alerts firing.
    pub firing: usize,
    /// When it was last evaluated, Unix nanoseconds (0 = not yet).
    pub last_evaluation: u64,
    /// How long that took, milliseconds.
    pub evaluation_ms: f64,
    /// Why it failed.
    pub error: Option<String>,
    /// What it says, in words.
    pub definition: String,
}

/// One pending or firing alert.
#[derive(Debug, Clone, Default)]
pub struct AlertRow {
    /// Alert name.
    pub name: String,
    /// Component.
    pub component: String,
    /// Partition, if any.
    pub partition: Option<String>,
    /// `pending` or `firing`.
    pub state: String,
    /// Since when, Unix nanoseconds.
    pub since: u64,
    /// The value compared.
    pub value: Option<f64>,
    /// What the value measures.
    pub unit: weir_core::human::Unit,
    /// The rendered summary annotation.
    pub summary: String,
    /// Whether a silence mutes it.
    pub silenced: bool,
}

/// One silence.
#[derive(Debug, Clone, Default)]
pub struct SilenceRow {
    /// Its id.
    pub id: String,
    /// Matchers, as `name=value` text.
    pub matchers: String,
    /// Start and end, Unix nanoseconds.
    pub starts_at: u64,
    /// End.
    pub ends_at: u64,
    /// `pending`, `active` or `expired`.
    pub state: String,
    /// Who.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// One state change.
#[derive(Debug, Clone, Default)]
pub struct HistoryRow {
    /// `group/alert`.
    pub rule: String,
    /// Component.
    pub component: String,
    /// `pending`, `firing`, `resolved`.
    pub transition: String,
    /// When, Unix nanoseconds.
    pub at: u64,
    /// The value then.
    pub value: Option<f64>,
    /// What it measures.
    pub unit: weir_core::human::Unit,
}

/// One receiver's delivery record.
#[derive(Debug, Clone, Default)]
pub struct ReceiverRow {
    /// Name.
    pub name: String,
    /// Notifications delivered.
    pub delivered: u64,
    /// Attempts that failed.
    pub failed_attempts: u64,
    /// Given up after max age.
    pub gave_up: u64,
    /// The last error.
    pub last_error: Option<String>,
}

/// Alert state for the dashboard.
pub trait AlertsView: Send + Sync {
    /// The alerts firing now, as components' status reads them.
    fn firing(&self) -> Vec<weir_core::status::FiringAlert>;
    /// Every rule.
    fn rules(&self) -> Vec<RuleRow>;
    /// Pending and firing alerts.
    fn active(&self) -> Vec<AlertRow>;
    /// Every silence.
    fn silences(&self) -> Vec<SilenceRow>;
    /// Each receiver's deliveries.
    fn receivers(&self) -> Vec<ReceiverRow>;
    /// The newest state changes.
    fn history(&self, limit: usize) -> BoxFuture<'_, Vec<HistoryRow>>;
    /// Silences alerts whose label `name` equals `value` for `duration`.
    fn create_silence(
        &self,
        matchers: Vec<(String, String)>,
        duration: std::time::Duration,
        created_by: String,
        comment: String,
    ) -> BoxFuture<'_, Result<String, String>>;
    /// Ends a silence now.
    fn expire_silence(&self, id: String) -> BoxFuture<'_, Result<(), String>>;
}

/// No alerting: the view of a weir without rules.
pub struct NoAlerts;

impl AlertsView for NoAlerts {
    fn firing(&self) -> Vec<weir_core::status::FiringAlert> {
        Vec::new()
    }
    fn rules(&self) -> Vec<RuleRow> {
        Vec::new()
    }
    fn active(&self) -> Vec<AlertRow> {
        Vec::new()
    }
    fn silences(&self) -> Vec<SilenceRow> {
        Vec::new()
    }
    fn receivers(&self) -> Vec<ReceiverRow> {
        Vec::new()
    }
    fn history(&self, _limit: usize) -> BoxFuture<'_, Vec<HistoryRow>> {
        Box::pin(async { Vec::new() })
    }
    fn create_silence(
        &self,
        _matchers: Vec<(String, String)>,
        _duration: std::time::Duration,
        _created_by: String,
        _comment: String,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async { Err("alerting is not configured".to_string()) })
    }
    fn expire_silence(&self, _id: String) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("alerting is not configured".to_string()) })
    }
}
