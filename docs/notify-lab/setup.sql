TRUNCATE payments, jobs, outbox, audit_log, inbound_callbacks CASCADE;
INSERT INTO payments (payment_id, provider, account, flow, amount_minor, currency, status, command_hash, threshold_at, last_sequence, customer, items)
SELECT 'p'||g, 'humm', 'default', 'gate', 100000, 'GBP', 'pending', md5(g::text), now() + interval '1 day', 1,
 '{"id":"cust-1","first_name":"Jane","last_name":"Doe","ip_address":"203.0.113.7"}', '[{"name":"x","quantity":1,"unit_price_minor":100000}]'
FROM generate_series(1,100000) g;
INSERT INTO jobs (id, kind, payment_id, dedupe_key, state, available_at, lease_token, account_key)
SELECT g, 'status_check', 'p'||g, 'status_check:p'||g, 'running', now() + interval '1 hour', '00000000-0000-0000-0000-000000000001', 'humm:default' FROM generate_series(1,100000) g;
VACUUM ANALYZE payments; VACUUM ANALYZE jobs;
