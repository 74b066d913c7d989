//! The silences service: the silences in force, kept in the database and
//! in memory, made and expired through the API. Muting itself is decided
//! where notifications are planned; this only says what mutes what.

use crate::clock::Clock;
use crate::silence::{Matcher, Silence, SilenceError};
use crate::webhook::LabelSet;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use weir_store::db::{Database, SilenceRow};

/// Why a silence could not be made or expired.
#[derive(Debug, thiserror::Error)]
pub enum SilencesError {
    /// The silence is not valid.
    #[error(transparent)]
    Invalid(#[from] SilenceError),
    /// No such silence.
    #[error("no silence with id {0}")]
    Unknown(String),
    /// The database failed.
    #[error("cannot store the silence: {0}")]
    Store(#[from] weir_store::StoreError),
}

/// Every silence, newest changes told through a generation count.
pub struct Silences {
    db: Database,
    clock: Clock,
    all: RwLock<Vec<Silence>>,
    /// Bumped on every change, so the dispatcher knows to plan again.
    generation: AtomicU64,
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

impl Silences {
    /// Loads the stored silences; rows that no longer check are skipped.
    pub async fn load(db: Database, clock: Clock) -> Result<Self, weir_store::StoreError> {
        let all = db
            .silences()
            .await?
            .into_iter()
            .filter_map(silence_from_row)
            .collect();
        Ok(Silences {
            db,
            clock,
            all: RwLock::new(all),
            generation: AtomicU64::new(0),
        })
    }

    /// Reads the silences again from the database: in a cluster another
    /// node may have added or expired one. Bumps the generation when they
    /// changed, so the dispatcher plans again.
    pub async fn refresh(&self) -> Result<(), weir_store::StoreError> {
        let mut fresh: Vec<Silence> = self
            .db
            .silences()
            .await?
            .into_iter()
            .filter_map(silence_from_row)
            .collect();
        fresh.sort_by(|a, b| a.id.cmp(&b.id));
        let mut all = self.all.write();
        let mut held = all.clone();
        held.sort_by(|a, b| a.id.cmp(&b.id));
        let same = held.len() == fresh.len()
            && held
                .iter()
                .zip(&fresh)
                .all(|(a, b)| a.id == b.id && a.updated_at == b.updated_at);
        if !same {
            *all = fresh;
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Every silence, newest first.
    pub fn list(&self) -> Vec<Silence> {
        let mut all = self.all.read().clone();
        all.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        all
    }

    /// The ids of the active silences that mute `labels`.
    pub fn silenced_by(&self, labels: &LabelSet, now: u64) -> Vec<String> {
        self.all
            .read()
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// How many changes there have been since start.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn keep(&self, silence: Silence) {
        let mut all = self.all.write();
        all.retain(|s| s.id != silence.id);
        all.push(silence);
        drop(all);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Creates a silence (or replaces the one with `id`).
    pub async fn put(
        &self,
        id: Option<String>,
        matchers: Vec<Matcher>,
        starts_at: u64,
        ends_at: u64,
        created_by: String,
        comment: String,
    ) -> Result<Silence, SilencesError> {
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let silence = Silence::new(
            id,
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment,
            self.clock.now(),
        )?;
        self.db.save_silence(&row(&silence)).await?;
        self.keep(silence.clone());
        Ok(silence)
    }

    /// Ends a silence now.
    pub async fn expire(&self, id: &str) -> Result<Silence, SilencesError> {
        let now = self.clock.now();
        let mut silence = self
            .all
            .read()
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| SilencesError::Unknown(id.to_string()))?;
        if silence.ends_at > now {
            silence.ends_at = now.max(silence.starts_at);
            silence.updated_at = now;
            self.db.save_silence(&row(&silence)).await?;
            self.keep(silence.clone());
        }
        Ok(silence)
    }

    /// Forgets silences that ended before `before` (the database prunes
    /// its own rows).
    pub fn forget_ended_before(&self, before: u64) {
        self.all.write().retain(|s| s.ends_at >= before);
    }
}
