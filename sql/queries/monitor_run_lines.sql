-- The lines a recognition run wrote, for its quality signals (tasks.monitor): confidence, box
-- height in page pixels and text.
SELECT confidence, h, text
  FROM predictions
 WHERE recognition_run_id = :run
