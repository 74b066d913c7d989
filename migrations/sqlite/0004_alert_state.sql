-- The state of each (rule, component) alert, so a restart neither loses a
-- pending or firing alert nor notifies it twice; and its history.
CREATE TABLE alert_states (
    rule         TEXT NOT NULL,
    component    TEXT NOT NULL,
    state        TEXT NOT NULL,
    value        REAL,
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (rule, component)
);

CREATE TABLE alert_history (
    rule       TEXT NOT NULL,
    component  TEXT NOT NULL,
    transition TEXT NOT NULL,
    value      REAL,
    at         INTEGER NOT NULL
);
CREATE INDEX alert_history_by_time ON alert_history (at);
