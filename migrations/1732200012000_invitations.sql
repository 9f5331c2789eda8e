-- Up Migration

-- An invitation by email, sent on a mentor's behalf with their invite link. The address is kept only while the
-- invitation is open; its salted hash stays (the same address is invited once per organisation per period).
CREATE TABLE invitations (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organisations (id),
  mentor_id uuid NOT NULL REFERENCES users (id),
  referral_code_id uuid NOT NULL REFERENCES referral_codes (id),
  email text,
  email_hash text NOT NULL,
  invitee_name text,
  message text,
  status text NOT NULL CHECK (status IN ('sending', 'sent', 'clicked', 'joined', 'cancelled', 'bounced', 'expired')),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  last_sent_at timestamptz,
  reminded_at timestamptz,
  clicked_at timestamptz,
  joined_at timestamptz,
  closed_at timestamptz
);
CREATE INDEX invitations_mentor_idx ON invitations (mentor_id, created_at DESC);
CREATE INDEX invitations_org_idx ON invitations (org_id, created_at DESC);
CREATE INDEX invitations_address_idx ON invitations (org_id, email_hash, created_at DESC);

-- Addresses that asked not to be emailed again, by anyone in the organisation.
CREATE TABLE email_suppressions (
  org_id uuid NOT NULL REFERENCES organisations (id),
  email_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, email_hash)
);

GRANT SELECT ON invitations, email_suppressions TO referral_reader;
SELECT protect_org_table('invitations');
SELECT protect_org_table('email_suppressions');

-- A referral confirmed from an invitation's link: the invitation joined, and closed (its address dropped).
CREATE FUNCTION invitation_joined() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'confirmed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'confirmed') THEN
    UPDATE invitations i SET status = 'joined', joined_at = NEW.confirmed_at, closed_at = coalesce(i.closed_at, now()), email = NULL
    WHERE i.status IN ('sending', 'sent', 'clicked', 'expired')
      AND i.id IN (SELECT (c.device_metadata->>'invitationId')::uuid FROM click_events c
                   WHERE c.referral_id = NEW.id AND c.device_metadata->>'invitationId' ~ '^[0-9a-f-]{36}$');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER referrals_invitation_joined AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION invitation_joined();

-- Down Migration

DROP TRIGGER referrals_invitation_joined ON referrals;
DROP FUNCTION invitation_joined();
DROP TABLE email_suppressions;
DROP TABLE invitations;
