//! Alert state and history rows. The alerts crate owns their meaning; the
//! store keeps the state as the JSON it is given.

use super::sql::sql;
use super::{Database, nanos};
use crate::StoreError;

/// One (rule, component, partition) alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Rule key (`group/alert`).
    pub rule: String,
    /// Component.
    pub component: String,
    /// Shard or partition; empty for series without one.
    pub partition: String,
    /// The state, as JSON.
    pub state: String,
    /// The last value compared.
    pub value: Option<f64>,
    /// When it was last evaluated, Unix nanoseconds.
    pub evaluated_at: u64,
}

/// A state change worth keeping in history.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    /// Rule key.
    pub rule: String,
    /// Component.
    pub component: String,
    /// Shard or partition; empty for series without one.
    pub partition: String,
    /// `pending`, `firing`, `resolved`.
    pub transition: String,
    /// The value when it changed.
    pub value: Option<f64>,
    /// When, Unix nanoseconds.
    pub at: u64,
}

impl Database {
    /// Every stored alert state.
    pub async fn alert_states(&self) -> Result<Vec<AlertRow>, StoreError> {
        let rows: Vec<(String, String, String, String, Option<f64>, i64)> = self
            .fetch_all(sql(
                "SELECT rule, component, partition_id, state, value, evaluated_at FROM alert_states",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .map(|(rule, component, partition, state, value, at)| AlertRow {
                rule,
                component,
                partition,
                state,
                value,
                evaluated_at: at as u64,
            })
            .collect())
    }

    /// Saves states and appends history in one transaction.
    pub async fn save_alerts(
        &self,
        rows: &[AlertRow],
        changes: &[AlertChange],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for r in rows {
            tx.execute(
                sql("INSERT INTO alert_states (rule, component, partition_id, state, value, evaluated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (rule, component, partition_id) DO UPDATE SET state = excluded.state, \
                     value = excluded.value, evaluated_at = excluded.evaluated_at")
                .bind(&r.rule)
                .bind(&r.component)
                .bind(&r.partition)
                .bind(&r.state)
                .bind(r.value)
                .bind(nanos(r.evaluated_at)),
            )
            .await?;
        }
        for c in changes {
            tx.execute(
                sql("INSERT INTO alert_history (rule, component, partition_id, transition, value, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&c.rule)
                .bind(&c.component)
                .bind(&c.partition)
                .bind(&c.transition)
                .bind(c.value)
                .bind(nanos(c.at)),
            )
            .await?;
        }
        tx.commit().await
    }

    /// The newest history entries, newest first.
    pub async fn alert_history(&self, limit: usize) -> Result<Vec<AlertChange>, StoreError> {
        let limit = limit.clamp(1, 10_000) as i64;
        let rows: Vec<(String, String, String, String, Option<f64>, i64)> = self
            .fetch_all(
                sql("SELECT rule, component, partition_id, transition, value, at FROM alert_history \
                     ORDER BY at DESC LIMIT $1")
                .bind(limit),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(rule, component, partition, transition, value, at)| AlertChange {
                    rule,
                    component,
                    partition,
                    transition,
                    value,
                    at: at as u64,
                },
            )
            .collect())
    }
}
