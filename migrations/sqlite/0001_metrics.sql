-- How far each sink has committed the collector's write-ahead log.
CREATE TABLE wal_checkpoints (
    sink TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);

-- One row per metric series: name, kind, unit, component and point attributes.
-- The id is a stable fingerprint of those, computed by weir.
CREATE TABLE metric_series (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    unit        TEXT NOT NULL,
    service     TEXT NOT NULL,
    temporality TEXT NOT NULL,
    monotonic   INTEGER NOT NULL,
    description TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    resource    TEXT NOT NULL
);
CREATE INDEX metric_series_by_name ON metric_series (name, service);

-- Gauge and sum points carry `value`; histograms, exponential histograms and
-- summaries carry their buckets or quantiles as JSON in `data`.
CREATE TABLE metric_points (
    series_id            INTEGER NOT NULL,
    time_unix_nano       INTEGER NOT NULL,
    start_time_unix_nano INTEGER NOT NULL,
    value                REAL,
    data                 TEXT
);
CREATE INDEX metric_points_by_series_time ON metric_points (series_id, time_unix_nano);
CREATE INDEX metric_points_by_time ON metric_points (time_unix_nano);
