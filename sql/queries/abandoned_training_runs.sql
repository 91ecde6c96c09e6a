-- Training runs still 'running' with these inputs (dataset version, params as JSON text, processes,
-- hosts), newest first: each is being trained, or was cut short if nobody holds its advisory lock.
SELECT training_run_id
  FROM training_runs
 WHERE status = 'running' AND dataset_version_id = :dv AND params = CAST(:p AS jsonb)
   AND num_processes = :n AND hosts = :h
 ORDER BY training_run_id DESC;
