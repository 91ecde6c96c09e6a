-- Release the session-level advisory lock of an inbox object (see inbox_try_lock).
SELECT pg_advisory_unlock(hashtextextended(:k, :c));
