\set id random(1, 100000)
WITH lease AS (SELECT id FROM jobs WHERE id = :id AND lease_token = '00000000-0000-0000-0000-000000000001' AND state = 'running'),
 updated AS (
  UPDATE payments p SET status = 'pending', last_sequence = last_sequence + 1, updated_at = now(),
   final_at = CASE WHEN false THEN clock_timestamp() ELSE p.final_at END,
   review_reason = NULL, action = jsonb_build_object('type','redirect','url','https://x.example/y'), reason = NULL, provider_reference = 'ref-1',
   provider_request_id = 'req-1', provider_state = CAST('{}' AS jsonb)
  WHERE p.payment_id = 'p' || :id AND p.status = 'pending'
  RETURNING p.payment_id, p.traceparent, p.last_sequence),
 completed AS (UPDATE jobs SET updated_at = now() WHERE id = :id AND EXISTS (SELECT 1 FROM updated)),
 audited AS (INSERT INTO audit_log (payment_id, kind, actor, from_status, to_status, reason, detail)
   SELECT payment_id, 'transition', 'callback-ecommpay', 'pending', 'pending', NULL, jsonb_build_object('event','Redirect','note',null) FROM updated),
 announced AS (INSERT INTO outbox (event_id, event_type, payment_id, sequence, body, traceparent)
   SELECT gen_random_uuid(), 'payment.action_required', payment_id, last_sequence, jsonb_build_object('type','payment.action_required','payment_id','p1','sequence',2,'amount',jsonb_build_object('minor',100000,'currency','GBP'),'action',jsonb_build_object('type','redirect','url','https://x.example/y')), traceparent FROM updated),
 stored AS (INSERT INTO inbound_callbacks (provider, verified, payment_id, outcome, body, body_length)
   SELECT 'ecommpay', true, payment_id, 'applied', convert_to(repeat('x',1200),'UTF8'), 1200 FROM updated)
SELECT EXISTS (SELECT 1 FROM updated), 1;
