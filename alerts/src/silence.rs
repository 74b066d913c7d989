//! Silences: label matchers with a time span that mute notifications (never
//! evaluation). Matchers take Alertmanager's API shape.

use crate::webhook::LabelSet;
use serde::{Deserialize, Serialize};

/// One label matcher: `name = value`, `!=`, `=~` or `!~` (regexes are
/// anchored, as in Alertmanager).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// The label.
    pub name: String,
    /// The value or regex.
    pub value: String,
    /// Whether `value` is a regex.
    #[serde(default)]
    pub is_regex: bool,
    /// Whether the matcher selects equal (true) or different (false) values.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// A silence.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// All must match for the silence to apply.
    pub matchers: Vec<Matcher>,
    /// Unix nanoseconds.
    #[serde(skip)]
    pub starts_at: u64,
    /// Unix nanoseconds.
    #[serde(skip)]
    pub ends_at: u64,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Unix nanoseconds.
    #[serde(skip)]
    pub updated_at: u64,
    /// Compiled regexes, one per matcher (`None` for plain matchers).
    #[serde(skip)]
    compiled: Vec<Option<regex::Regex>>,
}

/// Whether a silence mutes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// Mutes.
    Active,
    /// Ended.
    Expired,
}

/// Why a silence cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct SilenceError(pub String);

impl Silence {
    /// Checks and compiles a silence.
    pub fn new(
        id: String,
        matchers: Vec<Matcher>,
        starts_at: u64,
        ends_at: u64,
        created_by: String,
        comment: String,
        updated_at: u64,
    ) -> Result<Self, SilenceError> {
        if matchers.is_empty() {
            return Err(SilenceError(
                "a silence needs at least one matcher, e.g. {\"name\": \"alertname\", \"value\": \"ConsumerLagging\"}".into(),
            ));
        }
        if ends_at <= starts_at {
            return Err(SilenceError("endsAt must be after startsAt".into()));
        }
        let mut compiled = Vec::with_capacity(matchers.len());
        for m in &matchers {
            if m.name.is_empty() {
                return Err(SilenceError("every matcher needs a label name".into()));
            }
            compiled.push(if m.is_regex {
                Some(
                    regex::Regex::new(&format!("^(?:{})$", m.value)).map_err(|e| {
                        SilenceError(format!(
                            "matcher {}: {:?} is not a regex: {e}",
                            m.name, m.value
                        ))
                    })?,
                )
            } else {
                None
            });
        }
        if matchers
            .iter()
            .zip(&compiled)
            .all(|(m, re)| matcher_holds(m, re.as_ref(), ""))
        {
            return Err(SilenceError(
                "these matchers match alerts without any labels, i.e. everything; name at least one label value".into(),
            ));
        }
        Ok(Silence {
            id,
            matchers,
            starts_at,
            ends_at,
            created_by,
            comment,
            updated_at,
            compiled,
        })
    }

    /// Where it stands at `now`.
    pub fn state(&self, now: u64) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether it mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &LabelSet, now: u64) -> bool {
        self.state(now) == SilenceState::Active
            && self.matchers.iter().zip(&self.compiled).all(|(m, re)| {
                matcher_holds(
                    m,
                    re.as_ref(),
                    labels.get(&m.name).map_or("", String::as_str),
                )
            })
    }
}

/// A missing label reads as the empty string, as in Alertmanager.
fn matcher_holds(m: &Matcher, re: Option<&regex::Regex>, value: &str) -> bool {
    let equal = match re {
        Some(re) => re.is_match(value),
        None => m.value == value,
    };
    equal == m.is_equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn silence(matchers: Vec<Matcher>) -> Result<Silence, SilenceError> {
        Silence::new(
            "s".into(),
            matchers,
            100,
            200,
            "me".into(),
            "why".into(),
            100,
        )
    }

    #[test]
    fn mutes_only_while_active_and_only_what_matches() {
        let s = silence(vec![
            m("alertname", "ConsumerLagging", false, true),
            m("component", "page-.*", true, true),
        ])
        .unwrap();
        let lagging = labels(&[
            ("alertname", "ConsumerLagging"),
            ("component", "page-view-counter"),
        ]);
        assert!(s.mutes(&lagging, 150));
        assert!(!s.mutes(&lagging, 99), "not yet");
        assert!(!s.mutes(&lagging, 200), "expired on its own");
        assert_eq!(s.state(250), SilenceState::Expired);
        let other = labels(&[("alertname", "ConsumerLagging"), ("component", "kv-writer")]);
        assert!(!s.mutes(&other, 150));
        let not = silence(vec![
            m("alertname", "ConsumerLagging", false, true),
            m("component", "kv-writer", false, false),
        ])
        .unwrap();
        assert!(not.mutes(&lagging, 150) && !not.mutes(&other, 150));
    }

    #[test]
    fn refuses_silences_that_cannot_work() {
        assert!(silence(vec![]).is_err());
        assert!(silence(vec![m("component", "(", true, true)]).is_err());
        assert!(
            silence(vec![m("component", ".*", true, true)]).is_err(),
            "mutes everything"
        );
        assert!(
            silence(vec![m("component", "kv-writer", false, false)]).is_err(),
            "so does !="
        );
        assert!(
            Silence::new(
                "s".into(),
                vec![m("a", "b", false, true)],
                5,
                5,
                String::new(),
                String::new(),
                0
            )
            .is_err()
        );
    }
}
