UPDATE outbox SET published_at = now() FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous WHERE id = 1;
