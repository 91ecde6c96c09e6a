-- Drop an in-progress mark whose read failed for a reason that is not the object's (a service
-- outage): the next scan reads the object again.
DELETE FROM inbox_objects WHERE s3_key = :key AND etag = :etag AND status = 'in_progress';
