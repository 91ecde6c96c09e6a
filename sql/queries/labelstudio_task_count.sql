-- How many pages linerec imported into Label Studio project :k.
SELECT count(*) FROM labelstudio_tasks WHERE project_key = :k;
