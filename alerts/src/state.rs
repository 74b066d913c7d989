//! The alert state machine: inactive → pending → firing → resolved, held for
//! `for` before firing and `keep_firing_for` before resolving. Pure: the
//! caller passes the verdict and `now`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where one (rule, component) alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum AlertState {
    /// The condition does not hold.
    #[default]
    Inactive,
    /// The condition holds, not yet for `for`.
    Pending {
        /// When it started holding, Unix nanoseconds.
        since: u64,
    },
    /// The condition has held for `for`.
    Firing {
        /// When it fired.
        since: u64,
        /// When the condition last held.
        last_held: u64,
    },
    /// It fired and then stopped holding.
    Resolved {
        /// When it had started firing.
        #[serde(default)]
        since: u64,
        /// When it resolved.
        at: u64,
    },
}

/// What a step changed that a receiver may need to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing to tell.
    None,
    /// Started pending (not notified).
    Pending,
    /// Started firing: notify.
    Fired,
    /// Stopped firing: notify if the receiver wants resolved alerts.
    Resolved,
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

impl AlertState {
    /// One evaluation. `verdict` is `None` when the rule gives no verdict (too
    /// few invocations): the state is kept as it is.
    pub fn step(
        self,
        verdict: Option<bool>,
        now: u64,
        hold_for: Duration,
        keep_firing_for: Duration,
    ) -> (AlertState, Transition) {
        self.step_observed(verdict, now, now, hold_for, keep_firing_for)
    }

    /// [`AlertState::step`] for a condition that started holding at
    /// `held_since` (the newest reading's timestamp, never after `now`):
    /// `for` counts from the reading, as Prometheus counts it from the
    /// scrape, so an evaluation that comes late does not add to it.
    pub fn step_observed(
        self,
        verdict: Option<bool>,
        now: u64,
        held_since: u64,
        hold_for: Duration,
        keep_firing_for: Duration,
    ) -> (AlertState, Transition) {
        let Some(holds) = verdict else {
            return (self, Transition::None);
        };
        match (self, holds) {
            (AlertState::Inactive | AlertState::Resolved { .. }, true) => {
                let since = held_since.min(now);
                if now.saturating_sub(since) >= nanos(hold_for) {
                    (
                        AlertState::Firing {
                            since: now,
                            last_held: now,
                        },
                        Transition::Fired,
                    )
                } else {
                    (AlertState::Pending { since }, Transition::Pending)
                }
            }
            (AlertState::Pending { since }, true) => {
                if now.saturating_sub(since) >= nanos(hold_for) {
                    (
                        AlertState::Firing {
                            since: now,
                            last_held: now,
                        },
                        Transition::Fired,
                    )
                } else {
                    (self, Transition::None)
                }
            }
            (AlertState::Pending { .. }, false) => (AlertState::Inactive, Transition::None),
            (AlertState::Firing { since, .. }, true) => (
                AlertState::Firing {
                    since,
                    last_held: now,
                },
                Transition::None,
            ),
            (AlertState::Firing { since, last_held }, false) => {
                if now.saturating_sub(last_held) >= nanos(keep_firing_for) {
                    (
                        AlertState::Resolved { since, at: now },
                        Transition::Resolved,
                    )
                } else {
                    (self, Transition::None)
                }
            }
            (AlertState::Inactive | AlertState::Resolved { .. }, false) => (self, Transition::None),
        }
    }

    /// Whether receivers consider it active.
    pub fn is_firing(&self) -> bool {
        matches!(self, AlertState::Firing { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const FOR: Duration = Duration::from_secs(120);
    const KEEP: Duration = Duration::ZERO;

    #[test]
    fn for_holds_before_firing_and_a_blip_resets_it() {
        let (s, t) = AlertState::Inactive.step(Some(true), 0, FOR, KEEP);
        assert_eq!(
            (s, t),
            (AlertState::Pending { since: 0 }, Transition::Pending)
        );
        let (s, t) = s.step(Some(true), 119 * S, FOR, KEEP);
        assert_eq!(t, Transition::None);
        assert_eq!(s, AlertState::Pending { since: 0 });
        // The condition lapses before `for`: back to inactive, nothing sent.
        let (s, t) = s.step(Some(false), 120 * S, FOR, KEEP);
        assert_eq!((s, t), (AlertState::Inactive, Transition::None));
        let (s, _) = s.step(Some(true), 130 * S, FOR, KEEP);
        let (s, t) = s.step(Some(true), 250 * S, FOR, KEEP);
        assert_eq!(t, Transition::Fired);
        assert!(s.is_firing());
    }

    #[test]
    fn firing_resolves_once_and_keep_firing_for_delays_it() {
        let firing = AlertState::Firing {
            since: 0,
            last_held: 10 * S,
        };
        let keep = Duration::from_secs(30);
        let (s, t) = firing.step(Some(false), 20 * S, FOR, keep);
        assert_eq!((s, t), (firing, Transition::None));
        let (s, t) = s.step(Some(false), 40 * S, FOR, keep);
        assert_eq!(
            (s, t),
            (
                AlertState::Resolved {
                    since: 0,
                    at: 40 * S
                },
                Transition::Resolved
            )
        );
        let (_, t) = s.step(Some(false), 50 * S, FOR, keep);
        assert_eq!(t, Transition::None, "resolved is told once");
    }

    #[test]
    fn no_verdict_keeps_the_state_and_zero_for_fires_at_once() {
        let pending = AlertState::Pending { since: 5 };
        assert_eq!(
            pending.step(None, 500 * S, FOR, KEEP),
            (pending, Transition::None)
        );
        let (s, t) = AlertState::Inactive.step(Some(true), 7, Duration::ZERO, KEEP);
        assert_eq!(
            (s, t),
            (
                AlertState::Firing {
                    since: 7,
                    last_held: 7
                },
                Transition::Fired
            )
        );
    }

    #[test]
    fn for_counts_from_the_reading_not_from_the_evaluation() {
        const FOR2: Duration = Duration::from_secs(2);
        // A reading taken at 10 s, evaluated at 10.3 s: pending since 10 s.
        let (s, t) =
            AlertState::Inactive.step_observed(Some(true), 10_300_000_000, 10 * S, FOR2, KEEP);
        assert_eq!(
            (s, t),
            (AlertState::Pending { since: 10 * S }, Transition::Pending)
        );
        // 12 s is two seconds after the reading: it fires there, not at 12.3 s.
        let (s, t) = s.step_observed(Some(true), 12 * S, 12 * S, FOR2, KEEP);
        assert_eq!(t, Transition::Fired);
        assert!(s.is_firing());
        // A reading that arrived later than `for` fires at once; a reading
        // stamped in the future counts from now.
        let (_, t) = AlertState::Inactive.step_observed(Some(true), 20 * S, 17 * S, FOR2, KEEP);
        assert_eq!(t, Transition::Fired);
        let (s, _) = AlertState::Inactive.step_observed(Some(true), 20 * S, 90 * S, FOR2, KEEP);
        assert_eq!(s, AlertState::Pending { since: 20 * S });
    }

    #[test]
    fn state_survives_serialization_for_the_database() {
        let s = AlertState::Firing {
            since: 1,
            last_held: 2,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(text, r#"{"state":"firing","since":1,"last_held":2}"#);
        assert_eq!(serde_json::from_str::<AlertState>(&text).unwrap(), s);
    }
}
