-- Take the session-level advisory lock of an inbox object being read (:k: its key and ETag, :c: the
-- lock class) if it is free; returns whether it was taken.
SELECT pg_try_advisory_lock(hashtextextended(:k, :c));
