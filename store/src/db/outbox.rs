//! The notification log and the durable outbox. A notification is decided
//! and written together with the log entry that records it, in one
//! transaction, so a crash either loses the decision (and it is made again)
//! or keeps both (and it is delivered, once).

use super::sql::{Sql, Tx, sql};
use super::{Database, nanos};
use crate::StoreError;

/// What one (receiver, group) was last told, as JSON the alerts crate owns.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationLogRow {
    /// Receiver name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// The log entry, as JSON.
    pub entry: String,
}

/// A decided notification: the log entry to store and, when something is to
/// be sent, the webhook body.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The log entry it updates.
    pub log: NotificationLogRow,
    /// The body to deliver; `None` records the decision without sending.
    pub body: Option<String>,
    /// When it was decided, Unix nanoseconds.
    pub at: u64,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxRow {
    /// Delivery order.
    pub id: i64,
    /// Receiver name.
    pub receiver: String,
    /// Group key.
    pub group_key: String,
    /// The webhook body.
    pub body: String,
    /// When it was decided, Unix nanoseconds.
    pub created_at: u64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, Unix nanoseconds.
    pub next_attempt_at: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered or given up on.
    pub finished_at: Option<u64>,
}

/// How delivery of one notification ended, or why it will be tried again.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// 2xx.
    Delivered,
    /// Not delivered; tried again at `next_attempt_at`.
    Retry {
        /// The error.
        error: String,
        /// When, Unix nanoseconds.
        next_attempt_at: u64,
    },
    /// Not delivered and too old to try again: recorded as failed.
    GaveUp {
        /// The last error.
        error: String,
    },
}

type OutboxTuple = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
);

fn outbox_row(t: OutboxTuple) -> OutboxRow {
    OutboxRow {
        id: t.0,
        receiver: t.1,
        group_key: t.2,
        body: t.3,
        created_at: t.4 as u64,
        state: t.5,
        attempts: t.6.clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: t.7 as u64,
        last_error: t.8,
        finished_at: t.9.map(|v| v as u64),
    }
}

/// The columns [`outbox_row`] reads, in its order.
macro_rules! outbox_columns {
    () => {
        "id, receiver, group_key, body, created_at, state, attempts, next_attempt_at, last_error, finished_at"
    };
}

impl Database {
    /// Every notification log entry.
    pub async fn notification_log(&self) -> Result<Vec<NotificationLogRow>, StoreError> {
        let rows: Vec<(String, String, String)> = self
            .fetch_all(sql(
                "SELECT receiver, group_key, entry FROM notification_log",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(receiver, group_key, entry)| NotificationLogRow {
                receiver,
                group_key,
                entry,
            })
            .collect())
    }

    /// Stores log entries and queues their bodies in one transaction.
    pub async fn record_notifications(
        &self,
        notifications: &[Notification],
    ) -> Result<(), StoreError> {
        if notifications.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for n in notifications {
            tx.execute(
                sql(
                    "INSERT INTO notification_log (receiver, group_key, entry) VALUES ($1, $2, $3) \
                     ON CONFLICT (receiver, group_key) DO UPDATE SET entry = excluded.entry",
                )
                .bind(&n.log.receiver)
                .bind(&n.log.group_key)
                .bind(&n.log.entry),
            )
            .await?;
            if let Some(body) = &n.body {
                tx.execute(
                    sql("INSERT INTO outbox (receiver, group_key, body, created_at, state, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, 'pending', $4)")
                    .bind(&n.log.receiver)
                    .bind(&n.log.group_key)
                    .bind(body)
                    .bind(nanos(n.at)),
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Notifications not yet delivered or given up on, oldest first.
    pub async fn pending_notifications(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = limit.clamp(1, 10_000) as i64;
        let rows: Vec<OutboxTuple> = self
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    outbox_columns!(),
                    " FROM outbox WHERE state = 'pending' ORDER BY id LIMIT $1"
                ))
                .bind(limit),
            )
            .await?;
        Ok(rows.into_iter().map(outbox_row).collect())
    }

    /// The newest notifications in `state` (any state when `None`), newest
    /// first.
    pub async fn notifications(
        &self,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = limit.clamp(1, 10_000) as i64;
        let rows: Vec<OutboxTuple> = self
            .fetch_all(
                sql(concat!(
                    "SELECT ",
                    outbox_columns!(),
                    " FROM outbox WHERE ($1 = '' OR state = $1) ORDER BY id DESC LIMIT $2"
                ))
                .bind(state.unwrap_or(""))
                .bind(limit),
            )
            .await?;
        Ok(rows.into_iter().map(outbox_row).collect())
    }

    /// Records how an attempt to deliver notification `id` ended.
    pub async fn record_delivery(
        &self,
        id: i64,
        outcome: &DeliveryOutcome,
        now: u64,
    ) -> Result<(), StoreError> {
        self.execute(delivery_update(id, outcome, now)).await?;
        Ok(())
    }

    /// Claims notification `id` for one delivery attempt, if it is still
    /// pending and due at `now`. On PostgreSQL its row stays locked
    /// (`FOR UPDATE SKIP LOCKED`) until [`Claim::finish`], so of several
    /// nodes delivering the same outbox exactly one sends it; `None` when
    /// another node holds it or it is no longer due. SQLite has one node:
    /// nothing is locked, so a claim never holds its write lock during the
    /// delivery.
    pub async fn claim_notification(&self, id: i64, now: u64) -> Result<Option<Claim>, StoreError> {
        let due = sql(
            "SELECT id FROM outbox WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $2",
        )
        .bind(id)
        .bind(nanos(now));
        match self {
            Database::Sqlite(_) => {
                let row: Option<(i64,)> = self.fetch_optional(due).await?;
                Ok(row.map(|_| Claim { id, tx: None }))
            }
            Database::Postgres(_) => {
                let mut tx = self.begin_write().await?;
                let locked = sql("SELECT id FROM outbox WHERE id = $1 AND state = 'pending' \
                                  AND next_attempt_at <= $2 FOR UPDATE SKIP LOCKED")
                .bind(id)
                .bind(nanos(now));
                let row: Option<(i64,)> = tx.fetch_optional(locked).await?;
                Ok(row.map(|_| Claim { id, tx: Some(tx) }))
            }
        }
    }

    /// How many notifications each receiver has in each state.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .fetch_all(sql(
                "SELECT receiver, state, COUNT(*) FROM outbox GROUP BY receiver, state ORDER BY receiver, state",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(r, s, n)| (r, s, n.max(0) as u64))
            .collect())
    }

    /// Deletes delivered and failed notifications that finished before
    /// `before`, and alert history older than it. Pending ones stay.
    pub async fn prune_alerting(&self, before: u64) -> Result<u64, StoreError> {
        let before = nanos(before);
        let mut removed = 0;
        for statement in [
            "DELETE FROM outbox WHERE state <> 'pending' AND finished_at < $1",
            "DELETE FROM alert_history WHERE at < $1",
            "DELETE FROM silences WHERE ends_at < $1",
        ] {
            removed += self.execute(sql(statement).bind(before)).await?;
        }
        Ok(removed)
    }
}

/// A notification claimed by this node for one delivery attempt
/// ([`Database::claim_notification`]); dropped unfinished, the claim lapses
/// and the row is pending as before.
pub struct Claim {
    id: i64,
    tx: Option<Tx>,
}

impl Claim {
    /// Records how the attempt ended and releases the claim.
    pub async fn finish(
        self,
        db: &Database,
        outcome: &DeliveryOutcome,
        now: u64,
    ) -> Result<(), StoreError> {
        match self.tx {
            Some(mut tx) => {
                tx.execute(delivery_update(self.id, outcome, now)).await?;
                tx.commit().await
            }
            None => db.record_delivery(self.id, outcome, now).await,
        }
    }
}

fn delivery_update(id: i64, outcome: &DeliveryOutcome, now: u64) -> Sql<'static> {
    let (state, error, next, finished) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", None, 0, Some(nanos(now))),
        DeliveryOutcome::Retry {
            error,
            next_attempt_at,
        } => (
            "pending",
            Some(error.clone()),
            nanos(*next_attempt_at),
            None,
        ),
        DeliveryOutcome::GaveUp { error } => ("failed", Some(error.clone()), 0, Some(nanos(now))),
    };
    sql("UPDATE outbox SET state = $1, attempts = attempts + 1, last_error = COALESCE($2, last_error), \
         next_attempt_at = $3, finished_at = $4 WHERE id = $5")
    .bind(state)
    .bind(error)
    .bind(next)
    .bind(finished)
    .bind(id)
}
