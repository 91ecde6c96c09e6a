-- Wait for, then take, the transaction-level advisory lock :k (released when the transaction ends).
SELECT pg_advisory_xact_lock(:k);
