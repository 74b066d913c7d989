//! The evaluation loop and webhook delivery on tokio's paused clock: a
//! real SQLite database, a real receiver on loopback, and time that moves
//! only when the test says, so `for`, group timers and retry backoff are
//! checked to the millisecond.

mod support;

use std::time::Duration;
use support::{HeldClock, database, point, receiver, routing, settle, settle_briefly, until};
use tokio::sync::watch;
use tokio::time::{Instant, advance};
use weir_alerts::rules::parse;
use weir_alerts::state::AlertState;
use weir_alerts::{Alerting, Clock};

const S: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

fn rules(alert: &str, window: &str, hold_for: &str) -> Vec<weir_alerts::rules::RuleGroup> {
    let text = format!(
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: {alert}\n        kind: metric\n        metric: queue.depth\n        window: {window}\n        op: \">\"\n        threshold: 10\n        for: {hold_for}\n"
    );
    parse(&text, "rules.yaml").expect("valid rules").groups
}

/// Alerting started on the paused clock over `db`, which first gets one
/// deep-queue reading (50 > 10) a millisecond before the start.
struct Started {
    alerting: std::sync::Arc<Alerting>,
    /// Virtual time at the start, and the wall clock's nanoseconds then.
    start: Instant,
    t0: u64,
    clock: Clock,
    stop: watch::Sender<bool>,
    running: tokio::task::JoinHandle<()>,
}

async fn start(
    db: &weir_store::db::Database,
    rule_window: &str,
    hold_for: &str,
    routing: weir_alerts::routing::Routing,
) -> Started {
    let clock = Clock::following_tokio();
    let (start, t0) = (Instant::now(), clock.now());
    db.write_metrics(&[point("queue.depth", "orders", t0 - MS, 50.0)], 1)
        .await
        .unwrap();
    let alerting = Alerting::load_with_clock(
        db.clone(),
        rules("QueueDeep", rule_window, hold_for),
        routing,
        "http://weir".into(),
        clock,
    )
    .await
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(alerting.clone().run(stopped, None));
    Started {
        alerting,
        start,
        t0,
        clock,
        stop,
        running,
    }
}

impl Started {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.running.await.unwrap();
    }
}

/// Virtual nanoseconds since `start`.
fn since(start: Instant, at: Instant) -> u64 {
    (at - start).as_nanos() as u64
}

#[tokio::test(start_paused = true)]
async fn an_alert_fires_after_for_is_told_after_group_wait_and_resolves_when_its_series_ends() {
    let _held = HeldClock::hold();
    let (db, _dir) = database().await;
    let (url, received) = receiver(0).await;
    let started = start(&db, "10s", "2s", routing(&url, "3s", "1s", "24h")).await;
    let (start, t0) = (started.start, started.t0);
    let alerting = started.alerting.clone();

    let evaluated = |at: u64| {
        let a = alerting.clone();
        async move {
            a.engine()
                .group_status()
                .get("g")
                .is_some_and(|s| s.last_evaluation >= at)
        }
    };
    until("the first evaluation", || evaluated(t0)).await;
    assert!(
        matches!(alerting.active()[0].state, AlertState::Pending { .. }),
        "pending first"
    );
    for k in 1..=10 {
        advance(Duration::from_secs(1)).await;
        until("the next evaluation", || evaluated(t0 + k * S)).await;
        match k {
            2 => assert!(alerting.active()[0].state.is_firing(), "fires after for"),
            5 | 10 => {
                let told = k as usize / 5;
                until("the receiver hears", || async {
                    received.lock().len() == told
                })
                .await;
            }
            _ => {}
        }
    }
    settle().await;
    let received = received.lock().clone();
    assert_eq!(received.len(), 2, "told once firing, once resolved");
    let (at, firing) = &received[0];
    assert_eq!(since(start, *at), 5 * S, "fired at 2s, group_wait 3s");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["alerts"][0]["labels"]["alertname"], "QueueDeep");
    assert_eq!(firing["alerts"][0]["labels"]["component"], "orders");
    let (at, resolved) = &received[1];
    assert_eq!(
        since(start, *at),
        10 * S,
        "the only point left the 10s window"
    );
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["groupKey"], firing["groupKey"]);

    let history: Vec<String> = db
        .alert_history(10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.transition)
        .collect();
    for t in ["pending", "firing", "resolved"] {
        assert!(history.contains(&t.to_string()), "{history:?}");
    }
    started.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_delivery_is_retried_with_growing_backoff_until_it_lands() {
    let _held = HeldClock::hold();
    let (db, _dir) = database().await;
    let (url, received) = receiver(2).await;
    let started = start(&db, "1h", "0s", routing(&url, "0s", "1s", "24h")).await;
    let (start, t0) = (started.start, started.t0);
    let alerting = started.alerting.clone();

    let pending_after = |attempts: u32| {
        let db = db.clone();
        async move {
            db.notifications(Some("pending"), 10)
                .await
                .unwrap()
                .first()
                .is_some_and(|n| n.attempts == attempts)
        }
    };
    let next_attempt_at =
        || async { db.notifications(Some("pending"), 10).await.unwrap()[0].next_attempt_at };

    until("the first attempt fails", || pending_after(1)).await;
    assert_eq!(since(start, received.lock()[0].0), 0);
    let first_retry = next_attempt_at().await;
    assert!(
        (t0 + 500 * MS..=t0 + S).contains(&first_retry),
        "the first retry waits 0.5-1s: {}",
        first_retry - t0
    );
    // Timers fire on millisecond ticks: step one tick at a time from just
    // before the retry is due until it is made.
    let step_until_made = |attempts: usize| {
        let received = received.clone();
        async move {
            for _ in 0..20 {
                advance(Duration::from_millis(1)).await;
                settle_briefly().await;
                if received.lock().len() == attempts {
                    return;
                }
            }
            panic!("attempt {attempts} not made within 20 ms of being due");
        }
    };
    advance(Duration::from_nanos(first_retry - t0 - MS)).await;
    settle().await;
    assert_eq!(received.lock().len(), 1, "not retried before it is due");
    step_until_made(2).await;
    let second_at = t0 + since(start, received.lock()[1].0);
    assert!(
        (first_retry..first_retry + 20 * MS).contains(&second_at),
        "retried once due"
    );

    until("the second attempt is recorded", || pending_after(2)).await;
    let second_retry = next_attempt_at().await;
    assert!(
        (second_at + S..=second_at + 2 * S).contains(&(second_retry)),
        "the second retry waits 1-2s: {}",
        second_retry - second_at
    );
    advance(Duration::from_nanos(
        second_retry - started.clock.now() - MS,
    ))
    .await;
    settle().await;
    assert_eq!(received.lock().len(), 2, "not retried before it is due");
    step_until_made(3).await;
    until("the third attempt lands", || async {
        db.notifications(Some("delivered"), 10).await.unwrap().len() == 1
    })
    .await;
    let received = received.lock().clone();
    assert_eq!(received.len(), 3);
    assert!(
        received.iter().all(|(_, body)| *body == received[0].1),
        "every attempt sends the same body"
    );
    let stats = alerting.outbox().stats()["ops"].clone();
    assert_eq!(
        (stats.delivered, stats.failed_attempts, stats.gave_up),
        (1, 2, 0)
    );
    assert!(stats.last_error.unwrap().contains("answered 500"));
    started.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_keeps_failing_is_given_up_after_max_age() {
    let _held = HeldClock::hold();
    let (db, _dir) = database().await;
    let (url, _received) = receiver(usize::MAX).await;
    let started = start(&db, "1h", "0s", routing(&url, "0s", "1s", "3s")).await;
    let t0 = started.t0;
    let alerting = started.alerting.clone();

    let failed = || async { db.notifications(Some("failed"), 10).await.unwrap() };
    until("the first attempt", || async {
        !db.notifications(None, 10).await.unwrap().is_empty()
    })
    .await;
    for _ in 0..20 {
        if !failed().await.is_empty() {
            break;
        }
        advance(Duration::from_millis(500)).await;
        settle().await;
    }
    let failed = failed().await;
    assert_eq!(failed.len(), 1, "given up and recorded as failed");
    let error = failed[0].last_error.clone().unwrap();
    assert!(
        error.contains("answered 500") && error.contains("gave up after"),
        "{error}"
    );
    let finished = failed[0].finished_at.unwrap();
    assert!(finished >= t0 + 3 * S, "not before max_age");
    assert_eq!(alerting.outbox().stats()["ops"].gave_up, 1);
    started.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reading_is_evaluated_on_arrival_for_counts_from_it_and_it_resolves_as_it_leaves_the_window()
 {
    let _held = HeldClock::hold();
    let (db, _dir) = database().await;
    let (url, _received) = receiver(0).await;
    let clock = Clock::following_tokio();
    let t0 = clock.now();
    // A one-minute tick: anything sooner is evaluation on arrival or a
    // timer of the alert's own.
    let text = "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: QueueDeep\n        kind: metric\n        metric: queue.depth\n        window: 5s\n        aggregate: max\n        op: \">\"\n        threshold: 10\n        for: 2s\n";
    let groups = parse(text, "rules.yaml").expect("valid rules").groups;
    let alerting = Alerting::load_with_clock(
        db.clone(),
        groups,
        routing(&url, "0s", "1s", "24h"),
        "http://weir".into(),
        clock,
    )
    .await
    .unwrap();
    let arrivals = std::sync::Arc::new(weir_store::arrivals::MetricArrivals::default());
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(alerting.clone().run(stopped, Some(arrivals.clone())));
    let evaluated_after = |at: u64| {
        let a = alerting.clone();
        async move {
            a.engine()
                .group_status()
                .get("g")
                .is_some_and(|s| s.last_evaluation > at)
        }
    };
    until("the first tick", || evaluated_after(t0.saturating_sub(1))).await;
    assert!(alerting.active().is_empty());

    // A deep-queue reading taken at 0.3 s is committed at 0.5 s.
    advance(Duration::from_millis(500)).await;
    let reading_at = t0 + 300 * MS;
    db.write_metrics(&[point("queue.depth", "orders", reading_at, 50.0)], 1)
        .await
        .unwrap();
    arrivals.record(["queue.depth"]);
    until("the evaluation on arrival", || {
        evaluated_after(t0 + 400 * MS)
    })
    .await;
    let state = alerting.active()[0].state;
    assert_eq!(
        state,
        AlertState::Pending { since: reading_at },
        "pending since the reading, not since the evaluation"
    );

    // `for` runs out 2 s after the reading: 2.3 s, with no tick and no new
    // reading in between.
    advance(Duration::from_millis(1_750)).await;
    settle().await;
    assert!(
        matches!(alerting.active()[0].state, AlertState::Pending { .. }),
        "not before 2 s after the reading"
    );
    advance(Duration::from_millis(100)).await;
    until("firing once `for` ran out", || async {
        alerting
            .active()
            .first()
            .is_some_and(|a| a.state.is_firing())
    })
    .await;
    until("the firing evaluation is written", || {
        evaluated_after(t0 + 2_300 * MS)
    })
    .await;

    // The only reading leaves the 5 s window at 5.3 s: resolved then.
    advance(Duration::from_millis(2_900)).await;
    settle().await;
    assert!(
        alerting.active()[0].state.is_firing(),
        "the reading is still in the window at 5.25 s"
    );
    advance(Duration::from_millis(100)).await;
    until("resolved as the reading left the window", || async {
        alerting.active().is_empty()
    })
    .await;
    let resolution = || async {
        db.alert_history(10)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.transition == "resolved")
    };
    until("the resolution is written", || async {
        resolution().await.is_some()
    })
    .await;
    let resolved_at = resolution().await.expect("written").at;
    assert!(
        (t0 + 5_300 * MS..t0 + 5_400 * MS).contains(&resolved_at),
        "resolved {} ms after the start, not at the next one-minute tick",
        (resolved_at - t0) / MS
    );
    stop.send(true).unwrap();
    running.await.unwrap();
}
