-- The ids of a model's blocks on the given pages.
SELECT page_id, block_no, block_id FROM blocks WHERE model_id = :model AND page_id = ANY(CAST(:pages AS bigint[]));
