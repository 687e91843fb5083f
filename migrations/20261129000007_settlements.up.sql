-- Settlement imports (issue 20): a provider's report compared with our ledger, idempotent by the
-- file's hash per account, with every mismatch found. An import changes nothing in the ledger.
CREATE TABLE settlement_imports (
    id            BIGSERIAL PRIMARY KEY,
    provider      TEXT NOT NULL CHECK (provider IN ('humm', 'valu')),
    account       TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    file_name     TEXT CHECK (octet_length(file_name) <= 255),
    mapping       TEXT NOT NULL,
    row_count     INTEGER NOT NULL,
    period_from   DATE,
    period_to     DATE,
    mismatch_count INTEGER NOT NULL,
    imported_by   TEXT NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (provider, account, file_sha256)
);

CREATE TABLE settlement_mismatches (
    id         BIGSERIAL PRIMARY KEY,
    import_id  BIGINT NOT NULL REFERENCES settlement_imports (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_in_report', 'amount_differs',
                   'currency_differs', 'status_differs', 'refunded_total_differs')),
    payment_id TEXT NOT NULL,
    refund_id  TEXT,
    line       BIGINT,
    detail     TEXT NOT NULL
);
CREATE INDEX settlement_mismatches_import_idx ON settlement_mismatches (import_id, id);

-- An import reads the payments of an account that became final within the report's dates.
CREATE INDEX payments_account_final_idx ON payments (provider, account, final_at);
