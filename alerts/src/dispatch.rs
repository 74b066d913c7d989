//! The dispatcher: remembers what each (receiver, group) was last told,
//! plans what is due (see [`crate::grouping`]) when alerts, silences or a
//! group timer ask, and hands the decisions to the outbox.

use crate::grouping::{AlertInstance, GroupId, GroupLog, plan};
use crate::outbox::Outbox;
use crate::routing::Routing;
use crate::silence::Silence;
use crate::silence_service::Silences;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use weir_store::db::{Database, Notification, NotificationLogRow};

/// Decides notifications and records them in the outbox.
pub struct Dispatcher {
    routing: Arc<Routing>,
    external_url: String,
    outbox: Arc<Outbox>,
    logs: Mutex<HashMap<GroupId, GroupLog>>,
    dispatching: tokio::sync::Mutex<()>,
    /// Set when alerts or rules changed since the last plan.
    changed: AtomicBool,
    /// The silences' generation the last plan saw.
    silences_seen: AtomicU64,
    /// When the next group timer falls due, Unix nanoseconds.
    next_due: AtomicU64,
}

impl Dispatcher {
    /// Loads what each group was last told.
    pub async fn load(
        db: &Database,
        routing: Arc<Routing>,
        external_url: String,
        outbox: Arc<Outbox>,
    ) -> Result<Self, weir_store::StoreError> {
        let logs = read_logs(db).await?;
        Ok(Dispatcher {
            routing,
            external_url,
            outbox,
            logs: Mutex::new(logs),
            dispatching: tokio::sync::Mutex::new(()),
            changed: AtomicBool::new(true),
            silences_seen: AtomicU64::new(0),
            next_due: AtomicU64::new(0),
        })
    }

    /// Reads again what each group was last told: a node that becomes the
    /// cluster's rule leader continues from what the last leader recorded.
    pub async fn refresh(&self, db: &Database) -> Result<(), weir_store::StoreError> {
        let _one_at_a_time = self.dispatching.lock().await;
        *self.logs.lock() = read_logs(db).await?;
        self.mark_changed();
        Ok(())
    }

    /// Alerts changed state (or rules changed): the next
    /// [`Dispatcher::take_due`] says so even if no timer is due.
    pub fn mark_changed(&self) {
        self.changed.store(true, Ordering::SeqCst);
    }

    /// When the next group timer falls due, Unix nanoseconds.
    pub fn next_due(&self) -> u64 {
        self.next_due.load(Ordering::SeqCst)
    }

    /// Whether a plan is due at `now`: alerts or `silences` changed, or a
    /// group timer fell due. Asking clears the change, so calling this
    /// often is cheap; a failed [`Dispatcher::dispatch`] marks it again.
    pub fn take_due(&self, now: u64, silences: &Silences) -> bool {
        if self.routing.receivers.is_empty() {
            return false;
        }
        let generation = silences.generation();
        if self.silences_seen.swap(generation, Ordering::SeqCst) != generation {
            self.mark_changed();
        }
        self.changed.swap(false, Ordering::SeqCst) || now >= self.next_due.load(Ordering::SeqCst)
    }

    /// Decides what is due at `now` and records it durably. When the
    /// database refuses, nothing is marked as told and the same decision is
    /// made again at the next dispatch.
    pub async fn dispatch(&self, alerts: Vec<AlertInstance>, silences: &[Silence], now: u64) {
        let _one_at_a_time = self.dispatching.lock().await;
        let plan = {
            let logs = self.logs.lock();
            plan(
                &alerts,
                silences,
                &self.routing,
                &logs,
                &self.external_url,
                now,
            )
        };
        // A silence that ends or starts changes what is muted.
        let silence_edges = silences
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
        if let Err(e) = self.outbox.record(&notifications).await {
            tracing::warn!(error = %e, "cannot record notifications; they will be decided again");
            self.mark_changed();
            return;
        }
        let mut logs = self.logs.lock();
        for p in planned {
            logs.insert((p.receiver, p.group_key), p.log);
        }
    }
}

async fn read_logs(db: &Database) -> Result<HashMap<GroupId, GroupLog>, weir_store::StoreError> {
    Ok(db
        .notification_log()
        .await?
        .into_iter()
        .filter_map(|row| {
            let log: GroupLog = serde_json::from_str(&row.entry).ok()?;
            Some(((row.receiver, row.group_key), log))
        })
        .collect())
}
