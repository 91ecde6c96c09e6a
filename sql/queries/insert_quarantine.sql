-- Record rejected input with its reason (raw: JSON text); the same rejection recorded twice is one row.
INSERT INTO quarantine (stage, item_ref, reason, raw, export_id)
VALUES (:stage, :ref, :reason, CAST(:raw AS jsonb), :export_id)
ON CONFLICT (stage, item_ref, reason) DO NOTHING;
