-- Release every session-level advisory lock this connection holds (before it goes back to the pool).
SELECT pg_advisory_unlock_all();
