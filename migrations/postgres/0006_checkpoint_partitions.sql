-- WAL checkpoints per (sink, partition), so a later cluster mode can keep one
-- position per slice of the durable log. A single node is partition 0, which
-- every existing row becomes.
ALTER TABLE wal_checkpoints ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wal_checkpoints DROP CONSTRAINT wal_checkpoints_pkey;
ALTER TABLE wal_checkpoints ADD PRIMARY KEY (sink, partition);
