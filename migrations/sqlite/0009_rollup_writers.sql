-- Rollup and edge rows per writer: each checkpoint key (a single node's
-- rollup sink, a cluster partition's signal) merges into rows of its own, so
-- writers never wait for one another; readers merge the rows of a minute.
-- Rows of finished minutes are folded into one row per minute, writer -1,
-- which every existing row becomes. SQLite cannot change a primary key in
-- place.
CREATE TABLE health_rollups_by_writer (
    component   TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    writer      INTEGER NOT NULL,
    invocations INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    cold_starts INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (component, minute, writer)
);
INSERT INTO health_rollups_by_writer
    (component, minute, writer, invocations, errors, cold_starts, last_seen, data)
    SELECT component, minute, -1, invocations, errors, cold_starts, last_seen, data
    FROM health_rollups;
DROP TABLE health_rollups;
ALTER TABLE health_rollups_by_writer RENAME TO health_rollups;
CREATE INDEX health_rollups_by_minute ON health_rollups (minute);

CREATE TABLE topology_edges_by_writer (
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    minute      INTEGER NOT NULL,
    writer      INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (source_kind, source, target_kind, target, minute, writer)
);
INSERT INTO topology_edges_by_writer
    (source_kind, source, target_kind, target, minute, writer, data)
    SELECT source_kind, source, target_kind, target, minute, -1, data
    FROM topology_edges;
DROP TABLE topology_edges;
ALTER TABLE topology_edges_by_writer RENAME TO topology_edges;
CREATE INDEX topology_edges_by_minute ON topology_edges (minute);
