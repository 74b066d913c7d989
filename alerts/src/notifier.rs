//! The notifier: turns decided notifications into outbox rows (with the log
//! entry that decided them, in one transaction), delivers the outbox with
//! retries, and keeps the silences.

use crate::notify::{AlertInstance, GroupId, GroupLog, plan};
use crate::routing::{Receiver, Routing};
use crate::silence::{Matcher, Silence, SilenceError};
use crate::webhook::signature;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use weir_store::Store;
use weir_store::db::{DeliveryOutcome, Notification, NotificationLogRow, OutboxRow, SilenceRow};

/// The first retry waits about this long; each further one twice as long.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How long delivered and failed notifications, alert history and expired
/// silences are kept.
pub const KEEP_ALERTING_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

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

/// Why an API request about silences was refused.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The silence is not valid.
    #[error(transparent)]
    Silence(#[from] SilenceError),
    /// No such silence.
    #[error("no silence with id {0}")]
    UnknownSilence(String),
    /// The database failed.
    #[error("cannot store the silence: {0}")]
    Store(#[from] weir_store::StoreError),
    /// An HTTP client for a receiver could not be set up.
    #[error("receiver {receiver:?}: cannot set up its HTTP client: {reason}")]
    Client {
        /// The receiver.
        receiver: String,
        /// Why.
        reason: String,
    },
}

/// Decides, records and delivers notifications.
pub struct Notifier {
    store: Arc<Store>,
    routing: Routing,
    external_url: String,
    logs: Mutex<HashMap<GroupId, GroupLog>>,
    silences: RwLock<Vec<Silence>>,
    stats: Mutex<BTreeMap<String, ReceiverStats>>,
    dispatching: tokio::sync::Mutex<()>,
    /// Set when alerts, silences or rules changed since the last plan.
    changed: AtomicBool,
    /// When the next group timer falls due, Unix nanoseconds.
    next_due: AtomicU64,
    wake: tokio::sync::Notify,
    /// One client per receiver, in the order of `routing.receivers`: each
    /// trusts its own extra CAs.
    clients: Vec<reqwest::Client>,
}

/// The HTTP client for one receiver: the system's CAs plus its `ca_file`.
fn client_for(receiver: &Receiver) -> Result<reqwest::Client, NotifierError> {
    let failed = |reason: String| NotifierError::Client {
        receiver: receiver.name.clone(),
        reason,
    };
    let mut builder = reqwest::Client::builder();
    if let Some(pem) = &receiver.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| failed(e.to_string()))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| failed(causes(&e)))
}

/// An error with its causes, so "error sending request" says why (a
/// refused connection, an unknown certificate issuer).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn silence_from_row(row: SilenceRow) -> Option<Silence> {
    let matchers: Vec<Matcher> = serde_json::from_str(&row.matchers).ok()?;
    Silence::new(
        row.id,
        matchers,
        row.starts_at,
        row.ends_at,
        row.created_by,
        row.comment,
        row.updated_at,
    )
    .ok()
}

impl Notifier {
    /// Loads the notification log and the silences.
    pub async fn load(
        store: Arc<Store>,
        routing: Routing,
        external_url: String,
    ) -> Result<Arc<Self>, NotifierError> {
        let clients = routing
            .receivers
            .iter()
            .map(client_for)
            .collect::<Result<Vec<_>, _>>()?;
        let logs = store
            .db
            .notification_log()
            .await?
            .into_iter()
            .filter_map(|row| {
                let log: GroupLog = serde_json::from_str(&row.entry).ok()?;
                Some(((row.receiver, row.group_key), log))
            })
            .collect();
        let silences = store
            .db
            .silences()
            .await?
            .into_iter()
            .filter_map(silence_from_row)
            .collect();
        let stats = routing
            .receivers
            .iter()
            .map(|r| (r.name.clone(), ReceiverStats::default()))
            .collect();
        Ok(Arc::new(Notifier {
            store,
            routing,
            external_url,
            logs: Mutex::new(logs),
            silences: RwLock::new(silences),
            stats: Mutex::new(stats),
            dispatching: tokio::sync::Mutex::new(()),
            changed: AtomicBool::new(true),
            next_due: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            clients,
        }))
    }

    /// The base URL alerts link back to.
    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// The receivers and routes.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Tells the notifier that alerts changed state (or rules changed), so
    /// the next [`Notifier::dispatch`] plans even if no timer is due.
    pub fn mark_changed(&self) {
        self.changed.store(true, Ordering::SeqCst);
    }

    /// Decides what is due at `now`, records it durably, and wakes delivery.
    /// `alerts` is only called when something changed or a group timer is
    /// due, so calling this often is cheap. When the database refuses,
    /// nothing is marked as told and the same decision is made again at the
    /// next call.
    pub async fn dispatch(&self, alerts: impl FnOnce() -> Vec<AlertInstance>, now: u64) {
        if self.routing.receivers.is_empty() {
            return;
        }
        let _one_at_a_time = self.dispatching.lock().await;
        if !self.changed.swap(false, Ordering::SeqCst) && now < self.next_due.load(Ordering::SeqCst)
        {
            return;
        }
        let alerts = alerts();
        let plan = {
            let logs = self.logs.lock();
            let silences = self.silences.read();
            plan(
                &alerts,
                &silences,
                &self.routing,
                &logs,
                &self.external_url,
                now,
            )
        };
        // A silence that ends or starts changes what is muted.
        let silence_edges = self
            .silences
            .read()
            .iter()
            .flat_map(|s| [s.starts_at, s.ends_at])
            .filter(|t| *t > now)
            .min();
        let next = [plan.next_due, silence_edges].into_iter().flatten().min();
        self.next_due
            .store(next.unwrap_or(u64::MAX), Ordering::SeqCst);
        let planned = plan.notifications;
        if planned.is_empty() {
            return;
        }
        let notifications: Vec<Notification> = planned
            .iter()
            .map(|p| Notification {
                log: NotificationLogRow {
                    receiver: p.receiver.clone(),
                    group_key: p.group_key.clone(),
                    entry: serde_json::to_string(&p.log).expect("logs serialize"),
                },
                body: p
                    .body
                    .as_ref()
                    .map(|b| serde_json::to_string(b).expect("bodies serialize")),
                at: now,
            })
            .collect();
        if let Err(e) = self.store.db.record_notifications(&notifications).await {
            tracing::warn!(error = %e, "cannot record notifications; they will be decided again");
            self.mark_changed();
            return;
        }
        let mut logs = self.logs.lock();
        for p in planned {
            logs.insert((p.receiver, p.group_key), p.log);
        }
        drop(logs);
        self.wake.notify_one();
    }

    /// Delivers the outbox until `stop` turns true: per group, oldest first,
    /// each retried with backoff until it is delivered or older than the
    /// receiver's `max_age`.
    pub async fn deliver(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let next = self.deliver_due().await;
            let wait = next
                .unwrap_or(Duration::from_secs(5))
                .min(Duration::from_secs(5));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One pass: sends what is due; returns how long until the next is due.
    async fn deliver_due(self: &Arc<Self>) -> Option<Duration> {
        let pending = match self.store.db.pending_notifications(1_000).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notification outbox; will try again");
                return Some(Duration::from_secs(1));
            }
        };
        let now = now_nanos();
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
        next_due.map(|t| Duration::from_nanos(t.saturating_sub(now_nanos())))
    }

    async fn attempt(&self, row: OutboxRow) {
        let now = now_nanos();
        let outcome = match self.routing.receiver(&row.receiver) {
            None => DeliveryOutcome::GaveUp {
                error: format!(
                    "receiver {:?} is no longer configured; add it back to [[alerts.receivers]] to deliver its notifications",
                    row.receiver
                ),
            },
            Some(receiver) => match self.post(receiver, &row.body).await {
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
        {
            let mut stats = self.stats.lock();
            let s = stats.entry(row.receiver.clone()).or_default();
            match &outcome {
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
        if let Err(e) = self.store.db.record_delivery(row.id, &outcome, now).await {
            // The row stays pending and is tried again; a delivered one may
            // then arrive twice, which beats never.
            tracing::warn!(error = %e, "cannot record a delivery outcome");
        }
    }

    async fn post(&self, receiver: &Receiver, body: &str) -> Result<(), String> {
        let client = self
            .routing
            .receivers
            .iter()
            .position(|r| r.name == receiver.name)
            .and_then(|i| self.clients.get(i))
            .ok_or_else(|| format!("receiver {:?} has no HTTP client", receiver.name))?;
        let mut request = client
            .post(&receiver.url)
            .timeout(receiver.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::USER_AGENT,
                concat!("weir/", env!("CARGO_PKG_VERSION")),
            )
            .body(body.to_string());
        if let Some(secret) = &receiver.hmac_secret {
            request = request.header("X-Weir-Signature", signature(secret, body.as_bytes()));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("{} answered {}", receiver.url, response.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "{} did not answer within {}",
                receiver.url,
                humantime::format_duration(receiver.timeout)
            )),
            Err(e) => Err(format!("cannot reach {}: {}", receiver.url, causes(&e))),
        }
    }

    /// Each receiver's delivery record since start.
    pub fn stats(&self) -> BTreeMap<String, ReceiverStats> {
        self.stats.lock().clone()
    }

    /// Every silence, newest first.
    pub fn silences(&self) -> Vec<Silence> {
        let mut all = self.silences.read().clone();
        all.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        all
    }

    /// The ids of the active silences that mute `labels`.
    pub fn silenced_by(&self, labels: &crate::webhook::LabelSet, now: u64) -> Vec<String> {
        self.silences
            .read()
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Creates a silence (or replaces the one with `id`).
    pub async fn put_silence(
        &self,
        id: Option<String>,
        matchers: Vec<Matcher>,
        starts_at: u64,
        ends_at: u64,
        created_by: String,
        comment: String,
    ) -> Result<Silence, NotifierError> {
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let silence = Silence::new(
            id,
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment,
            now_nanos(),
        )?;
        self.store.db.save_silence(&row(&silence)).await?;
        let mut all = self.silences.write();
        all.retain(|s| s.id != silence.id);
        all.push(silence.clone());
        drop(all);
        self.mark_changed();
        Ok(silence)
    }

    /// Ends a silence now.
    pub async fn expire_silence(&self, id: &str) -> Result<Silence, NotifierError> {
        let now = now_nanos();
        let mut silence = self
            .silences
            .read()
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| NotifierError::UnknownSilence(id.to_string()))?;
        if silence.ends_at > now {
            silence.ends_at = now.max(silence.starts_at);
            silence.updated_at = now;
            self.store.db.save_silence(&row(&silence)).await?;
            let mut all = self.silences.write();
            all.retain(|s| s.id != silence.id);
            all.push(silence.clone());
            drop(all);
            self.mark_changed();
        }
        Ok(silence)
    }

    /// Drops what has been kept long enough: finished notifications, alert
    /// history and silences that ended more than a week ago.
    pub async fn prune(&self, now: u64) {
        let before = now.saturating_sub(KEEP_ALERTING_HISTORY.as_nanos() as u64);
        match self.store.db.prune_alerting(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "pruned old notifications, alert history and silences"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot prune alerting history; will try again"),
        }
        self.silences.write().retain(|s| s.ends_at >= before);
    }
}

fn row(s: &Silence) -> SilenceRow {
    SilenceRow {
        id: s.id.clone(),
        matchers: serde_json::to_string(&s.matchers).expect("matchers serialize"),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        updated_at: s.updated_at,
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
