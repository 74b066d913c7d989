-- Rollup and edge rows per writer: each checkpoint key (a single node's
-- rollup sink, a cluster partition's signal) merges into rows of its own, so
-- writers never wait for one another; readers merge the rows of a minute.
-- Rows of finished minutes are folded into one row per minute, writer -1,
-- which every existing row becomes.
ALTER TABLE health_rollups ADD COLUMN writer BIGINT NOT NULL DEFAULT -1;
ALTER TABLE health_rollups DROP CONSTRAINT health_rollups_pkey;
ALTER TABLE health_rollups ADD PRIMARY KEY (component, minute, writer);
ALTER TABLE topology_edges ADD COLUMN writer BIGINT NOT NULL DEFAULT -1;
ALTER TABLE topology_edges DROP CONSTRAINT topology_edges_pkey;
ALTER TABLE topology_edges ADD PRIMARY KEY (source_kind, source, target_kind, target, minute, writer);
