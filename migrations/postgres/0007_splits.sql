-- Cluster mode's split catalog: every sealed index split in object storage,
-- recorded in the same transaction that moves its partition's checkpoint.
CREATE TABLE splits (
    split_id     TEXT PRIMARY KEY,
    sink         TEXT NOT NULL,
    partition    BIGINT NOT NULL,
    seq_from     BIGINT NOT NULL,
    seq_to       BIGINT NOT NULL,
    time_min     BIGINT NOT NULL,
    time_max     BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    documents    BIGINT NOT NULL,
    filter       BYTEA NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE INDEX splits_by_time ON splits (sink, time_max);
