-- Up Migration

-- AttributionCounts in constant time: each mentor's figures are kept current by triggers in the
-- same transaction as the rows they count, so reading them costs the same at 10k or 10M clicks.
CREATE TABLE mentor_counters (
  mentor_id uuid PRIMARY KEY REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  total_clicks bigint NOT NULL DEFAULT 0,
  pending_count bigint NOT NULL DEFAULT 0,
  confirmed_count bigint NOT NULL DEFAULT 0
);
ALTER TABLE mentor_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON mentor_counters USING (org_id = current_org());
GRANT SELECT ON mentor_counters TO referral_reader;

CREATE FUNCTION bump_mentor_counters(p_mentor uuid, p_org uuid, p_clicks bigint, p_pending bigint, p_confirmed bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO mentor_counters AS m (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
  VALUES (p_mentor, p_org, p_clicks, p_pending, p_confirmed)
  ON CONFLICT (mentor_id) DO UPDATE SET
    total_clicks = m.total_clicks + EXCLUDED.total_clicks,
    pending_count = m.pending_count + EXCLUDED.pending_count,
    confirmed_count = m.confirmed_count + EXCLUDED.confirmed_count
$$;

-- What one referral row contributes: pending once its account exists, confirmed while confirmed.
CREATE FUNCTION referral_pending(r referrals) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT CASE WHEN r.status = 'pending' AND r.account_created_at IS NOT NULL THEN 1 ELSE 0 END $$;
CREATE FUNCTION referral_confirmed(r referrals) RETURNS int LANGUAGE sql IMMUTABLE AS
  $$ SELECT CASE WHEN r.status = 'confirmed' THEN 1 ELSE 0 END $$;

CREATE FUNCTION count_referral_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND (referral_pending(OLD) <> 0 OR referral_confirmed(OLD) <> 0)
     AND (TG_OP = 'DELETE' OR OLD.mentor_id <> NEW.mentor_id
          OR referral_pending(OLD) <> referral_pending(NEW) OR referral_confirmed(OLD) <> referral_confirmed(NEW)) THEN
    PERFORM bump_mentor_counters(OLD.mentor_id, OLD.org_id, 0, -referral_pending(OLD), -referral_confirmed(OLD));
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (referral_pending(NEW) <> 0 OR referral_confirmed(NEW) <> 0)
     AND (TG_OP = 'INSERT' OR OLD.mentor_id <> NEW.mentor_id
          OR referral_pending(OLD) <> referral_pending(NEW) OR referral_confirmed(OLD) <> referral_confirmed(NEW)) THEN
    PERFORM bump_mentor_counters(NEW.mentor_id, NEW.org_id, 0, referral_pending(NEW), referral_confirmed(NEW));
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER referrals_count AFTER INSERT OR UPDATE OR DELETE ON referrals
  FOR EACH ROW EXECUTE FUNCTION count_referral_change();

CREATE FUNCTION count_click() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM bump_mentor_counters(NEW.mentor_id, NEW.org_id, 1, 0, 0);
  ELSE
    PERFORM bump_mentor_counters(OLD.mentor_id, OLD.org_id, -1, 0, 0);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER click_events_count AFTER INSERT ON click_events
  FOR EACH ROW WHEN (NOT NEW.is_duplicate) EXECUTE FUNCTION count_click();
CREATE TRIGGER click_events_uncount AFTER DELETE ON click_events
  FOR EACH ROW WHEN (NOT OLD.is_duplicate) EXECUTE FUNCTION count_click();

INSERT INTO mentor_counters (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
SELECT u.id, u.org_id,
  (SELECT count(*) FROM click_events c WHERE c.mentor_id = u.id AND NOT c.is_duplicate),
  (SELECT count(*) FROM referrals r WHERE r.mentor_id = u.id AND r.status = 'pending' AND r.account_created_at IS NOT NULL),
  (SELECT count(*) FROM referrals r WHERE r.mentor_id = u.id AND r.status = 'confirmed')
FROM users u;

CREATE OR REPLACE FUNCTION get_attribution_counts(p_mentor_id uuid)
RETURNS TABLE (total_clicks bigint, pending_count bigint, confirmed_count bigint)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(m.total_clicks, 0), coalesce(m.pending_count, 0), coalesce(m.confirmed_count, 0)
  FROM (SELECT p_mentor_id AS mentor_id) wanted
  LEFT JOIN mentor_counters m ON m.mentor_id = wanted.mentor_id
$$;

-- Down Migration

CREATE OR REPLACE FUNCTION get_attribution_counts(p_mentor_id uuid)
RETURNS TABLE (total_clicks bigint, pending_count bigint, confirmed_count bigint)
LANGUAGE sql STABLE AS $$
  SELECT
    (SELECT count(*) FROM click_events c WHERE c.mentor_id = p_mentor_id AND NOT c.is_duplicate),
    (SELECT count(*) FROM referrals r
      WHERE r.mentor_id = p_mentor_id AND r.status = 'pending' AND r.account_created_at IS NOT NULL),
    (SELECT count(*) FROM referrals r WHERE r.mentor_id = p_mentor_id AND r.status = 'confirmed')
$$;
DROP TRIGGER click_events_uncount ON click_events;
DROP TRIGGER click_events_count ON click_events;
DROP FUNCTION count_click();
DROP TRIGGER referrals_count ON referrals;
DROP FUNCTION count_referral_change();
DROP FUNCTION referral_confirmed(referrals);
DROP FUNCTION referral_pending(referrals);
DROP FUNCTION bump_mentor_counters(uuid, uuid, bigint, bigint, bigint);
DROP TABLE mentor_counters;
