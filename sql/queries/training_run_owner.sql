-- The database and start time of training run :r: what marks its local folder as its own.
SELECT current_database() AS db, started_at FROM training_runs WHERE training_run_id = :r;
