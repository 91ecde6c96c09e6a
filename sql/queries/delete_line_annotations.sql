-- Delete the line annotations :ids.
DELETE FROM line_annotations WHERE line_annotation_id = ANY(:ids);
