-- The ledger writer (issue 15): a refund event carries its payment's refunded total, and the
-- writer builds every event in Rust before its one statement, so the total is kept on the payment
-- (updated by the same statement that makes a refund succeed) instead of summed in SQL.
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0);
UPDATE payments p SET refunded_minor = COALESCE(
    (SELECT sum(r.amount_minor) FROM refunds r WHERE r.payment_id = p.payment_id AND r.status = 'succeeded'), 0);
