//! Sparklines and time-series line charts.

use super::{compact, escape};
use std::fmt::Write;

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

/// A line chart of `series` over [`from`, `to`), with a y axis from zero,
/// a title, a legend and time ticks.
pub fn line_chart(title: &str, unit: &str, series: &[Series], from: u64, to: u64) -> String {
    let (w, h, left, bottom, top) = (640.0, 200.0, 48.0, 22.0, 8.0);
    let plot_w = w - left - 8.0;
    let plot_h = h - bottom - top;
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let max = if max <= 0.0 { 1.0 } else { max * 1.1 };
    let span = to.saturating_sub(from).max(1) as f64;
    let x = |t: u64| left + (t.saturating_sub(from) as f64 / span) * plot_w;
    let y = |v: f64| top + plot_h - (v / max) * plot_h;
    let mut out = format!(
        r#"<figure class="chart"><figcaption>{}</figcaption><svg role="img" aria-label="{} chart" viewBox="0 0 {w} {h}" preserveAspectRatio="xMidYMid meet">"#,
        escape(title),
        escape(title)
    );
    // Axes and y ticks.
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"##,
            w - 8.0,
            left - 4.0,
            yy + 3.0,
            escape(&format!("{}{}", compact(v), if i == 4 { unit } else { "" }))
        );
    }
    for i in 0..=4 {
        let t = from + (span * f64::from(i) / 4.0) as u64;
        let label = time_of_day(t);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="10">{label}</text>"#,
            x(t),
            h - 6.0
        );
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
        let svg = line_chart("Duration", " ms", &[s], 0, 120_000_000_000);
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("p99"));
        assert!(svg.contains("00:01"));
        let empty = line_chart("Lag", " ms", &[], 0, 1);
        assert!(empty.contains("No data in this window."));
    }
}
