//! Rule files are accepted and refused exactly as before the rule kinds
//! became one module each: every message, with its file, line and key path,
//! was taken from the parser before the change. Changed on purpose since:
//! a rule without `kind:` (or with `kind: ~`) says which kinds there are,
//! and a Prometheus rule's `expr:` says PromQL is not supported.

#[path = "rule_files/cases.rs"]
mod cases;

fn expected(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "ok" => None,
        "unknown_kind" => Some(&[
            r#"r.yaml:5: groups[0].rules[0].kind: unknown variant `lagg`, expected one of `lag`, `error_rate`, `cold_start_rate`, `metric`, `absent`"#,
        ]),
        "kind_number" => Some(&[
            r#"r.yaml:5: groups[0].rules[0].kind: unknown variant `5`, expected one of `lag`, `error_rate`, `cold_start_rate`, `metric`, `absent`"#,
        ]),
        "kind_missing" => Some(&[
            r#"r.yaml:4: rule `A` needs `kind:` (lag, error_rate, cold_start_rate, metric or absent)"#,
        ]),
        "two_bad_rules" => Some(&[
            r#"r.yaml:11: groups[0].rules[0]: unknown field `fore`, expected one of `alert`, `kind`, `expr`, `component`, `metric`, `aggregate`, `window`, `op`, `threshold`, `min_invocations`, `for`, `keep_firing_for`, `labels`, `annotations`"#,
            r#"r.yaml:12: groups[0].rules[1]: unknown field `fore`, expected one of `alert`, `kind`, `expr`, `component`, `metric`, `aggregate`, `window`, `op`, `threshold`, `min_invocations`, `for`, `keep_firing_for`, `labels`, `annotations`"#,
        ]),
        "prometheus_expr" => Some(&[
            r#"r.yaml:4: rule `A`: PromQL expressions (`expr:`) are not supported; use kind: metric with metric:, aggregate:, op: and threshold:"#,
        ]),
        "alert_missing" => Some(&[r#"r.yaml:4: groups[0].rules[0]: missing field `alert`"#]),
        "window_missing" => Some(&[r#"r.yaml:4: groups[0].rules[0]: missing field `window`"#]),
        "bad_window" => Some(&[
            r#"r.yaml:8: groups[0].rules[0].window: bad duration `fivemin` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "zero_window" => Some(&[r#"r.yaml:4: rule `A`: window must be longer than zero"#]),
        "window_number" => Some(&[
            r#"r.yaml:8: groups[0].rules[0].window: bad duration `5` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "bad_for" => Some(&[
            r#"r.yaml:11: groups[0].rules[0].for: bad duration `soon` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "bad_op" => Some(&[
            r#"r.yaml:9: groups[0].rules[0].op: unknown op `=>` (expected >, >=, <, <=, ==, !=)"#,
        ]),
        "op_number" => Some(&[
            r#"r.yaml:9: groups[0].rules[0].op: unknown op `5` (expected >, >=, <, <=, ==, !=)"#,
        ]),
        "threshold_text" => Some(&[
            r#"r.yaml:10: groups[0].rules[0].threshold: invalid type: string "lots", expected f64"#,
        ]),
        "no_threshold" => Some(&[r#"r.yaml:4: rule `A`: needs `op` and `threshold`"#]),
        "no_op" => Some(&[r#"r.yaml:4: rule `A`: needs `op` and `threshold`"#]),
        "bad_aggregate" => Some(&[
            r#"r.yaml:7: groups[0].rules[0].aggregate: unknown variant `median`, expected one of `max`, `min`, `avg`, `sum`, `count`, `rate`, `p50`, `p95`, `p99`"#,
        ]),
        "unknown_key" => Some(&[
            r#"r.yaml:11: groups[0].rules[0]: unknown field `fore`, expected one of `alert`, `kind`, `expr`, `component`, `metric`, `aggregate`, `window`, `op`, `threshold`, `min_invocations`, `for`, `keep_firing_for`, `labels`, `annotations`"#,
        ]),
        "metric_no_metric" => {
            Some(&[r#"r.yaml:4: rule `A`: kind metric needs `metric: <metric name>`"#])
        }
        "rate_range" => {
            Some(&[r#"r.yaml:4: rule `A`: rates are ratios in [0, 1]; write 0.05 for 5 %"#])
        }
        "rate_ok_extra_keys" => None,
        "cold_range" => {
            Some(&[r#"r.yaml:4: rule `A`: rates are ratios in [0, 1]; write 0.05 for 5 %"#])
        }
        "absent_with_everything" => None,
        "absent_bare" => None,
        "empty_alert" => Some(&[r#"r.yaml:4: a rule needs a non-empty `alert` name"#]),
        "blank_alert" => Some(&[r#"r.yaml:4: a rule needs a non-empty `alert` name"#]),
        "duplicate" => Some(&[r#"r.yaml:4: alert `A` appears twice in group `g`"#]),
        "dup_key" => Some(&[r#"r.yaml:4: groups[0].rules[0]: duplicate field `for`"#]),
        "min_inv_negative" => Some(&[
            r#"r.yaml:11: groups[0].rules[0].min_invocations: invalid type: integer `-1`, expected u64"#,
        ]),
        "bad_interval" => Some(&[
            r#"r.yaml:3: groups[0].interval: bad duration `often` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "group_unknown_key" => Some(&[
            r#"r.yaml:3: groups[0]: unknown field `limit`, expected one of `name`, `interval`, `rules`"#,
        ]),
        "top_unknown_key" => Some(&[r#"r.yaml:12: unknown field `extra`, expected `groups`"#]),
        "not_mapping" => Some(&[
            r#"r.yaml:4: groups[0].rules[0]: invalid type: string "just a string", expected struct Rule"#,
        ]),
        "empty_file" => Some(&[r#"r.yaml:1: missing field `groups`"#]),
        "no_groups" => Some(&[r#"r.yaml:1: unknown field `rules`, expected `groups`"#]),
        "multi" => Some(&[
            r#"r.yaml:4: rule `A`: rates are ratios in [0, 1]; write 0.05 for 5 %"#,
            r#"r.yaml:12: rule `B`: kind metric needs `metric: <metric name>`"#,
            r#"r.yaml:12: rule `B`: needs `op` and `threshold`"#,
            r#"r.yaml:12: rule `B`: window must be longer than zero"#,
        ]),
        "labels_list" => Some(&[
            r#"r.yaml:11: groups[0].rules[0].labels: invalid type: sequence, expected a map"#,
        ]),
        "component_number" => None,
        "component_glob_brackets" => None,
        "keep_bad" => Some(&[
            r#"r.yaml:11: groups[0].rules[0].keep_firing_for: bad duration `x` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "window_spaces" => None,
        "window_compound" => None,
        "tagged_kind" => Some(&[
            r#"r.yaml:5: groups[0].rules[0].kind: invalid value: string "x", expected null"#,
        ]),
        "null_op" => Some(&[r#"r.yaml:4: rule `A`: needs `op` and `threshold`"#]),
        "null_threshold" => Some(&[r#"r.yaml:4: rule `A`: needs `op` and `threshold`"#]),
        "null_metric" => None,
        "null_component" => None,
        "null_for" => Some(&[
            r#"r.yaml:11: groups[0].rules[0].for: bad duration `~` (use a number with a unit, like 30s, 5m, 1h)"#,
        ]),
        "null_aggregate" => None,
        "null_kind" => Some(&[
            r#"r.yaml:4: rule `A` needs `kind:` (lag, error_rate, cold_start_rate, metric or absent)"#,
        ]),
        "metric_empty" => None,
        "threshold_int_for_rate" => None,
        "threshold_nan" => {
            Some(&[r#"r.yaml:4: rule `A`: rates are ratios in [0, 1]; write 0.05 for 5 %"#])
        }
        other => panic!("no expectation for case {other}"),
    }
}

#[test]
fn every_case_is_accepted_or_refused_with_the_same_messages() {
    for (name, text) in cases::cases() {
        let got = weir_alerts::rules::parse(&text, "r.yaml")
            .map(|_| ())
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>());
        match expected(name) {
            None => assert!(got.is_ok(), "{name}: {got:?}"),
            Some(messages) => assert_eq!(got.unwrap_err(), messages, "{name}"),
        }
    }
}
