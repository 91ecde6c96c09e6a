-- Wait for, then take, the session-level advisory lock of training run :r (lock class :k).
SELECT pg_advisory_lock(:k, :r);
