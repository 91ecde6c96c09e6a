-- Check the references of predictions once per statement instead of once per row.
--
-- Predictions are written a batch at a time (tasks.nightly_recognition.write_batch: one COPY, or, when
-- some of the lines exist, a staging table and one INSERT ... SELECT). A foreign key probes its
-- parent table once per inserted row; the three keys of predictions (run, model, page +
-- document) made those probes most of the cost of a write. The same facts are checked here by statement-level triggers over the
-- transition tables, with one join per statement:
--   * every inserted or updated prediction's (recognition_run_id, model_id) is a recognition run
--     (its model is then a model, through recognition_runs' own foreign key), and its
--     (page_id, document_id) is a page of that document;
--   * the parents are locked FOR KEY SHARE, as a foreign key does, so that they cannot be deleted
--     or re-keyed before the writer commits;
--   * deleting a recognition run deletes its predictions (as ON DELETE CASCADE did); deleting a
--     page, or changing the key of a page or run, that a prediction references is an error; so
--     is a TRUNCATE of pages or recognition_runs that leaves predictions behind.
-- A foreign key also covers a delete in REPEATABLE READ or SERIALIZABLE racing a writer that
-- commits meanwhile; a trigger's snapshot cannot see that writer's rows, so deletes and key
-- changes of pages and runs are refused outside READ COMMITTED (the default).

ALTER TABLE predictions
    DROP CONSTRAINT predictions_recognition_run_id_fkey,
    DROP CONSTRAINT predictions_model_id_fkey,
    DROP CONSTRAINT predictions_page_document_fkey;

CREATE FUNCTION predictions_check_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked bigint;
    missing record;
BEGIN
    -- Lock the parents first and count what was locked: a parent deleted meanwhile is not locked.
    SELECT count(*) INTO wanted FROM (SELECT DISTINCT page_id, document_id FROM changed) k;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM pages p
         WHERE (p.page_id, p.document_id) IN (SELECT page_id, document_id FROM changed)
           FOR KEY SHARE OF p) k;
    IF locked < wanted THEN
        SELECT c.page_id, c.document_id INTO missing FROM changed c
         WHERE NOT EXISTS (SELECT 1 FROM pages p WHERE p.page_id = c.page_id AND p.document_id = c.document_id)
         ORDER BY c.page_id LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'prediction references page ' || coalesce(missing.page_id::text, '?')
                      || ' of document ' || coalesce(missing.document_id::text, '?') || ', which does not exist',
            TABLE = 'predictions', CONSTRAINT = 'predictions_page_document_ref';
    END IF;
    SELECT count(*) INTO wanted FROM (SELECT DISTINCT recognition_run_id, model_id FROM changed) k;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM recognition_runs r
         WHERE (r.recognition_run_id, r.model_id) IN (SELECT recognition_run_id, model_id FROM changed)
           FOR KEY SHARE OF r) k;
    IF locked < wanted THEN
        SELECT c.recognition_run_id, c.model_id INTO missing FROM changed c
         WHERE NOT EXISTS (SELECT 1 FROM recognition_runs r
                            WHERE r.recognition_run_id = c.recognition_run_id AND r.model_id = c.model_id)
         ORDER BY c.recognition_run_id LIMIT 1;
        RAISE foreign_key_violation USING
            MESSAGE = 'prediction references recognition run ' || coalesce(missing.recognition_run_id::text, '?')
                      || ' of model ' || coalesce(missing.model_id::text, '?') || ', which does not exist',
            TABLE = 'predictions', CONSTRAINT = 'predictions_run_model_ref';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER predictions_refs_insert AFTER INSERT ON predictions
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION predictions_check_refs();
CREATE TRIGGER predictions_refs_update AFTER UPDATE ON predictions
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION predictions_check_refs();

-- The parent side: deletes are checked per statement over the deleted rows (`gone`), a change of
-- a parent's key (which nothing in linerec does) per row and only when the key changes.
CREATE FUNCTION predictions_parent_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    orphan record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM predictions) THEN
            RAISE foreign_key_violation USING
                MESSAGE = 'cannot truncate ' || TG_TABLE_NAME || ': predictions reference it (truncate them too)';
        END IF;
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE feature_not_supported USING
            MESSAGE = TG_OP || ' on ' || TG_TABLE_NAME || ' must run in READ COMMITTED (predictions reference it)';
    END IF;
    IF TG_TABLE_NAME = 'recognition_runs' AND TG_OP = 'DELETE' THEN  -- ON DELETE CASCADE
        DELETE FROM predictions pr USING gone g WHERE pr.recognition_run_id = g.recognition_run_id;
        RETURN NULL;
    ELSIF TG_TABLE_NAME = 'recognition_runs' THEN
        SELECT pr.recognition_run_id, pr.model_id INTO orphan FROM predictions pr
         WHERE pr.recognition_run_id = OLD.recognition_run_id AND pr.model_id = OLD.model_id
           AND NOT EXISTS (SELECT 1 FROM recognition_runs r
                            WHERE r.recognition_run_id = pr.recognition_run_id AND r.model_id = pr.model_id)
         LIMIT 1;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT pr.page_id, pr.document_id INTO orphan
          FROM predictions pr JOIN gone g ON pr.document_id = g.document_id AND pr.page_id = g.page_id
         LIMIT 1;
    ELSE
        SELECT pr.page_id, pr.document_id INTO orphan FROM predictions pr
         WHERE pr.document_id = OLD.document_id AND pr.page_id = OLD.page_id
           AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.page_id = pr.page_id AND p.document_id = pr.document_id)
         LIMIT 1;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF TG_TABLE_NAME = 'pages' THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'page ' || orphan.page_id || ' of document ' || orphan.document_id
                      || ' is still referenced by predictions',
            TABLE = 'pages', CONSTRAINT = 'predictions_page_document_ref';
    ELSE
        RAISE foreign_key_violation USING
            MESSAGE = 'recognition run ' || orphan.recognition_run_id || ' of model ' || orphan.model_id
                      || ' is still referenced by predictions',
            TABLE = 'recognition_runs', CONSTRAINT = 'predictions_run_model_ref';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER predictions_ref_pages_delete AFTER DELETE ON pages
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION predictions_parent_gone();
CREATE TRIGGER predictions_ref_pages_rekey AFTER UPDATE OF page_id, document_id ON pages FOR EACH ROW
    WHEN ((OLD.page_id, OLD.document_id) IS DISTINCT FROM (NEW.page_id, NEW.document_id))
    EXECUTE FUNCTION predictions_parent_gone();
CREATE TRIGGER predictions_ref_pages_truncate AFTER TRUNCATE ON pages
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_parent_gone();
CREATE TRIGGER predictions_ref_runs_delete AFTER DELETE ON recognition_runs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION predictions_parent_gone();
CREATE TRIGGER predictions_ref_runs_rekey AFTER UPDATE OF recognition_run_id, model_id ON recognition_runs
    FOR EACH ROW WHEN ((OLD.recognition_run_id, OLD.model_id) IS DISTINCT FROM (NEW.recognition_run_id, NEW.model_id))
    EXECUTE FUNCTION predictions_parent_gone();
CREATE TRIGGER predictions_ref_runs_truncate AFTER TRUNCATE ON recognition_runs
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_parent_gone();
