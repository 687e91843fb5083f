ALTER TABLE outbox DROP COLUMN traceparent;
ALTER TABLE refunds DROP COLUMN traceparent;
ALTER TABLE payments DROP COLUMN traceparent;
