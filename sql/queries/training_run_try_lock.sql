-- Take the session-level advisory lock of training run :r (lock class :k) if it is free; returns
-- whether it was taken. The process training a run holds it.
SELECT pg_try_advisory_lock(:k, :r);
