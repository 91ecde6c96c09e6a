-- Take the session-level advisory lock of annotation scope :scope (lock class :ns) if it is free;
-- returns whether it was taken. Ingests of one scope hold it, so they run one at a time.
SELECT pg_try_advisory_lock(:ns, hashtext(:scope));
