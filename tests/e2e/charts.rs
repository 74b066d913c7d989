//! The component page's charts in a real headless Chromium: uPlot draws
//! over the server's SVG, hovering shows the values under the pointer in
//! their unit, and dragging across a chart zooms the page into that
//! stretch (a custom from/to the picker then shows).

use crate::browser::Browser;
use crate::harness::{Weir, wait_for};
use crate::otlp::{span, spans_request, trace_id};
use std::time::Duration;
use weir_core::now_unix_nanos;

#[test]
fn hovering_a_chart_shows_values_and_dragging_across_it_zooms() {
    let weir = Weir::start("");
    let now = now_unix_nanos();
    let minute = 60_000_000_000;
    // Invocations spread over the last 20 minutes, a few per minute, each
    // lasting 1.5 s so the duration chart's values read in seconds.
    let spans = (0..40u64)
        .map(|n| {
            let mut s = span(trace_id(8000 + n), 1, "handle");
            s.start_time_unix_nano = now - (n / 2 + 1) * minute;
            s.end_time_unix_nano = s.start_time_unix_nano + 1_500_000_000;
            s
        })
        .collect();
    weir.export_spans(&spans_request("charted", spans));
    wait_for("the rollups of 20 minutes", Duration::from_secs(30), || {
        let v = weir.get_json("/api/v1/components?window=1h");
        (v["components"][0]["invocations"] == 40).then_some(())
    });

    let web = format!("http://{}", weir.web);
    let browser = Browser::start();
    browser.open(&format!("{web}/components/charted?window=1h"));
    wait_for("uPlot to draw the charts", Duration::from_secs(30), || {
        (browser.count("figure.chart.interactive .u-over") >= 3).then_some(())
    });
    let hidden = browser
        .eval("return getComputedStyle(document.querySelector('figure.chart.interactive > svg')).display")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(hidden, "none", "the interactive chart replaces the SVG");

    // Hover over the right part of the duration chart (the second figure):
    // the legend shows the value under the pointer, in seconds.
    let duration_chart = "figure.chart.interactive:nth-of-type(2) .u-over";
    let value = wait_for("a value under the pointer", Duration::from_secs(30), || {
        browser.hover(duration_chart, 150);
        let v = browser
            .eval("return [...document.querySelectorAll('figure.chart.interactive')][1].querySelector('.u-legend .u-series:nth-child(2) .u-value').innerText")
            .as_str()
            .unwrap_or_default()
            .to_string();
        (v.ends_with(" s")).then_some(v)
    });
    assert!(
        value.starts_with("1.5"),
        "p50 of 1.5 s invocations: {value}"
    );
    browser.screenshot("chart-hover");

    // Drag across the first chart: the page reloads on a custom range.
    browser.drag_across("figure.chart.interactive .u-over", -200, 100);
    let url = browser.url();
    assert!(url.contains("from=") && url.contains("to="), "{url}");
    assert!(!url.contains("window="), "{url}");
    let range = browser
        .eval("return document.querySelector('[data-range]').innerText")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(range.starts_with("Showing 20"), "a custom range: {range}");
    assert!(range.contains(" to "), "{range}");
    let custom = browser
        .eval("return document.querySelector('input[name=from]').value")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        custom.ends_with('Z'),
        "the picker shows the zoomed range: {custom}"
    );
    browser.screenshot("chart-zoomed");
}
