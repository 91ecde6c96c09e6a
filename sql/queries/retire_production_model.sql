-- Retire model :p if it is still the production model (rowcount 0 otherwise).
UPDATE models SET status = 'retired' WHERE model_id = :p AND status = 'production';
