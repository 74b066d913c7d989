//! `weir simulate` against the real binary: every scenario's telemetry
//! arrives with its components, links and topology; `--rate` holds; each
//! fault trips the alert kind it should and then resolves.

use crate::harness::{Weir, wait_for};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn simulate(weir: &Weir, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["simulate", "--endpoint", &format!("http://{}", weir.grpc)])
        .args(["--protocol", "grpc"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir simulate starts")
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "weir simulate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn invocations(weir: &Weir, component: &str) -> u64 {
    weir.get_json("/api/v1/components?window=1h")["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == component)
        .and_then(|c| c["invocations"].as_u64())
        .unwrap_or(0)
}

fn edges(weir: &Weir) -> Vec<(String, String)> {
    weir.get_json("/api/v1/topology?window=1h")["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"]["name"].as_str().unwrap().to_string(),
                e["target"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_scenario_yields_its_components_links_and_topology() {
    let weir = Weir::start("");
    finish(simulate(
        &weir,
        &["--scenario", "all", "--rate", "10", "--duration", "4s"],
    ));
    let want = [
        ("clickstream-web", "clickstream"),
        ("clickstream", "page-view-counter"),
        ("clickstream", "clickstream-archive"),
        ("page-view-counter", "page-view-store"),
        ("file-uploads", "ingest-files"),
        ("ingest-files", "validate-data"),
        ("ingest-files", "transform-data"),
        ("ingest-files", "store-data"),
        ("api-gateway", "orders-java"),
        ("api-gateway", "orders-rust"),
        ("image-upload-api", "image-dispatcher"),
        ("image-dispatcher", "image-uploaded"),
        ("image-uploaded", "thumbnail"),
        ("image-uploaded", "image-moderation"),
        ("orders-service", "orders-changes"),
        ("orders-changes", "search-index-updater"),
        ("orders-changes", "notification-sender"),
        ("payments-api", "payments"),
        ("payments", "payments-ledger"),
    ];
    let found = wait_for("every scenario's edges", Duration::from_secs(60), || {
        let e = edges(&weir);
        want.iter()
            .all(|(a, b)| e.contains(&(a.to_string(), b.to_string())))
            .then_some(e)
    });
    assert!(found.len() >= want.len());
    // Four seconds at ten clicks a second: the web tier saw every click
    // (rollups commit on their own interval, so wait for the count to settle).
    for component in ["clickstream-web", "api-gateway"] {
        let seen = wait_for(
            "every click in the rollups",
            Duration::from_secs(30),
            || {
                let n = invocations(&weir, component);
                (n >= 40).then_some(n)
            },
        );
        assert_eq!(seen, 40, "{component}");
    }

    // A click's correlation id leads from the web tier through the stream to
    // the consumer that linked it, and to the store writer it called.
    let v = weir.get_json("/api/v1/correlate/click-3");
    let components: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    for c in ["clickstream-web", "page-view-counter", "page-view-store"] {
        assert!(components.contains(&c), "{c} in {components:?}");
    }
}

#[test]
fn simulate_holds_its_rate() {
    let weir = Weir::start("");
    let started = Instant::now();
    let out = finish(simulate(
        &weir,
        &["--scenario", "api", "--rate", "50", "--duration", "10s"],
    ));
    let took = started.elapsed().as_secs_f64();
    assert!(out.contains("sent 500 units"), "{out}");
    let n = wait_for(
        "the requests to be counted",
        Duration::from_secs(60),
        || {
            let n = invocations(&weir, "api-gateway");
            (n >= 475).then_some(n)
        },
    );
    assert!((475..=525).contains(&n), "{n} requests in 10 s at 50/s");
    // Paced over the ten seconds, not sent in a burst (start-up and the
    // final flush add a little).
    assert!((9.5..14.0).contains(&took), "{took} s");
}

const FAULT_RULES: &str = r#"groups:
  - name: faults
    interval: 2s
    rules:
      - alert: Lagging
        kind: lag
        metric: pipeline.iterator_age
        window: 10s
        op: ">"
        threshold: 15000
      - alert: GroupLagging
        kind: metric
        metric: kafka.consumer_group.lag
        window: 10s
        op: ">"
        threshold: 20
      - alert: Failing
        kind: error_rate
        window: 30s
        op: ">"
        threshold: 0.2
        min_invocations: 5
      - alert: ColdStorm
        kind: cold_start_rate
        window: 30s
        op: ">"
        threshold: 0.5
        min_invocations: 5
      - alert: Stalled
        kind: absent
        component: search-index-updater
        window: 30s
"#;

#[test]
fn each_fault_trips_its_alert_kind_and_then_resolves() {
    let weir = Weir::start_with_rules(FAULT_RULES);
    // One scenario per fault, so each alert has one cause.
    let runs = [
        ("api", "errors@5s+20s"),
        ("fanout", "cold-starts@5s+20s"),
        ("clickstream", "lag@5s+40s"),
        ("kafka", "lag@5s+40s"),
        ("cdc", "stall@5s+100s"),
        ("etl", "throttle@5s+20s"),
    ];
    let children: Vec<Child> = runs
        .iter()
        .map(|(s, f)| {
            simulate(
                &weir,
                &[
                    "--scenario",
                    s,
                    "--rate",
                    "5",
                    "--duration",
                    "150s",
                    "--fault",
                    f,
                ],
            )
        })
        .collect();
    let expected = [
        ("Failing", "orders-go"),
        ("ColdStorm", "thumbnail"),
        ("Lagging", "page-view-counter"),
        ("GroupLagging", "payments-ledger"),
        ("Stalled", "search-index-updater"),
        ("Failing", "transform-data"),
    ];
    let told = |transition: &str| -> Vec<(String, String)> {
        weir.get_json("/api/v1/alerts/history?limit=1000")["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["transition"] == transition)
            .map(|h| {
                (
                    h["rule"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("faults/")
                        .to_string(),
                    h["component"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let missing = |transition: &str| -> Vec<(&str, &str)> {
        let seen = told(transition);
        expected
            .iter()
            .filter(|(a, c)| !seen.contains(&(a.to_string(), c.to_string())))
            .copied()
            .collect()
    };
    wait_for(
        "every fault's alert to fire",
        Duration::from_secs(150),
        || missing("firing").is_empty().then_some(()),
    );
    wait_for(
        "every fault's alert to resolve",
        Duration::from_secs(200),
        || {
            let m = missing("resolved");
            m.is_empty().then_some(())
        },
    );
    // Components without a fault stayed quiet.
    let fired: Vec<(String, String)> = told("firing");
    assert!(
        !fired
            .iter()
            .any(|(a, c)| a == "Failing" && c == "clickstream-web"),
        "{fired:?}"
    );
    for child in children {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    let _: Value = weir.get_json("/api/v1/alerts");
}

#[test]
fn the_demo_serves_loads_its_rules_and_feeds_every_pipeline() {
    use crate::harness::free_port;
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let (web, grpc, http) = (free_port(), free_port(), free_port());
    let mut demo = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["demo", "--no-faults", "--rate", "5", "--data-dir"])
        .arg(dir.path().join("demo"))
        .args(["--web", &web.to_string(), "--otlp-grpc", &grpc.to_string()])
        .args(["--otlp-http", &http.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = demo.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let url = format!("http://{web}/");
    let printed = (&mut lines)
        .take(20)
        .map_while(Result::ok)
        .find(|l| l.contains("dashboard"));
    if !printed.as_deref().is_some_and(|l| l.contains(&url)) {
        let _ = demo.kill();
        let _ = demo.wait();
        let log = logs.join().unwrap_or_default();
        panic!("no dashboard line ({printed:?}); the demo printed on stderr:\n{log}");
    }
    let alerts = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        alerts.contains(&format!("http://{web}/alerts")),
        "the alerts line links the alerts page, not the JSON API: {alerts:?}"
    );
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Option<Value> {
        client
            .get(format!("http://{web}{path}"))
            .send()
            .ok()?
            .json()
            .ok()
    };
    let components = wait_for(
        "every pipeline's components",
        Duration::from_secs(60),
        || {
            let v = get("/api/v1/components?window=15m")?;
            let n = v["components"].as_array()?.len();
            (n >= 25).then_some(n)
        },
    );
    assert!(components >= 25);
    let rules = get("/api/v1/rules").unwrap();
    let kinds: Vec<&str> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for kind in ["lag", "error_rate", "cold_start_rate", "absent"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    let status = wait_for("the demo to stop", Duration::from_secs(60), || {
        demo.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    // The simulation flushes into a weir that is still listening: stopping
    // the demo loses no telemetry and prints no export errors.
    let logs = logs.join().unwrap();
    assert!(!logs.contains("ExportError"), "{logs}");
    assert!(logs.contains("stopped cleanly"), "{logs}");
}

/// `weir simulate` with only the environment a function would have.
fn simulate_with_env(env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("simulate").args(args).env("NO_COLOR", "1");
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let out = cmd.output().expect("weir simulate runs");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a mistake is reported at once, not after the run"
    );
    out
}

#[test]
fn simulate_reads_the_otlp_variables_and_names_the_fix_for_a_wrong_protocol() {
    let weir = Weir::start("[auth]\ningest_tokens = [\"s3cret\"]");
    let http = format!("http://{}", weir.http);
    let grpc = format!("http://{}", weir.grpc);
    let run = ["--scenario", "api", "--rate", "5", "--duration", "2s"];

    // Only the standard variables, as the dashboard's empty state says:
    // the endpoint, http/protobuf by default, the token in the headers.
    let out = simulate_with_env(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", http.as_str()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret",
            ),
        ],
        &run,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the simulated spans", Duration::from_secs(60), || {
        (invocations(&weir, "api-gateway") > 0).then_some(())
    });

    let one_line = |out: &std::process::Output| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let last = err.lines().last().unwrap_or_default().to_string();
        assert!(!err.contains('\u{1b}'), "no colour codes in a pipe: {err}");
        assert!(
            !err.contains("Unimplemented") || err.lines().count() <= 2,
            "one line, not one per batch: {err}"
        );
        last
    };
    let wrong = simulate_with_env(
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20s3cret",
        )],
        &[
            &["--endpoint", http.as_str(), "--protocol", "grpc"],
            &run[..],
        ]
        .concat(),
    );
    let line = one_line(&wrong);
    assert!(
        line.contains("answered as OTLP/HTTP") && line.contains("pass --protocol http"),
        "{line}"
    );
    let wrong = simulate_with_env(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
        &run,
    );
    let line = one_line(&wrong);
    assert!(line.contains("pass --protocol grpc"), "{line}");
    let refused = simulate_with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", http.as_str())], &run);
    let line = one_line(&refused);
    assert!(line.contains("pass --token"), "{line}");
    let no_scheme = simulate_with_env(
        &[],
        &[&["--endpoint", &weir.http.to_string()], &run[..]].concat(),
    );
    let line = one_line(&no_scheme);
    assert!(line.contains("has no scheme; write http://"), "{line}");
}
