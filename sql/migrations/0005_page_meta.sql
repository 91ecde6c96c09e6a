-- Descriptive metadata of a page from its annotation task (e.g. font, degradation, dpi of a
-- synthetic scan), so evaluations can break error rates down by it.
ALTER TABLE pages ADD COLUMN meta jsonb NOT NULL DEFAULT '{}'::jsonb;
