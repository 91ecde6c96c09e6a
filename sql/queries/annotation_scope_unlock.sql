-- Release the session-level advisory lock of annotation scope :scope (lock class :ns).
SELECT pg_advisory_unlock(:ns, hashtext(:scope));
