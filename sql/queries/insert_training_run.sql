-- Open a training run on dataset version :dv (params: JSON text); returns its training_run_id.
INSERT INTO training_runs (dataset_version_id, params, num_processes, hosts, status)
VALUES (:dv, CAST(:p AS jsonb), :n, :h, 'running')
RETURNING training_run_id;
