-- Alerts per partition, silences, and notification delivery.
--
-- An alert is one (rule, component, partition); partition_id is '' for series
-- without one.
ALTER TABLE alert_states ADD COLUMN partition_id TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_states DROP CONSTRAINT alert_states_pkey;
ALTER TABLE alert_states ADD PRIMARY KEY (rule, component, partition_id);

ALTER TABLE alert_history ADD COLUMN partition_id TEXT NOT NULL DEFAULT '';

-- Silences mute notifications of the alerts their matchers select between
-- starts_at and ends_at; matchers are JSON.
CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
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
    id              BIGSERIAL PRIMARY KEY,
    receiver        TEXT NOT NULL,
    group_key       TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    finished_at     BIGINT
);
CREATE INDEX outbox_by_state ON outbox (state, id);
