-- The ops and finance surface (issue 8): admin API tokens, dashboard sessions, and the columns
-- the retention job needs on the raw command stores.

-- Bearer tokens for the admin API and the dashboard (contract §4). Only a SHA-256 of the token is
-- kept; `lookup` is a short non-secret piece of the token that finds the row, and the hash is then
-- compared in constant time by the application.
CREATE TABLE admin_tokens (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    lookup      TEXT NOT NULL UNIQUE,
    token_hash  BYTEA NOT NULL,
    scopes      TEXT[] NOT NULL CHECK (cardinality(scopes) > 0
                    AND scopes <@ ARRAY['read', 'operate', 'finance']::TEXT[]),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);

-- Dashboard sign-ins: the browser holds a random session id in an HttpOnly cookie; the server
-- keeps only its hash and the token it was opened with, so revoking the token ends the session.
CREATE TABLE admin_sessions (
    session_hash BYTEA PRIMARY KEY,
    token_id     BIGINT NOT NULL REFERENCES admin_tokens (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_sessions_expiry_idx ON admin_sessions (expires_at);

-- Raw command bodies carry personal data (purchase.create's customer); the retention job empties
-- them past the retention period and records when.
ALTER TABLE commands ADD COLUMN body_purged_at TIMESTAMPTZ;
ALTER TABLE dead_letters ADD COLUMN body_purged_at TIMESTAMPTZ;
CREATE INDEX commands_received_idx ON commands (received_at) WHERE body_purged_at IS NULL;
CREATE INDEX payments_personal_data_idx ON payments (created_at) WHERE personal_data_purged_at IS NULL;
