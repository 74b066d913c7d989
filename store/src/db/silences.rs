//! Silences as stored. The alerts crate owns their meaning; matchers are
//! kept as the JSON it gives.

use super::sql::sql;
use super::{Database, nanos};
use crate::StoreError;

/// One silence.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRow {
    /// Its id.
    pub id: String,
    /// Label matchers, as JSON.
    pub matchers: String,
    /// When it starts muting, Unix nanoseconds.
    pub starts_at: u64,
    /// When it stops muting, Unix nanoseconds.
    pub ends_at: u64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was created or last changed, Unix nanoseconds.
    pub updated_at: u64,
}

impl Database {
    /// Every stored silence.
    pub async fn silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        let rows: Vec<(String, String, i64, i64, String, String, i64)> = self
            .fetch_all(sql(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at \
                 FROM silences ORDER BY starts_at",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, matchers, starts_at, ends_at, created_by, comment, updated_at)| SilenceRow {
                    id,
                    matchers,
                    starts_at: starts_at as u64,
                    ends_at: ends_at as u64,
                    created_by,
                    comment,
                    updated_at: updated_at as u64,
                },
            )
            .collect())
    }

    /// Creates or replaces a silence.
    pub async fn save_silence(&self, s: &SilenceRow) -> Result<(), StoreError> {
        self.execute(
            sql("INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, \
                 starts_at = excluded.starts_at, ends_at = excluded.ends_at, created_by = excluded.created_by, \
                 comment = excluded.comment, updated_at = excluded.updated_at")
            .bind(&s.id)
            .bind(&s.matchers)
            .bind(nanos(s.starts_at))
            .bind(nanos(s.ends_at))
            .bind(&s.created_by)
            .bind(&s.comment)
            .bind(nanos(s.updated_at)),
        )
        .await?;
        Ok(())
    }
}
