//! The durable outbox: decided notifications are written to the database
//! (with the log entry that decided them, in one transaction) and delivered
//! from there, per group oldest first, each retried with backoff until it
//! is delivered or older than its receiver's `max_age`.

use crate::clock::Clock;
use crate::routing::Routing;
use crate::webhook_client::{ClientError, WebhookClient};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use weir_store::db::{Database, DeliveryOutcome, Notification, OutboxRow};

/// The first retry waits about this long; each further one twice as long.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// The longest the delivery loop sleeps without looking at the outbox.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// Most outbox rows one pass reads.
const PASS_ROWS: usize = 1_000;

/// How long to wait before attempt `attempt + 1` (1-based `attempt` just
/// failed): exponential, capped, with jitter in [half, whole] so receivers
/// coming back are not hit by every sender at once. `jitter` is in [0, 1).
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let full = FIRST_RETRY.saturating_mul(1 << exponent).min(MAX_RETRY);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// One receiver's delivery record since start.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReceiverStats {
    /// Notifications delivered (2xx).
    pub delivered: u64,
    /// Attempts that failed (and were retried or given up).
    pub failed_attempts: u64,
    /// Notifications given up on after `max_age`.
    pub gave_up: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When, Unix nanoseconds.
    pub last_error_at: Option<u64>,
}

/// Records and delivers notifications.
pub struct Outbox {
    db: Database,
    routing: Arc<Routing>,
    client: WebhookClient,
    clock: Clock,
    stats: Mutex<BTreeMap<String, ReceiverStats>>,
    wake: tokio::sync::Notify,
}

impl Outbox {
    /// Sets up delivery to the receivers of `routing`.
    pub fn new(db: Database, routing: Arc<Routing>, clock: Clock) -> Result<Self, ClientError> {
        let client = WebhookClient::new(&routing.receivers)?;
        let stats = routing
            .receivers
            .iter()
            .map(|r| (r.name.clone(), ReceiverStats::default()))
            .collect();
        Ok(Outbox {
            db,
            routing,
            client,
            clock,
            stats: Mutex::new(stats),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Writes decided notifications (and their log entries) in one
    /// transaction, and wakes delivery.
    pub async fn record(
        &self,
        notifications: &[Notification],
    ) -> Result<(), weir_store::StoreError> {
        self.db.record_notifications(notifications).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Each receiver's delivery record since start.
    pub fn stats(&self) -> BTreeMap<String, ReceiverStats> {
        self.stats.lock().clone()
    }

    /// The receivers and routes.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Delivers the outbox until `stop` turns true.
    pub async fn deliver(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let next = self.deliver_due().await;
            let wait = next.unwrap_or(LOOK_EVERY).min(LOOK_EVERY);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One pass: sends what is due; returns how long until the next is due.
    async fn deliver_due(self: &Arc<Self>) -> Option<Duration> {
        let pending = match self.db.pending_notifications(PASS_ROWS).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notification outbox; will try again");
                return Some(Duration::from_secs(1));
            }
        };
        let now = self.clock.now();
        let mut heads = HashSet::new();
        let mut sends = tokio::task::JoinSet::new();
        let mut next_due: Option<u64> = None;
        for row in pending {
            // Only the oldest of a group goes out, so a receiver never hears
            // a group's states out of order.
            if !heads.insert((row.receiver.clone(), row.group_key.clone())) {
                continue;
            }
            if row.next_attempt_at > now {
                next_due =
                    Some(next_due.map_or(row.next_attempt_at, |n| n.min(row.next_attempt_at)));
                continue;
            }
            let this = self.clone();
            sends.spawn(async move { this.attempt(row).await });
        }
        let sent_any = !sends.is_empty();
        while sends.join_next().await.is_some() {}
        if sent_any {
            // Something finished: look again at once for the group's next.
            return Some(Duration::ZERO);
        }
        next_due.map(|t| Duration::from_nanos(t.saturating_sub(self.clock.now())))
    }

    /// One delivery attempt of one row, and its outcome recorded.
    async fn attempt(&self, row: OutboxRow) {
        let now = self.clock.now();
        // In a cluster every node delivers: the claim makes one of them the
        // sender of this row.
        let claim = match self.db.claim_notification(row.id, now).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a notification; will try again");
                return;
            }
        };
        let outcome = match self.routing.receiver(&row.receiver) {
            None => DeliveryOutcome::GaveUp {
                error: format!(
                    "receiver {:?} is no longer configured; add it back to [[alerts.receivers]] to deliver its notifications",
                    row.receiver
                ),
            },
            Some(receiver) => match self.client.post(receiver, &row.body).await {
                Ok(()) => DeliveryOutcome::Delivered,
                Err(error) => {
                    let age = now.saturating_sub(row.created_at);
                    if age >= receiver.max_age.as_nanos() as u64 {
                        DeliveryOutcome::GaveUp {
                            error: format!(
                                "{error} (gave up after {} attempts over {})",
                                row.attempts + 1,
                                humantime::format_duration(Duration::from_secs(
                                    age / 1_000_000_000
                                ))
                            ),
                        }
                    } else {
                        let delay = retry_delay(row.attempts + 1, fastrand::f64());
                        DeliveryOutcome::Retry {
                            error,
                            next_attempt_at: now + delay.as_nanos() as u64,
                        }
                    }
                }
            },
        };
        self.count(&row, &outcome, now);
        if let Err(e) = claim.finish(&self.db, &outcome, now).await {
            // The row stays pending and is tried again; a delivered one may
            // then arrive twice, which beats never.
            tracing::warn!(error = %e, "cannot record a delivery outcome");
        }
    }

    fn count(&self, row: &OutboxRow, outcome: &DeliveryOutcome, now: u64) {
        let mut stats = self.stats.lock();
        let s = stats.entry(row.receiver.clone()).or_default();
        match outcome {
            DeliveryOutcome::Delivered => s.delivered += 1,
            DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::GaveUp { error } => {
                s.failed_attempts += 1;
                s.last_error = Some(error.clone());
                s.last_error_at = Some(now);
                if matches!(outcome, DeliveryOutcome::GaveUp { .. }) {
                    s.gave_up += 1;
                    tracing::error!(receiver = %row.receiver, group = %row.group_key, %error, "notification given up");
                } else {
                    tracing::warn!(receiver = %row.receiver, %error, "notification not delivered; will retry");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        assert_eq!(retry_delay(1, 0.999_999).as_millis(), 999);
        assert_eq!(retry_delay(1, 0.0), Duration::from_millis(500));
        assert_eq!(retry_delay(4, 0.0), Duration::from_secs(4));
        assert!(retry_delay(4, 0.5) > retry_delay(4, 0.1));
        assert_eq!(retry_delay(30, 0.999_999).as_secs(), 299);
        assert_eq!(retry_delay(u32::MAX, 0.0), MAX_RETRY / 2);
    }
}
