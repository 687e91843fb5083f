-- The orchestrator's source of truth (design §1). Every timer is a row with a due time; every
-- state change is a compare-and-set on `status`; events leave through the outbox.

-- Payments: one row per merchant payment_id, which is also the provider's id (contract §2).
CREATE TABLE payments (
    payment_id          TEXT PRIMARY KEY CHECK (payment_id ~ '^[A-Za-z0-9._-]{1,40}$'),
    provider            TEXT NOT NULL CHECK (provider IN ('humm', 'valu')),
    account             TEXT NOT NULL,
    flow                TEXT NOT NULL DEFAULT 'gate' CHECK (flow IN ('gate', 'payment_page', 'api')),
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    currency            CHAR(3) NOT NULL,
    down_payment_minor  BIGINT NOT NULL DEFAULT 0 CHECK (down_payment_minor >= 0),
    status              TEXT NOT NULL CHECK (status IN ('accepted', 'pending', 'action_required',
                            'needs_review', 'succeeded', 'declined', 'failed', 'expired')),
    -- Set when a provider answer contradicts our records; the state itself stays (contract §3).
    review_reason       TEXT,
    -- Hash of the canonical purchase.create body: same id + other body = `conflict`.
    command_hash        TEXT NOT NULL,
    provider_reference  TEXT,
    provider_request_id TEXT,
    -- Provider-specific progress (valU transaction_id, plans, OTP attempts left; last action).
    provider_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    action              JSONB,
    reason              JSONB,
    -- Personal data, masked by the retention job once it is older than the retention period.
    customer            JSONB NOT NULL DEFAULT '{}'::jsonb,
    items               JSONB NOT NULL DEFAULT '[]'::jsonb,
    description         TEXT,
    return_url          TEXT,
    metadata            JSONB NOT NULL DEFAULT '{}'::jsonb,
    personal_data_purged_at TIMESTAMPTZ,
    -- Last event sequence number announced for this payment (contract §1, gap-free).
    last_sequence       BIGINT NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    threshold_at        TIMESTAMPTZ NOT NULL,
    final_at            TIMESTAMPTZ
);
CREATE INDEX payments_status_idx ON payments (provider, account, status, created_at);
CREATE INDEX payments_created_idx ON payments (created_at);
CREATE INDEX payments_open_threshold_idx ON payments (threshold_at)
    WHERE status NOT IN ('succeeded', 'declined', 'failed', 'expired');
CREATE INDEX payments_review_idx ON payments (updated_at)
    WHERE status = 'needs_review' OR review_reason IS NOT NULL;

-- One strictly sequential refund queue per scope (provider account by default, design §1).
CREATE TABLE refund_queues (
    queue_key       TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    account         TEXT NOT NULL,
    -- The next position to hand out; taken under this row's lock when a refund is accepted.
    next_position   BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE refunds (
    refund_id           TEXT PRIMARY KEY CHECK (refund_id ~ '^[A-Za-z0-9._-]{1,40}$'),
    payment_id          TEXT NOT NULL REFERENCES payments (payment_id),
    queue_key           TEXT NOT NULL REFERENCES refund_queues (queue_key),
    position            BIGINT NOT NULL,
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    currency            CHAR(3) NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('queued', 'in_flight', 'succeeded',
                            'declined', 'failed', 'cancelled', 'needs_review')),
    review_reason       TEXT,
    reason              TEXT,
    requested_by        TEXT NOT NULL,
    provider_request_id TEXT,
    provider_reference  TEXT,
    decline             JSONB,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    submitted_at        TIMESTAMPTZ,
    final_at            TIMESTAMPTZ,
    UNIQUE (queue_key, position)
);
-- The database, not a single consumer, keeps one refund in flight per queue (design §1):
-- a refund whose outcome is unknown (in_flight or needs_review) blocks its queue.
CREATE UNIQUE INDEX refunds_one_in_flight_per_queue ON refunds (queue_key)
    WHERE status IN ('in_flight', 'needs_review');
CREATE INDEX refunds_payment_idx ON refunds (payment_id);
CREATE INDEX refunds_queued_idx ON refunds (queue_key, position) WHERE status = 'queued';

-- Durable jobs: status checks, provider calls, expiries, refund dispatch (design §1 "Leases").
-- `available_at` is the due time while scheduled and the lease expiry while running, so one
-- partial index serves both the due scan and the rescue of expired leases, with no lower bound.
CREATE TABLE jobs (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    payment_id      TEXT REFERENCES payments (payment_id),
    refund_id       TEXT REFERENCES refunds (refund_id),
    -- At most one live job per key (e.g. one status check per payment).
    dedupe_key      TEXT,
    payload         JSONB NOT NULL DEFAULT '{}'::jsonb,
    state           TEXT NOT NULL DEFAULT 'scheduled'
                        CHECK (state IN ('scheduled', 'running', 'done', 'exhausted', 'cancelled')),
    available_at    TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 25,
    -- Fencing token of the current claim: a worker that lost its lease cannot commit.
    lease_token     UUID,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_due_idx ON jobs (available_at) WHERE state IN ('scheduled', 'running');
CREATE UNIQUE INDEX jobs_live_dedupe_idx ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('scheduled', 'running');
CREATE INDEX jobs_exhausted_idx ON jobs (updated_at) WHERE state = 'exhausted';
CREATE INDEX jobs_payment_idx ON jobs (payment_id) WHERE payment_id IS NOT NULL;

-- Transactional outbox (contract §1): written with the state change, published with confirms.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    payment_id      TEXT,
    refund_id       TEXT,
    sequence        BIGINT,
    -- Direct reply for the command's first event (contract §1 `reply_to` + `correlation_id`).
    reply_to        TEXT,
    correlation_id  TEXT,
    body            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_payment_idx ON outbox (payment_id, sequence);

-- Raw inbound callbacks, stored before they are applied (design §1 "Callbacks are hints").
CREATE TABLE inbound_callbacks (
    id              BIGSERIAL PRIMARY KEY,
    provider        TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    verified        BOOLEAN NOT NULL,
    payment_id      TEXT,
    outcome         TEXT,
    content_type    TEXT,
    body            BYTEA,
    body_purged_at  TIMESTAMPTZ
);
CREATE INDEX inbound_callbacks_payment_idx ON inbound_callbacks (payment_id, received_at);
CREATE INDEX inbound_callbacks_received_idx ON inbound_callbacks (received_at) WHERE body IS NOT NULL;

-- Every command received, kept with its outcome (contract §1: never silently dropped).
CREATE TABLE commands (
    id              BIGSERIAL PRIMARY KEY,
    command_type    TEXT NOT NULL,
    -- payment_id or refund_id when the body had one.
    subject_id      TEXT,
    message_id      TEXT,
    user_id         TEXT,
    body_hash       TEXT NOT NULL,
    body            BYTEA NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('applied', 'duplicate', 'rejected', 'dead_lettered')),
    reason_code     TEXT,
    reason_message  TEXT,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX commands_subject_idx ON commands (subject_id, command_type);
-- De-duplication of repeated effects (the same purchase.confirm twice has one effect).
CREATE UNIQUE INDEX commands_applied_once_idx ON commands (command_type, subject_id, body_hash)
    WHERE outcome = 'applied' AND subject_id IS NOT NULL;

-- Commands that could not be processed at all, as published to `bnpl.dead` (contract §1).
CREATE TABLE dead_letters (
    id              BIGSERIAL PRIMARY KEY,
    command_id      BIGINT REFERENCES commands (id),
    routing_key     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    headers         JSONB NOT NULL DEFAULT '{}'::jsonb,
    body            BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Published to the dead-letter exchange by the relay, like an outbox row.
    published_at    TIMESTAMPTZ,
    replayed_at     TIMESTAMPTZ,
    purged_at       TIMESTAMPTZ
);
CREATE INDEX dead_letters_open_idx ON dead_letters (created_at) WHERE purged_at IS NULL;
CREATE INDEX dead_letters_unpublished_idx ON dead_letters (id) WHERE published_at IS NULL;

-- Audit log: every state change, callback, provider call and manual decision.
CREATE TABLE audit_log (
    id              BIGSERIAL PRIMARY KEY,
    payment_id      TEXT,
    refund_id       TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('transition', 'callback', 'provider_call',
                        'resolution', 'command', 'note')),
    actor           TEXT NOT NULL,
    from_status     TEXT,
    to_status       TEXT,
    reason          TEXT,
    detail          JSONB NOT NULL DEFAULT '{}'::jsonb,
    at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_payment_idx ON audit_log (payment_id, id);
CREATE INDEX audit_log_refund_idx ON audit_log (refund_id, id) WHERE refund_id IS NOT NULL;
