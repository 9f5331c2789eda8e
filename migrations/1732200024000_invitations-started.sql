-- Up Migration

-- An invitation is taken when its row is written; its workflow is started then if Temporal answers in time, or by a
-- worker's starter later. This column says it has been started: the starter looks for rows without it.
ALTER TABLE invitations ADD COLUMN workflow_started_at timestamptz;
-- Every invitation past sending was started; one still sending may be one whose start never came.
UPDATE invitations SET workflow_started_at = created_at WHERE status <> 'sending';
CREATE INDEX invitations_awaiting_start_idx ON invitations (created_at) WHERE workflow_started_at IS NULL;

-- Down Migration

DROP INDEX invitations_awaiting_start_idx;
ALTER TABLE invitations DROP COLUMN workflow_started_at;
