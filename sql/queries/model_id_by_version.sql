-- The id of the model registered as version :v, if any.
SELECT model_id FROM models WHERE version = :v;
