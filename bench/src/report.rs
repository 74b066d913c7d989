//! The results table: one row per figure, the median of the runs, and with a
//! baseline the older binary's median and the ratio new / old beside it.

use crate::profile::Profile;
use crate::{Args, PAGES, RunResult};

/// A figure's values in one run (a p50 / p99 pair is two).
type Values = Box<dyn Fn(&RunResult) -> Vec<f64>>;

/// One figure: its label, decimals, and its values.
struct Row {
    label: String,
    decimals: usize,
    values: Values,
}

fn row(
    label: impl Into<String>,
    decimals: usize,
    f: impl Fn(&RunResult) -> Vec<f64> + 'static,
) -> Row {
    Row {
        label: label.into(),
        decimals,
        values: Box::new(f),
    }
}

fn rows(args: &Args, runs: &[RunResult]) -> Vec<Row> {
    let mut rows = vec![
        row(
            format!(
                "spans/s acknowledged (gRPC, {} exporters, {} spans/request)",
                args.concurrency, args.batch
            ),
            0,
            |r| vec![r.spans_per_s],
        ),
        row(
            "acknowledgement latency p50 / p99 (ms, saturating load, including retries after 429)",
            1,
            |r| vec![r.ack_p50_ms, r.ack_p99_ms],
        ),
        row(
            "ingest → searchable p50 / p99 (ms, under span load)",
            0,
            |r| vec![r.searchable_p50_ms, r.searchable_p99_ms],
        ),
        row(
            "ingest → searchable p50 / p99 (ms, no other load)",
            0,
            |r| vec![r.searchable_idle_p50_ms, r.searchable_idle_p99_ms],
        ),
        row(
            "acknowledgement latency of a single export p50 / p99 (ms, no other load)",
            2,
            |r| vec![r.ack_idle_p50_ms, r.ack_idle_p99_ms],
        ),
        row(
            "full-text log search p50 / p99 (ms, one record's phrase, newest 20, all time)",
            2,
            |r| vec![r.log_search_p50_ms, r.log_search_p99_ms],
        ),
        row(
            "full-text log search p50 / p99 (ms, a phrase in 1 of 40 logs, newest 20, all time)",
            2,
            |r| vec![r.log_search_broad_p50_ms, r.log_search_broad_p99_ms],
        ),
        row("correlate p50 / p99 (ms, by a record key)", 2, |r| {
            vec![r.correlate_p50_ms, r.correlate_p99_ms]
        }),
        row("components p50 / p99 (ms, 15-minute window)", 2, |r| {
            vec![r.components_p50_ms, r.components_p99_ms]
        }),
        row("topology p50 / p99 (ms, 15-minute window)", 2, |r| {
            vec![r.topology_p50_ms, r.topology_p99_ms]
        }),
        row("spans/s acknowledged (OTLP/JSON over HTTP)", 0, |r| {
            vec![r.json_spans_per_s]
        }),
        row("log records/s (gRPC)", 0, |r| vec![r.logs_per_s]),
        row("metric points/s (gRPC)", 0, |r| vec![r.points_per_s]),
        row(
            format!(
                "trace-id lookup p50 / p99 (ms, HTTP API, {:.0} spans stored)",
                median(runs.iter().map(|r| r.spans_stored as f64).collect())
            ),
            2,
            |r| vec![r.lookup_p50_ms, r.lookup_p99_ms],
        ),
    ];
    for (i, (page, path)) in PAGES.iter().enumerate() {
        rows.push(row(
            format!("dashboard {page} page `{path}` p50 / p99 (ms, server-side)"),
            1,
            move |r| vec![r.pages[i].0, r.pages[i].1],
        ));
    }
    rows.push(row("peak RSS (MiB)", 0, |r| vec![r.peak_rss_mib]));
    rows.push(row(
        "peak anonymous memory (MiB, RssAnon sampled every 250 ms: RSS without mapped index files)",
        0,
        |r| vec![r.peak_anon_mib],
    ));
    rows.push(row("span index bytes on disk per span", 0, |r| {
        vec![r.span_index_bytes_per_span]
    }));
    if runs.iter().all(|r| r.bare_docs_per_s.is_some()) {
        rows.push(row(
            "bare index: the same span documents straight into tantivy (docs/s)",
            0,
            |r| vec![r.bare_docs_per_s.unwrap_or(f64::NAN)],
        ));
        rows.push(row(
            "weir / bare (spans/s over gRPC ÷ bare docs/s)",
            2,
            |r| vec![r.spans_per_s / r.bare_docs_per_s.unwrap_or(f64::NAN)],
        ));
    }
    rows
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median of each of a row's values over the runs.
fn medians(row: &Row, runs: &[RunResult]) -> Vec<f64> {
    let per_run: Vec<Vec<f64>> = runs.iter().map(|r| (row.values)(r)).collect();
    (0..per_run[0].len())
        .map(|i| median(per_run.iter().map(|v| v[i]).collect()))
        .collect()
}

fn join(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Prints one profile's table, with the baseline's medians and the ratios
/// when there is one.
pub(crate) fn print(args: &Args, profile: Profile, new: &[RunResult], old: Option<&[RunResult]>) {
    println!();
    match old {
        None => {
            println!(
                "| figure ({} profile, rollups {}) | median of {} runs |",
                profile.as_str(),
                args.rollups,
                new.len()
            );
            println!("|---|---|");
        }
        Some(old) => {
            println!(
                "| figure ({} profile, rollups {}) | baseline: median of {} | new: median of {} | new / baseline |",
                profile.as_str(),
                args.rollups,
                old.len(),
                new.len()
            );
            println!("|---|---|---|---|");
        }
    }
    let all_rows = rows(args, new);
    for row in &all_rows {
        let now = medians(row, new);
        match old {
            None => println!("| {} | {} |", row.label, join(&now, row.decimals)),
            Some(old) => {
                // A figure only the new run has (the bare index) has no ratio.
                let then = if old
                    .iter()
                    .all(|r| (row.values)(r).iter().all(|v| v.is_finite()))
                {
                    Some(medians(row, old))
                } else {
                    None
                };
                match then {
                    Some(then) => {
                        let ratios: Vec<f64> = now.iter().zip(&then).map(|(n, o)| n / o).collect();
                        println!(
                            "| {} | {} | {} | {} |",
                            row.label,
                            join(&then, row.decimals),
                            join(&now, row.decimals),
                            join(&ratios, 2)
                        );
                    }
                    None => println!("| {} | — | {} | — |", row.label, join(&now, row.decimals)),
                }
            }
        }
    }
}
