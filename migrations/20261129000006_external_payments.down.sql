ALTER TABLE payments DROP COLUMN origin;
