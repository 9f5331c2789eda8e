-- Up Migration

-- Who sent an invitation: the mentor, or an org admin's upload on the mentor's behalf. A mentor's daily limit counts
-- the invitations they sent themselves; rows from before this column are theirs.
ALTER TABLE invitations ADD COLUMN invited_by uuid;

-- Down Migration

ALTER TABLE invitations DROP COLUMN invited_by;
