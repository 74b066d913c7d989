-- Per component per minute: what pipeline-health views and alerts read.
-- `data` holds the whole rollup as JSON (counts, duration sketches, max lag);
-- the counters are also columns so they can be summed in SQL.
CREATE TABLE health_rollups (
    component   TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    invocations INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    cold_starts INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (component, minute)
);
CREATE INDEX health_rollups_by_minute ON health_rollups (minute);
