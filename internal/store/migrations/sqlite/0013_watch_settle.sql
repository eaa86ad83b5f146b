-- What watch_files needs for settle, events and after-actions: an object's
-- size; since when it has had this ETag and size (RFC 3339); the event
-- waiting for it to settle ('' when none); when a listing last showed it
-- while it waited (a waiting object that is gone is forgotten); and the run
-- it last started (after-actions act only for that run).
ALTER TABLE watch_state ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE watch_state ADD COLUMN since TEXT NOT NULL DEFAULT '';
ALTER TABLE watch_state ADD COLUMN pending TEXT NOT NULL DEFAULT '';
ALTER TABLE watch_state ADD COLUMN listed_at TEXT NOT NULL DEFAULT '';
ALTER TABLE watch_state ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX watch_state_pending ON watch_state (flow, key) WHERE pending <> '';
