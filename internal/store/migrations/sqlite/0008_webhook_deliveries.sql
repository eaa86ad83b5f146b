-- Signed webhook deliveries seen lately, by delivery id and by signature,
-- so that a replay is refused; expires_at is a Unix time in seconds.
CREATE TABLE webhook_deliveries (
    flow       TEXT NOT NULL,
    key        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (flow, key)
);

CREATE INDEX webhook_deliveries_expires ON webhook_deliveries (expires_at);
