-- Cluster mode's split catalog: every sealed index split in object storage,
-- recorded in the same transaction that moves its partition's checkpoint.
CREATE TABLE splits (
    split_id     TEXT PRIMARY KEY,
    sink         TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    seq_from     INTEGER NOT NULL,
    seq_to       INTEGER NOT NULL,
    time_min     INTEGER NOT NULL,
    time_max     INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    documents    INTEGER NOT NULL,
    filter       BLOB NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE INDEX splits_by_time ON splits (sink, time_max);
