ALTER TABLE inbound_callbacks DROP COLUMN IF EXISTS body_length;
DROP INDEX IF EXISTS dead_letters_unpublished_idx;
CREATE INDEX dead_letters_unpublished_idx ON dead_letters (id) WHERE published_at IS NULL;
DROP INDEX IF EXISTS outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
ALTER TABLE dead_letters DROP COLUMN IF EXISTS parked_at, DROP COLUMN IF EXISTS publish_error;
ALTER TABLE outbox DROP COLUMN IF EXISTS parked_at, DROP COLUMN IF EXISTS publish_error;
