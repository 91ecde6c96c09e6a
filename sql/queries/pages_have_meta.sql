-- Whether the pages table has its meta column (migration 0005).
SELECT 1 FROM information_schema.columns
 WHERE table_schema = current_schema() AND table_name = 'pages' AND column_name = 'meta';
