-- What triggers remember across restarts: a schedule's last tick, a
-- watch's first poll.
CREATE TABLE trigger_state (
    flow  TEXT NOT NULL,
    kind  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flow, kind)
);

-- The objects a watch_files trigger has seen.
CREATE TABLE watch_state (
    flow          TEXT NOT NULL,
    key           TEXT NOT NULL,
    etag          TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (flow, key)
);
