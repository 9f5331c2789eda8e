-- Up Migration

-- The app's word that a referral (named by its token) became this member's account, written by the API
-- before it signals the workflow. The membership webhook can arrive before the worker has persisted the
-- click or the account; matching against these links (DESIGN rule 4(a)) finds the right referral anyway,
-- and rule 4(b) never hands another member's referral to the webhook.
CREATE TABLE referral_member_links (
  referral_id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organisations (id),
  referral_code_id uuid NOT NULL REFERENCES referral_codes (id),
  visitor_hash text NOT NULL,
  new_member_id uuid NOT NULL,
  linked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_member_links_code_member_idx ON referral_member_links (referral_code_id, new_member_id);
ALTER TABLE referral_member_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON referral_member_links USING (org_id = current_org());

-- Down Migration

DROP TABLE referral_member_links;
