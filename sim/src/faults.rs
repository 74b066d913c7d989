//! Faults on demand: `NAME[@START[+DURATION]]`, e.g. `lag@30s+2m`. Without
//! a start the fault begins at once; without a duration it lasts to the end.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Consumers fall behind: iterator age and record lag climb.
    Lag,
    /// A burst of failed invocations.
    Errors,
    /// Every invocation starts cold.
    ColdStarts,
    /// A consumer stops invoking at all.
    Stall,
    /// One record fails every attempt, is retried, then goes to a dead-letter queue.
    Poison,
    /// The downstream store throttles: retries, slow and failed writes.
    Throttle,
}

impl FaultKind {
    /// Every fault, as named on the command line.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Lag,
        FaultKind::Errors,
        FaultKind::ColdStarts,
        FaultKind::Stall,
        FaultKind::Poison,
        FaultKind::Throttle,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Lag => "lag",
            FaultKind::Errors => "errors",
            FaultKind::ColdStarts => "cold-starts",
            FaultKind::Stall => "stall",
            FaultKind::Poison => "poison",
            FaultKind::Throttle => "throttle",
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What.
    pub kind: FaultKind,
    /// When it starts, from the start of the run.
    pub start: Duration,
    /// How long it lasts; `None` to the end of the run.
    pub duration: Option<Duration>,
}

/// A fault that cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("--fault {given:?}: {why}")]
pub struct FaultError {
    given: String,
    why: String,
}

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why: String| FaultError {
            given: text.to_string(),
            why,
        };
        let (name, timing) = match text.split_once('@') {
            Some((n, t)) => (n, Some(t)),
            None => (text, None),
        };
        let kind = FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                err(format!(
                    "unknown fault {name:?}; the faults are {}",
                    names.join(", ")
                ))
            })?;
        let parse = |d: &str| {
            humantime::parse_duration(d)
                .map_err(|_| err(format!("{d:?} is not a duration; write it like 30s or 2m")))
        };
        let (start, duration) = match timing {
            None => (Duration::ZERO, None),
            Some(t) => match t.split_once('+') {
                Some((s, d)) => (parse(s)?, Some(parse(d)?)),
                None => (parse(t)?, None),
            },
        };
        Ok(Fault {
            kind,
            start,
            duration,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}",
            self.kind.name(),
            humantime::format_duration(self.start)
        )?;
        if let Some(d) = self.duration {
            write!(f, "+{}", humantime::format_duration(d))?;
        }
        Ok(())
    }
}

/// The faults of a run.
#[derive(Debug, Clone, Default)]
pub struct Schedule(pub Vec<Fault>);

impl Schedule {
    /// Whether `kind` is active `elapsed` into the run.
    pub fn active(&self, kind: FaultKind, elapsed: Duration) -> bool {
        self.0.iter().any(|f| {
            f.kind == kind && elapsed >= f.start && f.duration.is_none_or(|d| elapsed < f.start + d)
        })
    }

    /// How long `kind` has been active, if it is.
    pub fn active_for(&self, kind: FaultKind, elapsed: Duration) -> Option<Duration> {
        self.0
            .iter()
            .filter(|f| {
                f.kind == kind
                    && elapsed >= f.start
                    && f.duration.is_none_or(|d| elapsed < f.start + d)
            })
            .map(|f| elapsed - f.start)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_start_and_duration() {
        let f: Fault = "lag@30s+2m".parse().unwrap();
        assert_eq!(f.kind, FaultKind::Lag);
        assert_eq!(f.start, Duration::from_secs(30));
        assert_eq!(f.duration, Some(Duration::from_secs(120)));
        let f: Fault = "stall".parse().unwrap();
        assert_eq!((f.start, f.duration), (Duration::ZERO, None));
        let f: Fault = "cold-starts@1m".parse().unwrap();
        assert_eq!((f.kind, f.duration), (FaultKind::ColdStarts, None));
        assert!(
            "lagg"
                .parse::<Fault>()
                .unwrap_err()
                .to_string()
                .contains("the faults are")
        );
        assert!("lag@soon".parse::<Fault>().is_err());
        assert_eq!(
            "errors@10s+5s".parse::<Fault>().unwrap().to_string(),
            "errors@10s+5s"
        );
    }

    #[test]
    fn active_between_start_and_end() {
        let s = Schedule(vec!["errors@10s+5s".parse().unwrap()]);
        let at = Duration::from_secs;
        assert!(!s.active(FaultKind::Errors, at(9)));
        assert!(s.active(FaultKind::Errors, at(10)));
        assert!(s.active(FaultKind::Errors, at(14)));
        assert!(!s.active(FaultKind::Errors, at(15)));
        assert!(!s.active(FaultKind::Lag, at(12)));
        assert_eq!(s.active_for(FaultKind::Errors, at(12)), Some(at(2)));
    }
}
