-- The W3C `traceparent` of the command that created a payment or refund, carried onto every event
-- about it (the relay publishes it as the event's `traceparent` header), so a trace that starts in
-- an order system continues through the orchestrator's events.
ALTER TABLE payments ADD COLUMN traceparent TEXT CHECK (octet_length(traceparent) <= 55);
ALTER TABLE refunds ADD COLUMN traceparent TEXT CHECK (octet_length(traceparent) <= 55);
ALTER TABLE outbox ADD COLUMN traceparent TEXT CHECK (octet_length(traceparent) <= 55);
