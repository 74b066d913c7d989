//! Time values: Unix nanoseconds, user-typed times and durations.

use std::time::Duration;

/// Nanoseconds since the Unix epoch.
pub type UnixNanos = u64;

/// Why a user-typed time or duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Neither RFC 3339, Unix nanoseconds nor relative to now.
    #[error(
        "`{0}` is not a time: use now, now-1h, RFC 3339 (2026-01-02T15:04:05Z) or Unix nanoseconds"
    )]
    BadTime(String),
    /// Not a duration like `15m`.
    #[error("`{0}` is not a duration: use a number with a unit, like 30s, 15m, 7d")]
    BadDuration(String),
}

/// The wall clock in Unix nanoseconds: the one place weir reads it, so pure
/// code takes `now` as a parameter and tests pass their own.
pub fn now_unix_nanos() -> UnixNanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as UnixNanos)
}

/// Earliest timestamp accepted from producers: 1970 is what a zero or unset
/// clock looks like, so anything before 2000 is treated as impossible.
const EARLIEST_PLAUSIBLE: UnixNanos = 946_684_800_000_000_000;
/// How far in the future a timestamp may be before it counts as impossible.
const MAX_FUTURE: UnixNanos = 366 * 24 * 3600 * 1_000_000_000;

/// Whether a producer's timestamp is possible: after 2000 and no more than a
/// year after `now`. Clock skew of minutes or hours is tolerated.
pub fn is_plausible_timestamp(t: UnixNanos, now: UnixNanos) -> bool {
    t >= EARLIEST_PLAUSIBLE && t <= now.saturating_add(MAX_FUTURE)
}

/// Parses a duration like `15m`, `7d`, `250ms`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, TimeError> {
    humantime::parse_duration(text.trim()).map_err(|_| TimeError::BadDuration(text.to_string()))
}

/// Parses RFC 3339 or integer Unix nanoseconds.
pub fn parse_time(text: &str) -> Result<UnixNanos, TimeError> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u64>() {
        return Ok(n);
    }
    let t =
        humantime::parse_rfc3339_weak(text).map_err(|_| TimeError::BadTime(text.to_string()))?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| TimeError::BadTime(text.to_string()))?;
    u64::try_from(since.as_nanos()).map_err(|_| TimeError::BadTime(text.to_string()))
}

/// [`parse_time`], and times relative to `now` as Grafana writes them:
/// `now`, `now-1h`, `now-15m`, `now+5m`.
pub fn parse_time_at(text: &str, now: UnixNanos) -> Result<UnixNanos, TimeError> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("now") else {
        return parse_time(trimmed);
    };
    let bad = || TimeError::BadTime(text.to_string());
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(now);
    }
    let (sign, amount) = rest.split_at(1);
    let by = humantime::parse_duration(amount.trim()).map_err(|_| bad())?;
    let by = u64::try_from(by.as_nanos()).map_err(|_| bad())?;
    match sign {
        "-" => Ok(now.saturating_sub(by)),
        "+" => Ok(now.saturating_add(by)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_relative_to_now() {
        let now = 10_000_000_000_000;
        assert_eq!(parse_time_at("now", now), Ok(now));
        assert_eq!(parse_time_at(" now-1h ", now), Ok(now - 3_600_000_000_000));
        assert_eq!(parse_time_at("now+5m", now), Ok(now + 300_000_000_000));
        assert_eq!(parse_time_at("now-1h30m", now), Ok(now - 5_400_000_000_000));
        assert!(parse_time_at("now*2", now).is_err());
        assert!(parse_time_at("now-soon", now).is_err());
        assert_eq!(
            parse_time_at("1544712660000000000", now),
            Ok(1_544_712_660_000_000_000)
        );
    }

    #[test]
    fn plausible_timestamps() {
        let now = 1_800_000_000_000_000_000;
        assert!(is_plausible_timestamp(1_544_712_660_000_000_000, now));
        assert!(!is_plausible_timestamp(0, now));
        assert!(!is_plausible_timestamp(now + 2 * MAX_FUTURE, now));
    }

    #[test]
    fn parses_times_and_durations() {
        assert_eq!(
            parse_time("1544712660000000000"),
            Ok(1_544_712_660_000_000_000)
        );
        assert_eq!(
            parse_time("2018-12-13T14:51:00Z"),
            Ok(1_544_712_660_000_000_000)
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("soon").is_err());
    }
}
