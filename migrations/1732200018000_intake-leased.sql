-- Up Migration

-- A message whose available_at lies ahead is either leased (a dispatcher or a direct send is delivering it) or
-- deferred after a failed delivery. A direct send waits for the first and delivers the second itself.
ALTER TABLE intake ADD COLUMN leased boolean NOT NULL DEFAULT false;

-- Down Migration

ALTER TABLE intake DROP COLUMN leased;
