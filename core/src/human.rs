//! Values as people write them: durations in the unit that fits, ratios as
//! percentages, counts with their noun. One place, so the dashboard, the
//! API's status reasons and alert values read the same.

/// What a number measures, for [`value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Milliseconds.
    Millis,
    /// A share in [0, 1].
    Ratio,
    /// Records (messages, items) waiting.
    Records,
    /// A number without a unit.
    #[default]
    Plain,
}

/// `850 ms`, `12.5 s`, `2.0 min`, `1.5 h`, `3.0 d`.
pub fn duration_ms(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms >= 86_400_000.0 {
        format!("{:.1} d", ms / 86_400_000.0)
    } else if ms >= 3_600_000.0 {
        format!("{:.1} h", ms / 3_600_000.0)
    } else if ms >= 60_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else if ms >= 10_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `22 %`, `2.5 %`, `<0.1 %`.
pub fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1 %".into()
    } else if p >= 10.0 || p == 0.0 || p.fract() == 0.0 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// `950`, `12.3k`, `4.5M`, `0.125`: a number at any scale.
pub fn count(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.1}G", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else if a >= 100.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else if a >= 1.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.3}")
    }
}

/// A value in its unit.
pub fn value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Millis => duration_ms(v),
        Unit::Ratio => percent(v),
        Unit::Records => {
            let noun = if v == 1.0 { "record" } else { "records" };
            format!("{} {noun}", count(v))
        }
        Unit::Plain => count(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_unit_that_fits() {
        assert_eq!(duration_ms(3.25), "3.2 ms");
        assert_eq!(duration_ms(850.0), "850 ms");
        assert_eq!(duration_ms(2500.0), "2.5 s");
        assert_eq!(duration_ms(45_000.0), "45 s");
        assert_eq!(duration_ms(120_000.0), "2.0 min");
        assert_eq!(duration_ms(94_669.018_5), "1.6 min");
        assert_eq!(duration_ms(5_400_000.0), "1.5 h");
        assert_eq!(duration_ms(-5.0), "0.0 ms");
    }

    #[test]
    fn ratios_read_as_percent_and_counts_with_their_noun() {
        assert_eq!(percent(0.2361), "24 %");
        assert_eq!(percent(0.05), "5 %");
        assert_eq!(percent(0.025), "2.5 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.000_5), "<0.1 %");
        assert_eq!(value(1.0, Unit::Records), "1 record");
        assert_eq!(value(12_345.0, Unit::Records), "12.3k records");
        assert_eq!(value(0.5, Unit::Plain), "0.500");
        assert_eq!(value(74.8, Unit::Plain), "74.8");
    }
}
