-- s3_event_seen is pruned by age (trigger.S3EventSeenKept): the index
-- keeps that a range delete.
CREATE INDEX s3_event_seen_at ON s3_event_seen (seen_at);
