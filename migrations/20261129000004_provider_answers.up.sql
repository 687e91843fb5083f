-- Provider answers an operator asked for (`POST /admin/v1/refunds/{id}/status-check`): releasing a
-- stuck refund head must point to one that supports the outcome it records (contract §4, added
-- 2026-11-29), so a head is never released on someone's word alone.
CREATE TABLE provider_answers (
    id          BIGSERIAL PRIMARY KEY,
    refund_id   TEXT NOT NULL REFERENCES refunds (refund_id),
    payment_id  TEXT NOT NULL,
    supports    TEXT NOT NULL CHECK (supports IN ('succeeded', 'declined', 'pending', 'unknown')),
    answer      JSONB NOT NULL,
    asked_by    TEXT NOT NULL,
    asked_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX provider_answers_refund_idx ON provider_answers (refund_id, id);
