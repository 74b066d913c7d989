//! Alert state and history, silences, the notification log and the outbox.

use crate::common::{Engine, NOW, TestDb};
use weir_store::db::{
    AlertChange, AlertRow, DeliveryOutcome, Notification, NotificationLogRow, SilenceRow,
};

on_both_engines!(
    outbox_enqueue_claim_and_ack,
    a_claimed_notification_goes_to_one_claimant,
    silences_are_saved_replaced_and_pruned,
    alert_state_round_trip,
);

fn notification(
    receiver: &str,
    group: &str,
    entry: &str,
    body: Option<&str>,
    at: u64,
) -> Notification {
    Notification {
        log: NotificationLogRow {
            receiver: receiver.into(),
            group_key: group.into(),
            entry: entry.into(),
        },
        body: body.map(String::from),
        at,
    }
}

async fn outbox_enqueue_claim_and_ack(engine: Engine) {
    let t = TestDb::open(engine).await;
    t.db.record_notifications(&[
        notification(
            "ops",
            "lag/orders",
            r#"{"firing":1}"#,
            Some("lag firing"),
            NOW,
        ),
        notification("ops", "errors/billing", r#"{"firing":0}"#, None, NOW),
        notification(
            "oncall",
            "lag/orders",
            r#"{"firing":1}"#,
            Some("page"),
            NOW + 1,
        ),
    ])
    .await
    .unwrap();
    let mut log = t.db.notification_log().await.unwrap();
    log.sort_by(|a, b| (&a.receiver, &a.group_key).cmp(&(&b.receiver, &b.group_key)));
    assert_eq!(log.len(), 3, "a decision without a body is logged too");
    assert_eq!(log[1].group_key, "errors/billing");

    let pending = t.db.pending_notifications(10).await.unwrap();
    let bodies: Vec<&str> = pending.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(bodies, ["lag firing", "page"], "oldest first");
    let (first, second) = (pending[0].clone(), pending[1].clone());
    assert_eq!(
        (first.state.as_str(), first.attempts, first.next_attempt_at),
        ("pending", 0, NOW)
    );
    assert_eq!(
        t.db.pending_notifications(1).await.unwrap(),
        std::slice::from_ref(&first)
    );

    // The first fails once, then goes through; the second is given up on.
    let retry = DeliveryOutcome::Retry {
        error: "503".into(),
        next_attempt_at: NOW + 30,
    };
    t.db.record_delivery(first.id, &retry, NOW + 1)
        .await
        .unwrap();
    let again = &t.db.pending_notifications(10).await.unwrap()[0];
    assert_eq!(
        (
            again.id,
            again.attempts,
            again.next_attempt_at,
            again.last_error.as_deref()
        ),
        (first.id, 1, NOW + 30, Some("503"))
    );
    t.db.record_delivery(first.id, &DeliveryOutcome::Delivered, NOW + 31)
        .await
        .unwrap();
    t.db.record_delivery(
        second.id,
        &DeliveryOutcome::GaveUp {
            error: "timeout".into(),
        },
        NOW + 40,
    )
    .await
    .unwrap();
    assert!(t.db.pending_notifications(10).await.unwrap().is_empty());
    let delivered = t.db.notifications(Some("delivered"), 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        (
            delivered[0].attempts,
            delivered[0].finished_at,
            delivered[0].last_error.as_deref()
        ),
        (2, Some(NOW + 31), Some("503")),
        "the last error is kept after a later success"
    );
    let all: Vec<i64> =
        t.db.notifications(None, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
    assert_eq!(all, [second.id, first.id], "newest first");
    assert_eq!(
        t.db.outbox_counts().await.unwrap(),
        [
            ("oncall".to_string(), "failed".to_string(), 1),
            ("ops".to_string(), "delivered".to_string(), 1)
        ]
    );

    // A new decision for a group replaces its log entry and queues anew.
    t.db.record_notifications(&[notification(
        "ops",
        "lag/orders",
        r#"{"firing":0}"#,
        Some("resolved"),
        NOW + 50,
    )])
    .await
    .unwrap();
    let log = t.db.notification_log().await.unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().any(|l| l.group_key == "lag/orders"
        && l.receiver == "ops"
        && l.entry == r#"{"firing":0}"#));
    // Pruning takes finished notifications only.
    assert_eq!(t.db.prune_alerting(NOW + 100).await.unwrap(), 2);
    let left = t.db.notifications(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "resolved");
    t.db.close().await;
}

fn silence(id: &str, starts_at: u64, ends_at: u64, comment: &str) -> SilenceRow {
    SilenceRow {
        id: id.into(),
        matchers: r#"[{"name":"component","value":"orders"}]"#.into(),
        starts_at,
        ends_at,
        created_by: "ana".into(),
        comment: comment.into(),
        updated_at: starts_at,
    }
}

async fn silences_are_saved_replaced_and_pruned(engine: Engine) {
    let t = TestDb::open(engine).await;
    let late = silence("s2", NOW + 10, NOW + 20, "deploy");
    let early = silence("s1", NOW, NOW + 5, "maintenance");
    t.db.save_silence(&late).await.unwrap();
    t.db.save_silence(&early).await.unwrap();
    assert_eq!(
        t.db.silences().await.unwrap(),
        [early.clone(), late.clone()]
    );
    let extended = SilenceRow {
        ends_at: NOW + 60,
        comment: "deploy, longer".into(),
        updated_at: NOW + 11,
        ..late
    };
    t.db.save_silence(&extended).await.unwrap();
    assert_eq!(t.db.silences().await.unwrap(), [early, extended.clone()]);
    assert_eq!(t.db.prune_alerting(NOW + 6).await.unwrap(), 1);
    assert_eq!(t.db.silences().await.unwrap(), [extended]);
    t.db.close().await;
}

async fn alert_state_round_trip(engine: Engine) {
    let t = TestDb::open(engine).await;
    let row = |partition: &str, state: &str, value, at| AlertRow {
        rule: "pipeline/lag".into(),
        component: "orders".into(),
        partition: partition.into(),
        state: state.into(),
        value,
        evaluated_at: at,
    };
    let change = |partition: &str, transition: &str, at| AlertChange {
        rule: "pipeline/lag".into(),
        component: "orders".into(),
        partition: partition.into(),
        transition: transition.into(),
        value: Some(1500.0),
        at,
    };
    t.db.save_alerts(
        &[
            row("shard-1", r#"{"pending":1}"#, Some(1500.0), NOW),
            row("", r#"{"inactive":1}"#, None, NOW),
        ],
        &[change("shard-1", "pending", NOW)],
    )
    .await
    .unwrap();
    t.db.save_alerts(
        &[row("shard-1", r#"{"firing":1}"#, Some(2000.0), NOW + 60)],
        &[change("shard-1", "firing", NOW + 60)],
    )
    .await
    .unwrap();
    let mut states = t.db.alert_states().await.unwrap();
    states.sort_by(|a, b| a.partition.cmp(&b.partition));
    assert_eq!(
        states,
        [
            row("", r#"{"inactive":1}"#, None, NOW),
            row("shard-1", r#"{"firing":1}"#, Some(2000.0), NOW + 60),
        ],
        "one row per (rule, component, partition), the latest state"
    );
    assert_eq!(
        t.db.alert_history(10).await.unwrap(),
        [
            change("shard-1", "firing", NOW + 60),
            change("shard-1", "pending", NOW)
        ],
        "newest first"
    );
    assert_eq!(t.db.alert_history(1).await.unwrap().len(), 1);
    assert_eq!(t.db.prune_alerting(NOW + 1).await.unwrap(), 1);
    assert_eq!(t.db.alert_history(10).await.unwrap().len(), 1);
    t.db.close().await;
}

async fn a_claimed_notification_goes_to_one_claimant(engine: Engine) {
    let t = TestDb::open(engine).await;
    t.db.record_notifications(&[notification("ops", "g", "{}", Some("b"), NOW)])
        .await
        .unwrap();
    let id = t.db.pending_notifications(1).await.unwrap()[0].id;
    let first = t.db.claim_notification(id, NOW).await.unwrap();
    let first = first.expect("a pending, due row is claimed");
    if engine == Engine::Postgres {
        // Another node delivering the same outbox skips the locked row.
        assert!(t.db.claim_notification(id, NOW).await.unwrap().is_none());
    }
    first
        .finish(&t.db, &DeliveryOutcome::Delivered, NOW + 1)
        .await
        .unwrap();
    assert!(
        t.db.claim_notification(id, NOW + 2)
            .await
            .unwrap()
            .is_none(),
        "a delivered row is not claimed again"
    );
    assert!(t.db.pending_notifications(10).await.unwrap().is_empty());

    // A row waiting for its retry is not claimed before it is due.
    t.db.record_notifications(&[notification("ops", "h", "{}", Some("c"), NOW)])
        .await
        .unwrap();
    let id = t.db.pending_notifications(1).await.unwrap()[0].id;
    let claim = t.db.claim_notification(id, NOW).await.unwrap().unwrap();
    let retry = DeliveryOutcome::Retry {
        error: "503".into(),
        next_attempt_at: NOW + 1_000,
    };
    claim.finish(&t.db, &retry, NOW).await.unwrap();
    assert!(
        t.db.claim_notification(id, NOW + 999)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        t.db.claim_notification(id, NOW + 1_000)
            .await
            .unwrap()
            .is_some()
    );
}
