-- Alerts per partition, silences, and notification delivery.
--
-- An alert is one (rule, component, partition); partition_id is '' for series
-- without one.
ALTER TABLE alert_states RENAME TO alert_states_by_component;
CREATE TABLE alert_states (
    rule         TEXT NOT NULL,
    component    TEXT NOT NULL,
    partition_id TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    value        REAL,
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (rule, component, partition_id)
);
INSERT INTO alert_states (rule, component, partition_id, state, value, evaluated_at)
    SELECT rule, component, '', state, value, evaluated_at FROM alert_states_by_component;
DROP TABLE alert_states_by_component;

ALTER TABLE alert_history ADD COLUMN partition_id TEXT NOT NULL DEFAULT '';

-- Silences mute notifications of the alerts their matchers select between
-- starts_at and ends_at; matchers are JSON.
CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- What each (receiver, group) was last told, so a restart neither repeats a
-- notification nor forgets one. entry is JSON.
CREATE TABLE notification_log (
    receiver  TEXT NOT NULL,
    group_key TEXT NOT NULL,
    entry     TEXT NOT NULL,
    PRIMARY KEY (receiver, group_key)
);

-- The durable outbox: a notification is written here in the same
-- transaction as the log entry that decided it, then delivered with retries.
-- state: pending | delivered | failed.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver        TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    finished_at     INTEGER
);
CREATE INDEX outbox_by_state ON outbox (state, id);
