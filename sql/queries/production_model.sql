-- The production model (at most one: index models_one_production), if there is one.
SELECT model_id, version FROM models WHERE status = 'production';
