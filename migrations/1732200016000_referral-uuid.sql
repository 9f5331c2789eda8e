-- Up Migration

-- The referral id of a workflow id, as the service's nameBasedUuid makes it (version 5 layout over SHA-256): a click
-- is then looked up and taken into the intake in one statement, its referral named in SQL.
CREATE FUNCTION referral_uuid(workflow_id text) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
  FROM (SELECT substring(sha256(convert_to('referral-attribution:' || workflow_id, 'UTF8')) FROM 1 FOR 16)) AS digest(h)
$$;

-- Down Migration

DROP FUNCTION referral_uuid(text);
