//! Sparklines and time-series line charts.

use super::escape;
use std::fmt::Write;
use weir_core::human::{self, Unit};

/// A tiny line of `values` (oldest first), `width`×`height` pixels, with a
/// text alternative for screen readers.
pub fn sparkline(values: &[f64], width: u32, height: u32, label: &str) -> String {
    let mut out = format!(
        r#"<svg class="spark" role="img" aria-label="{}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#,
        escape(label)
    );
    if values.len() >= 2 {
        let max = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
        let step = f64::from(width) / (values.len() - 1) as f64;
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = i as f64 * step;
                let y = f64::from(height) - 1.0 - (v / max) * (f64::from(height) - 2.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// Counts as bars, one per bucket, each with its count and time in a
/// tooltip: the hit histogram above search results.
pub fn bars(counts: &[u64], labels: &[String], width: u32, height: u32, label: &str) -> String {
    let mut out = format!(
        r#"<svg class="bars" role="img" aria-label="{}" width="100%" height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="none">"#,
        escape(label)
    );
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let slot = f64::from(width) / counts.len().max(1) as f64;
    for (i, n) in counts.iter().enumerate() {
        let h = (*n as f64 / max * f64::from(height - 1)).max(if *n > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}: {n}</title></rect>"#,
            i as f64 * slot + 0.5,
            f64::from(height) - h,
            (slot - 1.0).max(0.5),
            escape(labels.get(i).map_or("", String::as_str))
        );
    }
    out.push_str("</svg>");
    out
}

/// One named series of (Unix nanoseconds, value) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, oldest first.
    pub points: Vec<(u64, f64)>,
}

/// Distinct, colour-blind-safe line colours (Okabe–Ito).
const COLOURS: [&str; 7] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c959f",
];

/// A round step near `raw`: 1, 2 or 5 times a power of ten.
fn round_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let decade = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * decade)
}

/// Round steps for a duration axis, in milliseconds: what a person counts
/// in (1, 2, 5 … ms; 1, 2, 5, 10, 15, 30 s; 1, 2, 5, 10, 15, 30 min; hours).
fn round_duration_step(raw_ms: f64) -> f64 {
    const STEPS: [f64; 14] = [
        1_000.0,
        2_000.0,
        5_000.0,
        10_000.0,
        15_000.0,
        30_000.0,
        60_000.0,
        120_000.0,
        300_000.0,
        600_000.0,
        900_000.0,
        1_800_000.0,
        3_600_000.0,
        7_200_000.0,
    ];
    if raw_ms < 1_000.0 {
        return round_step(raw_ms);
    }
    STEPS
        .into_iter()
        .find(|s| *s >= raw_ms)
        .unwrap_or_else(|| (raw_ms / 3_600_000.0).ceil() * 3_600_000.0)
}

/// The y axis of values up to `max`: a round step and its tick count, with
/// the top tick at or above `max`.
pub fn y_ticks(max: f64, unit: Unit) -> (f64, usize) {
    let raw = (max / 4.0).max(f64::EPSILON);
    let step = match unit {
        Unit::Millis => round_duration_step(raw),
        // Counts step by whole numbers.
        Unit::Plain | Unit::Records => round_step(raw).max(1.0),
        Unit::Ratio => round_step(raw),
    };
    let ticks = ((max / step).ceil() as usize).max(1);
    (step, ticks)
}

/// Round steps for a time axis, in nanoseconds.
fn time_step(span_ns: u64) -> u64 {
    const MINUTE: u64 = 60_000_000_000;
    let raw = span_ns / 5;
    [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440]
        .into_iter()
        .map(|m| m * MINUTE)
        .find(|s| *s >= raw)
        .unwrap_or(1440 * MINUTE)
}

/// The chart's data for the browser (uPlot's aligned arrays): x in Unix
/// seconds, one value array per series with nulls where it has no point.
fn chart_data(series: &[Series], unit: Unit) -> String {
    let mut xs: Vec<u64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let columns: Vec<Vec<Option<f64>>> = series
        .iter()
        .map(|s| {
            let at: std::collections::HashMap<u64, f64> = s.points.iter().copied().collect();
            xs.iter().map(|x| at.get(x).copied()).collect()
        })
        .collect();
    serde_json::json!({
        "unit": match unit {
            Unit::Millis => "ms",
            Unit::Ratio => "ratio",
            Unit::Records => "records",
            Unit::Plain => "number",
        },
        "x": xs.iter().map(|x| x / 1_000_000_000).collect::<Vec<_>>(),
        "series": series
            .iter()
            .zip(columns)
            .enumerate()
            .map(|(i, (s, values))| serde_json::json!({
                "name": s.name,
                "colour": COLOURS[i % COLOURS.len()],
                "values": values,
            }))
            .collect::<Vec<_>>(),
    })
    .to_string()
}

/// A line chart of `series` over [`from`, `to`), with a y axis from zero in
/// round steps of `unit`, a title, a legend and round time ticks. The figure
/// carries its data (`data-chart`) for the interactive chart the script
/// draws over it; the SVG is what a browser without JavaScript shows.
pub fn line_chart(title: &str, unit: Unit, series: &[Series], from: u64, to: u64) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 210.0, 70.0, 26.0, 10.0, 14.0);
    let plot_w = w - left - right;
    let plot_h = h - bottom - top;
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (step, ticks) = y_ticks(if max > 0.0 { max } else { 1.0 }, unit);
    let top_value = step * ticks as f64;
    let span = to.saturating_sub(from).max(1) as f64;
    let x = |t: u64| left + (t.saturating_sub(from) as f64 / span) * plot_w;
    let y = |v: f64| top + plot_h - (v / top_value) * plot_h;
    let mut out = format!(
        r#"<figure class="chart" data-chart="{}" data-from="{}" data-to="{}"><figcaption>{}</figcaption><svg role="img" aria-label="{} chart" viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet">"#,
        escape(&chart_data(series, unit)),
        from / 1_000_000_000,
        to / 1_000_000_000,
        escape(title),
        escape(title)
    );
    for i in 0..=ticks {
        let v = step * i as f64;
        let yy = y(v);
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{}" y="{:.1}" text-anchor="end" font-size="13">{}</text>"##,
            w - right,
            left - 6.0,
            yy + 4.0,
            if v == 0.0 {
                "0".to_string()
            } else {
                escape(&human::value(v, unit))
            }
        );
    }
    let t_step = time_step(to.saturating_sub(from));
    let mut t = from.div_ceil(t_step) * t_step;
    while t < to {
        let xx = x(t);
        // A label whose text would run past the plot's right edge is left out.
        if xx + 20.0 <= w - 2.0 {
            let _ = write!(
                out,
                r#"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{:.1}" class="grid"/><text x="{xx:.1}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
                top + plot_h,
                h - 7.0,
                time_of_day(t)
            );
        }
        t += t_step;
    }
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        if points.len() == 1 {
            let _ = write!(
                out,
                r#"<circle cx="{}" r="2.5" fill="{colour}"/>"#,
                points[0].replace(',', "\" cy=\"")
            );
        } else if !points.is_empty() {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"><title>{}</title></polyline>"#,
                points.join(" "),
                escape(&s.name)
            );
        }
    }
    out.push_str("</svg>");
    if series.is_empty() || series.iter().all(|s| s.points.is_empty()) {
        out.push_str(r#"<p class="muted">No data in this window.</p>"#);
    } else {
        out.push_str(r#"<ul class="legend">"#);
        for (i, s) in series.iter().enumerate() {
            let _ = write!(
                out,
                r#"<li><span class="swatch" style="background:{}"></span>{}</li>"#,
                COLOURS[i % COLOURS.len()],
                escape(&s.name)
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</figure>");
    out
}

/// HH:MM (UTC) of Unix nanoseconds.
pub fn time_of_day(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    format!("{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_their_box() {
        let s = sparkline(&[0.0, 5.0, 10.0], 60, 20, "invocations");
        assert!(s.contains(r#"points="0.0,19.0 30.0,10.0 60.0,1.0""#), "{s}");
        assert!(s.contains(r#"aria-label="invocations""#));
        assert!(!sparkline(&[3.0], 60, 20, "x").contains("polyline"));
    }

    #[test]
    fn line_charts_draw_each_series_with_a_legend() {
        let s = Series {
            name: "p99".into(),
            points: vec![(0, 1.0), (60_000_000_000, 2.0)],
        };
        let svg = line_chart("Duration", Unit::Millis, &[s], 0, 120_000_000_000);
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("p99"));
        assert!(svg.contains("00:01"));
        assert!(svg.contains(">2.0 ms<"), "round ticks in the unit: {svg}");
        assert!(svg.contains("data-chart=\""));
        let empty = line_chart("Lag", Unit::Millis, &[], 0, 1);
        assert!(empty.contains("No data in this window."));
    }

    #[test]
    fn ticks_are_round_in_the_units_people_count_in() {
        assert_eq!(y_ticks(74.8, Unit::Plain), (20.0, 4));
        assert_eq!(y_ticks(3.0, Unit::Plain), (1.0, 3));
        // 100.8k ms of lag: ticks every 30 s up to 2 min.
        assert_eq!(y_ticks(100_800.0, Unit::Millis), (30_000.0, 4));
        assert_eq!(y_ticks(850.0, Unit::Millis), (500.0, 2));
        assert_eq!(human::value(120_000.0, Unit::Millis), "2.0 min");
        assert_eq!(time_step(3_600_000_000_000), 15 * 60_000_000_000);
    }
}
