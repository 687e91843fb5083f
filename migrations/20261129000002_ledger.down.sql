ALTER TABLE payments DROP COLUMN IF EXISTS refunded_minor;
