-- Up Migration

-- An erased referral: a later message for it is refused, and its member, kept only as a salted hash, is still known
-- to have been counted, so a later delivery of their registration does not count them again.
CREATE TABLE erasures (
  referral_id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organisations (id),
  member_hash text,
  erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_member_idx ON erasures (org_id, member_hash) WHERE member_hash IS NOT NULL;
ALTER TABLE erasures ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON erasures USING (org_id = current_org());

-- Down Migration

DROP TABLE erasures;
