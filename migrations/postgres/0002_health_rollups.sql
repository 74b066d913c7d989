-- Per component per minute: what pipeline-health views and alerts read.
-- `data` holds the whole rollup as JSON (counts, duration sketches, max lag);
-- the counters are also columns so they can be summed in SQL.
CREATE TABLE health_rollups (
    component   TEXT NOT NULL,
    minute      BIGINT NOT NULL,
    invocations BIGINT NOT NULL,
    errors      BIGINT NOT NULL,
    cold_starts BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (component, minute)
);
CREATE INDEX health_rollups_by_minute ON health_rollups (minute);
