-- Up Migration

-- Where a mentor's notifications go (the token's `email` claim), and how they want them.
ALTER TABLE users ADD COLUMN email text;

CREATE TABLE notification_preferences (
  mentor_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  org_id uuid NOT NULL REFERENCES organisations (id),
  delivery text NOT NULL CHECK (delivery IN ('each', 'weekly_digest', 'none')),
  last_digest_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- What a mentor is told, once each: a recruit confirmed (the referral), a milestone reached (the badge award). The
-- row is written with the change it tells of, so retries, repeated webhooks and replays find it there already.
CREATE TABLE mentor_notifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES organisations (id),
  mentor_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('recruit_confirmed', 'milestone')),
  subject_id uuid NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  claimed_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  outcome text CHECK (outcome IN ('sent', 'digested', 'not_wanted', 'no_address')),
  settled_at timestamptz,
  UNIQUE (kind, subject_id)
);
CREATE INDEX mentor_notifications_open_idx ON mentor_notifications (created_at) WHERE outcome IS NULL;
CREATE INDEX mentor_notifications_mentor_idx ON mentor_notifications (mentor_id) WHERE outcome IS NULL;

GRANT SELECT ON notification_preferences, mentor_notifications TO referral_reader;
SELECT protect_org_table('notification_preferences');
SELECT protect_org_table('mentor_notifications');

CREATE FUNCTION notify_recruit_confirmed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'confirmed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'confirmed') THEN
    INSERT INTO mentor_notifications (org_id, mentor_id, kind, subject_id, detail)
    VALUES (NEW.org_id, NEW.mentor_id, 'recruit_confirmed', NEW.id, jsonb_build_object('confirmedAt', NEW.confirmed_at))
    ON CONFLICT (kind, subject_id) DO NOTHING;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER referrals_notify_confirmed AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION notify_recruit_confirmed();

CREATE FUNCTION notify_milestone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mentor_notifications (org_id, mentor_id, kind, subject_id, detail)
  VALUES (NEW.org_id, NEW.mentor_id, 'milestone', NEW.id, jsonb_build_object('milestone', NEW.milestone, 'confirmedCount', NEW.confirmed_count))
  ON CONFLICT (kind, subject_id) DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER badge_awards_notify AFTER INSERT ON badge_awards
  FOR EACH ROW EXECUTE FUNCTION notify_milestone();

-- Down Migration

DROP TRIGGER badge_awards_notify ON badge_awards;
DROP FUNCTION notify_milestone();
DROP TRIGGER referrals_notify_confirmed ON referrals;
DROP FUNCTION notify_recruit_confirmed();
DROP TABLE mentor_notifications;
DROP TABLE notification_preferences;
ALTER TABLE users DROP COLUMN email;
