-- Wait for, then take, the session-level advisory lock of annotation scope :scope (lock class :ns).
SELECT pg_advisory_lock(:ns, hashtext(:scope));
