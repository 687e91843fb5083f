-- Hostile input (issue 12, contract §7, design §1c).

-- A row the broker can never take (a header or body over the broker's limits) is parked with its
-- error instead of being retried in a loop that takes the shared connection down. Parked and
-- purged rows are never published; the relay's scan skips them.
ALTER TABLE outbox ADD COLUMN parked_at TIMESTAMPTZ, ADD COLUMN publish_error TEXT;
ALTER TABLE dead_letters ADD COLUMN parked_at TIMESTAMPTZ, ADD COLUMN publish_error TEXT;
DROP INDEX IF EXISTS outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
DROP INDEX IF EXISTS dead_letters_unpublished_idx;
CREATE INDEX dead_letters_unpublished_idx ON dead_letters (id)
    WHERE published_at IS NULL AND parked_at IS NULL AND purged_at IS NULL;

-- Unverified callback bodies are stored truncated (the first 4 KiB); this is how long they were.
ALTER TABLE inbound_callbacks ADD COLUMN body_length INTEGER;
