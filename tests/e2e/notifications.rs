//! Alerts from telemetry sent through the OpenTelemetry SDK to a real
//! webhook receiver: every kind fires and resolves, each told once; `for`
//! holds; a receiver that is down gets the notification once it is back,
//! once, signed; a crash while firing notifies nobody twice; silences mute
//! until they end; rules reload on request and on SIGHUP.

use crate::harness::{Postgres, Weir, wait_for};
use crate::receiver::Receiver;
use crate::sdk::{exporter_runtime, meter_provider, tracer_provider};
use hmac::{KeyInit, Mac};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const LIMIT: Duration = Duration::from_secs(60);

/// Sends `n` invocations of `service` through the SDK: the first `errors`
/// fail, the first `cold` are cold starts; all start at `at`.
fn invocations(weir: &Weir, service: &str, n: usize, errors: usize, cold: usize, at: SystemTime) {
    let runtime = exporter_runtime();
    let _guard = runtime.enter();
    let provider = tracer_provider(&format!("http://{}", weir.grpc), service);
    let tracer = provider.tracer("e2e");
    for i in 0..n {
        let mut span = tracer
            .span_builder("handle")
            .with_kind(SpanKind::Server)
            .with_start_time(at)
            .with_attributes([KeyValue::new("faas.coldstart", i < cold)])
            .start(&tracer);
        if i < errors {
            span.set_status(Status::error("downstream timed out"));
        }
        span.end_with_timestamp(at + Duration::from_millis(20));
    }
    provider.force_flush().expect("spans acknowledged");
    provider.shutdown().unwrap();
}

/// Records gauge values (`(partition, value)`) for `service` through the SDK.
fn gauge(weir: &Weir, service: &str, name: &str, unit: &str, values: &[(&str, u64)]) {
    let runtime = exporter_runtime();
    let _guard = runtime.enter();
    let meters = meter_provider(&format!("http://{}", weir.grpc), service);
    let g = meters
        .meter("e2e")
        .u64_gauge(name.to_string())
        .with_unit(unit.to_string())
        .build();
    for (partition, value) in values {
        g.record(
            *value,
            &[KeyValue::new(
                "messaging.destination.partition.id",
                partition.to_string(),
            )],
        );
    }
    meters.force_flush().expect("metrics acknowledged");
    meters.shutdown().unwrap();
}

pub(crate) fn config(rules: &std::path::Path, receivers: &str) -> String {
    format!(
        "[alerts]\nrule_files = [{:?}]\nexternal_url = \"http://weir.example:8080\"\n{receivers}",
        rules.display().to_string()
    )
}

pub(crate) fn receiver_toml(name: &str, url: &str, extra: &str) -> String {
    format!("[[alerts.receivers]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n")
}

pub(crate) const FAST_ROUTE: &str = "group_wait = \"0s\"\ngroup_interval = \"1s\"\n";

/// weir with `rules` and one receiver, `ops`, taking every alert at once.
fn with_one_receiver(rules: &str, receiver_extra: &str) -> (tempfile::TempDir, Receiver, Weir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, rules).unwrap();
    let hook = Receiver::start();
    let weir = Weir::start(&config(
        &path,
        &format!(
            "{}[[alerts.routes]]\nreceiver = \"ops\"\n{FAST_ROUTE}",
            receiver_toml("ops", &hook.url, receiver_extra)
        ),
    ));
    (dir, hook, weir)
}

/// The newest evaluation of any rule, Unix nanoseconds.
pub(crate) fn last_evaluation(weir: &Weir) -> u64 {
    weir.get_json("/api/v1/rules")["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .filter_map(|r| r["last_evaluation_unix_nano"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Waits until the rules have been evaluated `n` more times (interval 1 s),
/// so a notification that was going to be sent has had every chance.
pub(crate) fn let_rules_run(weir: &Weir, n: u64) {
    let from = last_evaluation(weir);
    wait_for("rules to evaluate again", LIMIT, || {
        (last_evaluation(weir) >= from + n * 1_000_000_000).then_some(())
    });
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
}

const EVERY_KIND: &str = r#"groups:
  - name: pipeline
    interval: 1s
    rules:
      - alert: ErrorsRising
        kind: error_rate
        component: checkout
        window: 10m
        op: ">"
        threshold: 0.2
        min_invocations: 5
        labels: {severity: page}
        annotations:
          summary: "{{ component }} fails {{ $value }} of its invocations"
      - alert: ColdStarts
        kind: cold_start_rate
        component: resize-images
        window: 10m
        op: ">"
        threshold: 0.5
        min_invocations: 4
      - alert: ShardBehind
        kind: lag
        metric: pipeline.iterator_age
        component: page-view-counter
        window: 8s
        op: ">"
        threshold: 60000
      - alert: GroupBehind
        kind: metric
        metric: kafka.consumer_group.lag
        aggregate: max
        window: 8s
        op: ">"
        threshold: 1000
      - alert: Stalled
        kind: absent
        component: stalled-*
        window: 2m
        for: 2s
"#;

const KINDS: [&str; 5] = [
    "ErrorsRising",
    "ColdStarts",
    "ShardBehind",
    "GroupBehind",
    "Stalled",
];

#[test]
fn every_kind_fires_and_resolves_and_each_is_told_once() {
    let (_dir, hook, weir) = with_one_receiver(EVERY_KIND, "send_resolved = true");
    let now = SystemTime::now();

    invocations(&weir, "checkout", 10, 5, 0, now);
    invocations(&weir, "resize-images", 4, 4, 4, now);
    // Seen ten minutes ago, silent since: a stalled consumer.
    invocations(
        &weir,
        "stalled-consumer",
        1,
        0,
        0,
        now - Duration::from_secs(600),
    );
    let behind = || {
        gauge(
            &weir,
            "page-view-counter",
            "pipeline.iterator_age",
            "ms",
            &[("shard-0", 1_000), ("shard-1", 90_000)],
        );
        gauge(
            &weir,
            "orders-consumer",
            "kafka.consumer_group.lag",
            "{records}",
            &[("0", 5_000)],
        );
    };
    behind();
    wait_for("every kind to be told firing", LIMIT, || {
        // Gauges stop counting 8 s after their last point: keep them up.
        behind();
        KINDS
            .iter()
            .all(|k| !hook.told(k, "firing").is_empty())
            .then_some(())
    });

    let errors = &hook.told("ErrorsRising", "firing")[0];
    assert_eq!(errors["labels"]["component"], "checkout");
    assert_eq!(errors["labels"]["kind"], "error_rate");
    assert_eq!(errors["labels"]["severity"], "page");
    assert_eq!(
        errors["annotations"]["summary"],
        "checkout fails 0.5 of its invocations"
    );
    assert_eq!(errors["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(errors["fingerprint"].as_str().unwrap().len(), 16);
    assert!(
        errors["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://weir.example:8080/")
    );
    let shards: Vec<Value> = hook
        .told("ShardBehind", "firing")
        .iter()
        .map(|a| a["labels"]["partition"].clone())
        .collect();
    assert_eq!(
        shards,
        [json!("shard-1")],
        "one alert per partition, only the one behind"
    );
    assert_eq!(
        hook.told("GroupBehind", "firing")[0]["labels"]["component"],
        "orders-consumer"
    );
    let body = hook
        .received()
        .into_iter()
        .find(|r| r.answered == 200)
        .unwrap()
        .json;
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "ops");
    assert_eq!(body["externalURL"], "http://weir.example:8080");
    for key in [
        "groupKey",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "truncatedAlerts",
        "status",
        "notification_reason",
    ] {
        assert!(body.get(key).is_some(), "{key} in {body}");
    }

    // `for: 2s` held the stalled consumer in pending before it fired.
    let history = weir.get_json("/api/v1/alerts/history?limit=100");
    let at = |transition: &str| {
        history["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["rule"] == "pipeline/Stalled" && h["transition"] == transition)
            .map(|h| h["at_unix_nano"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no {transition} in {history}"))
    };
    assert!(at("firing") >= at("pending") + 2_000_000_000, "{history}");

    // Everything recovers.
    invocations(&weir, "checkout", 40, 0, 0, SystemTime::now());
    invocations(&weir, "resize-images", 12, 0, 0, SystemTime::now());
    invocations(&weir, "stalled-consumer", 1, 0, 0, SystemTime::now());
    wait_for("every kind to be told resolved", LIMIT, || {
        gauge(
            &weir,
            "page-view-counter",
            "pipeline.iterator_age",
            "ms",
            &[("shard-0", 900), ("shard-1", 1_200)],
        );
        gauge(
            &weir,
            "orders-consumer",
            "kafka.consumer_group.lag",
            "{records}",
            &[("0", 12)],
        );
        KINDS
            .iter()
            .all(|k| !hook.told(k, "resolved").is_empty())
            .then_some(())
    });
    let_rules_run(&weir, 3);
    for kind in KINDS {
        assert_eq!(
            hook.told(kind, "firing").len(),
            1,
            "{kind} told firing once"
        );
        assert_eq!(
            hook.told(kind, "resolved").len(),
            1,
            "{kind} told resolved once"
        );
    }
    let resolved = &hook.told("ErrorsRising", "resolved")[0];
    assert_ne!(resolved["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(resolved["startsAt"], errors["startsAt"]);
    assert!(
        weir.get_json("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

const CHECKOUT: &str = r#"groups:
  - name: shop
    interval: 1s
    rules:
      - alert: ErrorsRising
        kind: error_rate
        component: checkout
        window: 10m
        op: ">"
        threshold: 0.2
        min_invocations: 5
"#;

#[test]
fn a_receiver_that_is_down_gets_it_once_back_signed_and_a_crash_repeats_nothing() {
    receiver_down_then_crash("");
}

#[test]
fn the_outbox_and_notification_log_hold_on_postgres_too() {
    let pg = Postgres::start();
    receiver_down_then_crash(&format!("[database]\nurl = \"{}\"\n", pg.url));
}

/// `database` is extra weir.toml naming the database ("" for SQLite).
fn receiver_down_then_crash(database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        format!("{CHECKOUT}        labels: {{team: payments}}\n      - alert: NobodyListens\n        kind: error_rate\n        component: checkout\n        window: 10m\n        op: \">\"\n        threshold: 0.2\n        labels: {{team: nobody}}\n"),
    )
    .unwrap();
    let hook = Receiver::start();
    hook.answer(503);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut weir = Weir::start(&config(
        &rules,
        &format!(
            "{database}{}{}[[alerts.routes]]\nreceiver = \"void\"\nmatchers = {{ team = \"nobody\" }}\n{FAST_ROUTE}[[alerts.routes]]\nreceiver = \"ops\"\n{FAST_ROUTE}",
            receiver_toml(
                "ops",
                &hook.url,
                "hmac_secret = \"s3cret\"\ntimeout = \"2s\""
            ),
            receiver_toml("void", &format!("http://{closed}/hook"), "max_age = \"2s\""),
        ),
    ));

    invocations(&weir, "checkout", 10, 5, 0, SystemTime::now());
    wait_for("the down receiver to be tried and retried", LIMIT, || {
        (weir.metric("weir_alert_notification_failures_total{receiver=\"ops\"}") >= 2.0)
            .then_some(())
    });
    let receivers = weir.get_json("/api/v1/alerts")["receivers"].clone();
    let ops = receivers
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ops")
        .unwrap();
    assert!(ops["last_error"].as_str().unwrap().contains("503"), "{ops}");

    // A receiver that never answers: given up after max_age, and recorded.
    let failed = wait_for(
        "the unreachable receiver's notification to be given up",
        LIMIT,
        || {
            let v = weir.get_json("/api/v1/notifications?state=failed");
            v["notifications"].as_array().unwrap().first().cloned()
        },
    );
    assert_eq!(failed["receiver"], "void");
    assert!(
        failed["last_error"].as_str().unwrap().contains("gave up"),
        "{failed}"
    );
    assert_eq!(
        weir.metric("weir_alert_notifications_given_up_total{receiver=\"void\"}"),
        1.0
    );

    // kill -9 while the notification waits in the outbox: it is kept.
    weir.kill9();
    weir.restart();
    hook.answer(200);
    wait_for("the notification once the receiver is back", LIMIT, || {
        (!hook.told("ErrorsRising", "firing").is_empty()).then_some(())
    });
    let delivered: Vec<_> = hook
        .received()
        .into_iter()
        .filter(|r| r.answered == 200)
        .collect();
    assert_eq!(delivered.len(), 1);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&delivered[0].body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(delivered[0].signature.as_deref(), Some(expected.as_str()));
    assert!(
        hook.received()
            .iter()
            .filter(|r| r.answered == 503)
            .all(|r| r.body == delivered[0].body),
        "every retry carries the same notification"
    );

    // kill -9 while firing: after restart the alert is the same and nobody
    // is told again. (The receiver has the body before weir records the 2xx;
    // a crash in between would send it again, as at-least-once allows, so
    // the crash comes once the delivery is recorded.)
    wait_for("the delivery to be recorded", LIMIT, || {
        weir.get_json("/api/v1/notifications?state=delivered")["notifications"]
            .as_array()?
            .iter()
            .any(|n| n["receiver"] == "ops")
            .then_some(())
    });
    let since = weir.get_json("/api/v1/alerts")["alerts"][0]["since"].clone();
    weir.kill9();
    weir.restart();
    let_rules_run(&weir, 3);
    assert_eq!(weir.get_json("/api/v1/alerts")["alerts"][0]["since"], since);
    let accepted = hook
        .received()
        .into_iter()
        .filter(|r| r.answered == 200)
        .count();
    assert_eq!(accepted, 1, "no duplicate after the crash");
    assert_eq!(hook.told("NobodyListens", "firing").len(), 0);
}

#[test]
fn silences_mute_until_they_end_and_rules_reload_without_losing_the_old_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, CHECKOUT).unwrap();
    let hook = Receiver::start();
    let weir = Weir::start(&config(
        &rules,
        &format!(
            "{}[[alerts.routes]]\nreceiver = \"ops\"\n{FAST_ROUTE}",
            receiver_toml("ops", &hook.url, "")
        ),
    ));

    // Bad silences are refused with a reason.
    let (status, err) = weir.send_json(
        "POST",
        "/api/v1/silences",
        Some(json!({
            "matchers": [], "duration": "1h", "createdBy": "e2e", "comment": "x"
        })),
    );
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().unwrap().contains("matcher"));

    // One silence holds while the alert fires; another is expired by hand.
    let (status, made) = weir.send_json(
        "POST",
        "/api/v1/silences",
        Some(json!({
            "matchers": [{"name": "component", "value": "checkout"}],
            "duration": "1h", "createdBy": "e2e", "comment": "deploying checkout"
        })),
    );
    assert_eq!(status, 200, "{made}");
    let holding = made["silenceID"].as_str().unwrap().to_string();
    let (_, other) = weir.send_json(
        "POST",
        "/api/v1/silences",
        Some(json!({
            "matchers": [{"name": "alertname", "value": "Err.*", "isRegex": true}],
            "duration": "1h", "createdBy": "e2e", "comment": "expired by hand"
        })),
    );
    let long = other["silenceID"].as_str().unwrap().to_string();
    let (status, _) = weir.send_json("DELETE", &format!("/api/v1/silences/{long}"), None);
    assert_eq!(status, 200);
    assert_eq!(
        weir.send_json("DELETE", "/api/v1/silences/nope", None).0,
        404
    );
    let states: Vec<(String, String)> = weir.get_json("/api/v1/silences")["silences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["status"]["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        states.contains(&(long.clone(), "expired".into())),
        "{states:?}"
    );

    let started = SystemTime::now();
    invocations(&weir, "checkout", 10, 5, 0, started);
    let alert = wait_for("the silenced alert to fire", LIMIT, || {
        weir.get_json("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["state"] == "firing")
            .cloned()
    });
    assert_eq!(alert["silenced"], true, "{alert}");
    assert_eq!(alert["silenced_by"], json!([holding]));
    // With no group wait, an unsilenced alert is sent within a second.
    let_rules_run(&weir, 2);
    assert!(hook.received().is_empty(), "muted while the silence lasts");

    // A short silence takes over and ends on its own: only then is it told.
    let short_end = nanos(SystemTime::now()) + 3_000_000_000;
    let (status, made) = weir.send_json(
        "POST",
        "/api/v1/silences",
        Some(json!({
            "matchers": [{"name": "component", "value": "checkout"}],
            "duration": "3s", "createdBy": "e2e", "comment": "a short one"
        })),
    );
    assert_eq!(status, 200, "{made}");
    let (status, _) = weir.send_json("DELETE", &format!("/api/v1/silences/{holding}"), None);
    assert_eq!(status, 200);
    let told = wait_for("the notification once the silence ends", LIMIT, || {
        hook.told("ErrorsRising", "firing").first().cloned()
    });
    assert!(nanos(SystemTime::now()) >= short_end);
    assert_eq!(told["labels"]["component"], "checkout");

    // A broken file is refused and the running rules stay.
    std::fs::write(&rules, CHECKOUT.replace("op: \">\"", "op: \"~\"")).unwrap();
    let (status, err) = weir.send_json("POST", "/api/v1/rules/reload", None);
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("rules.yaml:9:"),
        "{err}"
    );
    let view = weir.get_json("/api/v1/rules");
    assert_eq!(view["groups"][0]["rules"][0]["name"], "ErrorsRising");
    assert!(
        view["last_reload"]["error"]
            .as_str()
            .unwrap()
            .contains("rules.yaml:9:")
    );
    let_rules_run(&weir, 2);

    // A good file on SIGHUP: the new rule runs; the removed rule's alert resolves.
    std::fs::write(&rules, CHECKOUT.replace("ErrorsRising", "CheckoutFailing")).unwrap();
    weir.signal("HUP");
    wait_for("the new rule to fire after SIGHUP", LIMIT, || {
        (!hook.told("CheckoutFailing", "firing").is_empty()).then_some(())
    });
    assert_eq!(
        weir.get_json("/api/v1/rules")["last_reload"]["error"],
        Value::Null
    );
    wait_for(
        "the removed rule's alert to be told resolved",
        LIMIT,
        || (!hook.told("ErrorsRising", "resolved").is_empty()).then_some(()),
    );
}

const TLS_RULES: &str = r#"groups:
  - name: tls
    interval: 1s
    rules:
      - alert: TrustedReceiver
        kind: error_rate
        component: checkout
        window: 10m
        op: ">"
        threshold: 0.2
        labels: {team: payments}
      - alert: UntrustedReceiver
        kind: error_rate
        component: checkout
        window: 10m
        op: ">"
        threshold: 0.2
        labels: {team: nobody}
"#;

#[test]
fn https_receivers_get_signed_bodies_when_their_ca_is_trusted_and_unknown_issuers_are_refused() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // A private CA and a server certificate it signed, as a company's
    // internal webhook endpoint would have.
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (ca, cert, key) = (path("ca.pem"), path("cert.pem"), path("key.pem"));
    std::fs::write(path("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    let openssl = |args: &[&str]| {
        let made = std::process::Command::new("openssl")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl {args:?}");
    };
    openssl(
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ]
        .into_iter()
        .chain([
            "-subj",
            "/CN=weir test CA",
            "-keyout",
            &path("ca.key"),
            "-out",
            &ca,
        ])
        .collect::<Vec<_>>(),
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ]
        .into_iter()
        .chain(["-keyout", &key, "-out", &path("cert.csr")])
        .collect::<Vec<_>>(),
    );
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &path("cert.csr"),
            "-CA",
            &ca,
        ]
        .into_iter()
        .chain(["-CAkey", &path("ca.key"), "-CAcreateserial", "-out", &cert])
        .chain(["-extfile", &path("san.ext")])
        .collect::<Vec<_>>(),
    );
    let mut hook = crate::harness::Helper(
        std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/e2e/https_receiver.py"
            ))
            .args([&cert, &key])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(hook.0.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let (received_tx, received) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = received_tx.send(serde_json::from_str(&line).unwrap());
        }
    });

    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, TLS_RULES).unwrap();
    let url = format!("https://127.0.0.1:{port}/hook");
    let weir = Weir::start(&config(
        &rules,
        &format!(
            "{}{}[[alerts.routes]]\nreceiver = \"untrusting\"\nmatchers = {{ team = \"nobody\" }}\n{FAST_ROUTE}[[alerts.routes]]\nreceiver = \"trusting\"\n{FAST_ROUTE}",
            receiver_toml(
                "trusting",
                &url,
                &format!("hmac_secret = \"s3cret\"\nca_file = {ca:?}")
            ),
            receiver_toml("untrusting", &url, ""),
        ),
    ));
    invocations(&weir, "checkout", 10, 5, 0, SystemTime::now());

    let got = received
        .recv_timeout(LIMIT)
        .expect("the trusted receiver is told");
    assert_eq!(got["path"], "/hook");
    let raw = got["raw"].as_str().unwrap();
    let body: Value = serde_json::from_str(raw).unwrap();
    assert_eq!(body["receiver"], "trusting");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "TrustedReceiver");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(raw.as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(got["signature"].as_str(), Some(expected.as_str()));

    let untrusting = wait_for("the unknown issuer to be refused", LIMIT, || {
        let receivers = weir.get_json("/api/v1/alerts")["receivers"].clone();
        let r = receivers
            .as_array()?
            .iter()
            .find(|r| r["name"] == "untrusting")?
            .clone();
        r["last_error"].as_str().is_some().then_some(r)
    });
    let error = untrusting["last_error"].as_str().unwrap();
    assert!(
        error.contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
    assert_eq!(untrusting["delivered"], 0);
    // Nothing reached the receiver through the client that does not trust it.
    let_rules_run(&weir, 2);
    while let Ok(extra) = received.try_recv() {
        let body: Value = serde_json::from_str(extra["raw"].as_str().unwrap()).unwrap();
        assert_eq!(body["receiver"], "trusting", "{extra}");
    }
    drop(hook);
}

const STALL: &str = r#"groups:
  - name: watch
    interval: 1s
    rules:
      - alert: Stalled
        kind: absent
        component: stalled-*
        window: 2m
        for: 3s
"#;

#[test]
fn a_state_the_database_refused_is_written_with_the_next_evaluation_and_then_told() {
    let (_dir, hook, weir) = with_one_receiver(STALL, "");
    let now = SystemTime::now();
    invocations(
        &weir,
        "stalled-consumer",
        1,
        0,
        0,
        now - Duration::from_secs(600),
    );
    let stored = |transition: &str| {
        weir.get_json("/api/v1/alerts/history?limit=100")["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["transition"] == transition && h["component"] == "stalled-consumer")
    };
    wait_for("the pending state to be stored", LIMIT, || {
        stored("pending").then_some(())
    });

    // Another process takes SQLite's write lock while `for` runs: the
    // firing transition cannot be written.
    let lock = crate::harness::SqliteWriteLock::take(&weir);
    // The evaluation that finds the alert firing cannot store it (the API
    // shows what was evaluated); wait for a later evaluation to fail too, so
    // the firing transition's own write has certainly been refused.
    wait_for(
        "the alert to be evaluated firing",
        Duration::from_secs(90),
        || {
            weir.get_json("/api/v1/alerts")["alerts"]
                .as_array()?
                .iter()
                .any(|a| a["state"] == "firing")
                .then_some(())
        },
    );
    let firing_seen = nanos(SystemTime::now());
    wait_for(
        "a later write to be refused",
        Duration::from_secs(90),
        || {
            let group = weir.get_json("/api/v1/rules")["groups"][0].clone();
            (group["last_evaluation_unix_nano"].as_u64()? > firing_seen
                && group["last_error"].is_string())
            .then_some(())
        },
    );
    assert!(!stored("firing"));
    assert!(
        hook.told("Stalled", "firing").is_empty(),
        "nothing is told before it is stored"
    );

    // The database takes writes again: the firing state is written with the
    // next evaluation, and then, once, told.
    drop(lock);
    wait_for("the firing state to be stored", LIMIT, || {
        stored("firing").then_some(())
    });
    wait_for("the receiver to be told", LIMIT, || {
        (!hook.told("Stalled", "firing").is_empty()).then_some(())
    });
    let_rules_run(&weir, 3);
    assert_eq!(hook.told("Stalled", "firing").len(), 1);
    assert!(weir.get_json("/api/v1/rules")["groups"][0]["last_error"].is_null());
}
