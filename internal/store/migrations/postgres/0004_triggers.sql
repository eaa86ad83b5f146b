CREATE TABLE trigger_state (
    flow  TEXT NOT NULL,
    kind  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flow, kind)
);

CREATE TABLE watch_state (
    flow          TEXT NOT NULL,
    key           TEXT NOT NULL,
    etag          TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (flow, key)
);
