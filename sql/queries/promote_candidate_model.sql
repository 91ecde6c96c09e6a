-- Make model :m production if it is still a candidate (rowcount 0 otherwise; a unique violation of
-- models_one_production when another model is production).
UPDATE models SET status = 'production', promoted_at = now() WHERE model_id = :m AND status = 'candidate';
