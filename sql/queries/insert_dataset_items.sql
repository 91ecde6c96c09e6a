-- Record a line of dataset version :dv: its split, text and shard file.
INSERT INTO dataset_items (dataset_version_id, line_annotation_id, split, text, shard)
VALUES (:dv, :la, :split, :text, :shard)
ON CONFLICT DO NOTHING;
