//! How numbers and times read on the pages.

/// `2026-11-23 18:04:05 UTC`.
pub fn timestamp(unix_nanos: u64) -> String {
    if unix_nanos == 0 {
        return "—".into();
    }
    let t = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos),
    )
    .to_string();
    format!("{} UTC", t.trim_end_matches('Z').replace('T', " "))
}

/// `HH:MM:SS.mmm` UTC, for timelines.
pub fn clock(unix_nanos: u64) -> String {
    let ms = unix_nanos / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (ms / 3_600_000) % 24,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// `12s ago`, `3m ago`, `2h ago`.
pub fn ago(unix_nanos: u64, now: u64) -> String {
    if unix_nanos == 0 {
        return "never".into();
    }
    let s = now.saturating_sub(unix_nanos) / 1_000_000_000;
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// A rate as a percentage, `—` without data.
pub fn percent(rate: Option<f64>) -> String {
    match rate {
        None => "—".into(),
        Some(r) if r > 0.0 && r < 0.001 => "<0.1%".into(),
        Some(r) => format!("{:.1}%", r * 100.0),
    }
}

/// Milliseconds, readable at any scale.
pub fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(v) if v >= 60_000.0 => format!("{:.1} min", v / 60_000.0),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) if v >= 10.0 => format!("{v:.0} ms"),
        Some(v) => format!("{v:.1} ms"),
    }
}

/// A value with its unit, for lag.
pub fn lag(value: f64, unit: &str) -> String {
    if unit == "ms" {
        millis(Some(value))
    } else {
        format!("{} {unit}", super::charts::compact(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_a_person_writes() {
        assert_eq!(
            timestamp(1_544_712_660_000_000_000),
            "2018-12-13 14:51:00 UTC"
        );
        assert_eq!(clock(3_723_004_000_000), "01:02:03.004");
        assert_eq!(ago(0, 5), "never");
        assert_eq!(ago(1_000_000_000, 181_000_000_000), "3m ago");
        assert_eq!(percent(Some(0.1234)), "12.3%");
        assert_eq!(percent(None), "—");
        assert_eq!(millis(Some(2500.0)), "2.50 s");
        assert_eq!(millis(Some(3.25)), "3.2 ms");
        assert_eq!(lag(120_000.0, "ms"), "2.0 min");
        assert_eq!(lag(42.0, "records"), "42 records");
    }
}
