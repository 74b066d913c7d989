-- Per directed edge per minute: traffic between components, streams, queues
-- and topics, derived at ingest. `data` holds counts and the delivery-lag sketch.
CREATE TABLE topology_edges (
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    minute      BIGINT NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (source_kind, source, target_kind, target, minute)
);
CREATE INDEX topology_edges_by_minute ON topology_edges (minute);
