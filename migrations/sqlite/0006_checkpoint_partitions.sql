-- WAL checkpoints per (sink, partition), so a later cluster mode can keep one
-- position per slice of the durable log. A single node is partition 0, which
-- every existing row becomes. SQLite cannot change a primary key in place.
CREATE TABLE wal_checkpoints_by_partition (
    sink      TEXT NOT NULL,
    partition INTEGER NOT NULL DEFAULT 0,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (sink, partition)
);
INSERT INTO wal_checkpoints_by_partition (sink, partition, seq)
    SELECT sink, 0, seq FROM wal_checkpoints;
DROP TABLE wal_checkpoints;
ALTER TABLE wal_checkpoints_by_partition RENAME TO wal_checkpoints;
