-- Up Migration

-- The dashboard reads these daily aggregates, not every click: kept by triggers with the rows they count, in the
-- same transaction, so they never drift (test/dashboard-aggregates.test.ts checks them against a full recount).

-- What happened on a day (UTC): non-duplicate clicks by channel, accounts created, memberships confirmed (by the
-- channel of the referral's first click).
CREATE TABLE dashboard_daily_events (
  org_id uuid NOT NULL REFERENCES organisations (id),
  day date NOT NULL,
  mentor_id uuid NOT NULL,
  referral_code_id uuid NOT NULL,
  channel text NOT NULL,
  clicks integer NOT NULL DEFAULT 0,
  accounts integer NOT NULL DEFAULT 0,
  confirmed integer NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, day, mentor_id, referral_code_id, channel)
);

-- The referrals first clicked on a day, by how far each has come now (the funnel of a period's cohort).
CREATE TABLE dashboard_daily_cohorts (
  org_id uuid NOT NULL REFERENCES organisations (id),
  day date NOT NULL,
  mentor_id uuid NOT NULL,
  referral_code_id uuid NOT NULL,
  referrals integer NOT NULL DEFAULT 0,
  installed integer NOT NULL DEFAULT 0,
  account_created integer NOT NULL DEFAULT 0,
  first_login integer NOT NULL DEFAULT 0,
  confirmed integer NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, day, mentor_id, referral_code_id)
);

-- Confirmations of a day by how long they took from the first click: a hundred buckets within each of the
-- dashboard's ranges (under an hour, a day, 3 days, a week, 2 weeks, 30 days, more), so the ranges count exactly and
-- the median is read to within a bucket (under 2% of the time, or 36 s within the first hour).
CREATE TABLE dashboard_daily_conversions (
  org_id uuid NOT NULL REFERENCES organisations (id),
  day date NOT NULL,
  mentor_id uuid NOT NULL,
  referral_code_id uuid NOT NULL,
  bucket integer NOT NULL,
  confirmed integer NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, day, mentor_id, referral_code_id, bucket)
);

GRANT SELECT ON dashboard_daily_events, dashboard_daily_cohorts, dashboard_daily_conversions TO referral_reader;
SELECT protect_org_table('dashboard_daily_conversions');
SELECT protect_org_table('dashboard_daily_events');
SELECT protect_org_table('dashboard_daily_cohorts');

-- The dashboard's raw read: what waits for a coordinator.
CREATE INDEX referrals_org_attention_idx ON referrals (org_id, status) WHERE status = 'flagged' OR stuck;
-- A referral's first click, for the channel a confirmation is counted under.
CREATE INDEX click_events_referral_time_idx ON click_events (referral_id, occurred_at);

CREATE FUNCTION click_channel(metadata jsonb, implicit boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(metadata->>'shareChannel', CASE WHEN implicit THEN 'direct' ELSE 'unknown' END)
$$;

CREATE FUNCTION referral_channel(p_referral_id uuid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT click_channel(device_metadata, is_implicit) FROM click_events
                   WHERE referral_id = p_referral_id ORDER BY occurred_at, id LIMIT 1), 'direct')
$$;

-- Which bucket a time to convert falls in (src/db/reads.ts reads the buckets' bounds the same way).
CREATE FUNCTION conversion_bucket(seconds float8) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT (range - 1) * 100 + CASE
      WHEN range = 1 THEN least(99, floor(s / 36))
      WHEN range = 7 THEN least(99, floor(16 * ln(s / bounds[7]) / ln(2)))
      ELSE least(99, floor(100 * ln(s / bounds[range]) / ln(bounds[range + 1] / bounds[range])))
    END::integer
  FROM (SELECT s, bounds, width_bucket(s, bounds) AS range
        FROM (SELECT greatest(seconds, 0) AS s, ARRAY[0, 3600, 86400, 259200, 604800, 1209600, 2592000]::float8[] AS bounds) given) ranged
$$;

CREATE FUNCTION bump_daily_events(p_org uuid, p_day date, p_mentor uuid, p_code uuid, p_channel text, p_clicks integer, p_accounts integer, p_confirmed integer)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO dashboard_daily_events AS d (org_id, day, mentor_id, referral_code_id, channel, clicks, accounts, confirmed)
  VALUES (p_org, p_day, p_mentor, p_code, p_channel, p_clicks, p_accounts, p_confirmed)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, channel) DO UPDATE
  SET clicks = d.clicks + EXCLUDED.clicks, accounts = d.accounts + EXCLUDED.accounts, confirmed = d.confirmed + EXCLUDED.confirmed
$$;

CREATE FUNCTION click_events_count_daily() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  c click_events;
  sign integer;
  r referrals;
  other click_events;
  without_c text;
  with_c text;
BEGIN
  IF TG_OP = 'INSERT' THEN c := NEW; sign := 1; ELSE c := OLD; sign := -1; END IF;
  IF NOT c.is_duplicate THEN
    PERFORM bump_daily_events(c.org_id, (c.occurred_at AT TIME ZONE 'UTC')::date, c.mentor_id, c.referral_code_id,
      click_channel(c.device_metadata, c.is_implicit), sign, 0, 0);
  END IF;
  -- A confirmation counts under its referral's first click: a click that arrives earlier (order does not matter),
  -- or the first one gone, moves it.
  SELECT * INTO r FROM referrals WHERE id = c.referral_id;
  IF FOUND AND r.status = 'confirmed' AND r.confirmed_at IS NOT NULL THEN
    SELECT * INTO other FROM click_events WHERE referral_id = c.referral_id AND id <> c.id ORDER BY occurred_at, id LIMIT 1;
    without_c := CASE WHEN other.id IS NULL THEN 'direct' ELSE click_channel(other.device_metadata, other.is_implicit) END;
    with_c := CASE WHEN other.id IS NULL OR (c.occurred_at, c.id) < (other.occurred_at, other.id)
      THEN click_channel(c.device_metadata, c.is_implicit) ELSE without_c END;
    IF with_c <> without_c THEN
      PERFORM bump_daily_events(r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, without_c, 0, 0, -sign);
      PERFORM bump_daily_events(r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, with_c, 0, 0, sign);
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER click_events_count_daily AFTER INSERT OR DELETE ON click_events
  FOR EACH ROW EXECUTE FUNCTION click_events_count_daily();

-- A referral's share of its cohort day: referrals, installed, account created, first login, confirmed.
CREATE FUNCTION referral_cohort_share(r referrals) RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN r.status IN ('pending', 'flagged', 'expired', 'confirmed', 'reversed') THEN ARRAY[
      1,
      (r.stage IN ('installed', 'account_created', 'first_login'))::integer,
      (r.stage IN ('account_created', 'first_login'))::integer,
      (r.stage = 'first_login')::integer,
      (r.status = 'confirmed')::integer]
    ELSE ARRAY[0, 0, 0, 0, 0] END
$$;

CREATE FUNCTION bump_cohort(r referrals, d integer[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO dashboard_daily_cohorts AS c (org_id, day, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed)
  SELECT r.org_id, (r.clicked_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, d[1], d[2], d[3], d[4], d[5]
  WHERE d <> ARRAY[0, 0, 0, 0, 0]
  ON CONFLICT (org_id, day, mentor_id, referral_code_id) DO UPDATE
  SET referrals = c.referrals + EXCLUDED.referrals, installed = c.installed + EXCLUDED.installed,
    account_created = c.account_created + EXCLUDED.account_created, first_login = c.first_login + EXCLUDED.first_login,
    confirmed = c.confirmed + EXCLUDED.confirmed
$$;

-- A confirmation counted (sign 1) or taken back (-1): on its day, under its channel, in its time-to-convert bucket.
CREATE FUNCTION count_confirmation(r referrals, sign integer) RETURNS void LANGUAGE sql AS $$
  SELECT bump_daily_events(r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, referral_channel(r.id), 0, 0, sign);
  INSERT INTO dashboard_daily_conversions AS d (org_id, day, mentor_id, referral_code_id, bucket, confirmed)
  VALUES (r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id,
    conversion_bucket(extract(epoch FROM r.confirmed_at - r.clicked_at)), sign)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, bucket) DO UPDATE SET confirmed = d.confirmed + EXCLUDED.confirmed;
$$;

-- Each write adds its row's share and takes back the old row's, touching only the aggregate rows whose share moved.
CREATE FUNCTION referrals_count_daily() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  zero constant integer[] := ARRAY[0, 0, 0, 0, 0];
  was_share integer[] := CASE WHEN TG_OP = 'INSERT' THEN zero ELSE referral_cohort_share(OLD) END;
  is_share integer[] := CASE WHEN TG_OP = 'DELETE' THEN zero ELSE referral_cohort_share(NEW) END;
  moved boolean := TG_OP = 'UPDATE' AND (OLD.org_id, OLD.mentor_id, OLD.referral_code_id, OLD.clicked_at)
    IS DISTINCT FROM (NEW.org_id, NEW.mentor_id, NEW.referral_code_id, NEW.clicked_at);
  was_account boolean := TG_OP <> 'INSERT' AND OLD.account_created_at IS NOT NULL;
  is_account boolean := TG_OP <> 'DELETE' AND NEW.account_created_at IS NOT NULL;
  was_confirmed boolean := TG_OP <> 'INSERT' AND OLD.status = 'confirmed' AND OLD.confirmed_at IS NOT NULL;
  is_confirmed boolean := TG_OP <> 'DELETE' AND NEW.status = 'confirmed' AND NEW.confirmed_at IS NOT NULL;
BEGIN
  IF TG_OP = 'UPDATE' AND NOT moved THEN
    PERFORM bump_cohort(NEW, ARRAY[is_share[1] - was_share[1], is_share[2] - was_share[2], is_share[3] - was_share[3], is_share[4] - was_share[4], is_share[5] - was_share[5]]);
  ELSE
    IF TG_OP <> 'INSERT' THEN PERFORM bump_cohort(OLD, ARRAY[-was_share[1], -was_share[2], -was_share[3], -was_share[4], -was_share[5]]); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM bump_cohort(NEW, is_share); END IF;
  END IF;
  IF moved OR TG_OP <> 'UPDATE' OR OLD.account_created_at IS DISTINCT FROM NEW.account_created_at THEN
    IF was_account THEN PERFORM bump_daily_events(OLD.org_id, (OLD.account_created_at AT TIME ZONE 'UTC')::date, OLD.mentor_id, OLD.referral_code_id, '', 0, -1, 0); END IF;
    IF is_account THEN PERFORM bump_daily_events(NEW.org_id, (NEW.account_created_at AT TIME ZONE 'UTC')::date, NEW.mentor_id, NEW.referral_code_id, '', 0, 1, 0); END IF;
  END IF;
  IF moved OR TG_OP <> 'UPDATE' OR was_confirmed <> is_confirmed OR (is_confirmed AND OLD.confirmed_at IS DISTINCT FROM NEW.confirmed_at) THEN
    IF was_confirmed THEN PERFORM count_confirmation(OLD, -1); END IF;
    IF is_confirmed THEN PERFORM count_confirmation(NEW, 1); END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER referrals_count_daily AFTER INSERT OR UPDATE OR DELETE ON referrals
  FOR EACH ROW EXECUTE FUNCTION referrals_count_daily();

-- The aggregates recounted from the rows, for the rows that exist when they are created (and for bulk loads that
-- skip triggers).
CREATE FUNCTION rebuild_dashboard_aggregates(p_org uuid) RETURNS void LANGUAGE sql AS $$
  DELETE FROM dashboard_daily_events WHERE org_id = p_org;
  DELETE FROM dashboard_daily_cohorts WHERE org_id = p_org;
  DELETE FROM dashboard_daily_conversions WHERE org_id = p_org;
  INSERT INTO dashboard_daily_conversions (org_id, day, mentor_id, referral_code_id, bucket, confirmed)
  SELECT org_id, (confirmed_at AT TIME ZONE 'UTC')::date, mentor_id, referral_code_id, conversion_bucket(extract(epoch FROM confirmed_at - clicked_at)), count(*)
  FROM referrals WHERE org_id = p_org AND status = 'confirmed' AND confirmed_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5;
  INSERT INTO dashboard_daily_cohorts (org_id, day, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed)
  SELECT org_id, (clicked_at AT TIME ZONE 'UTC')::date, mentor_id, referral_code_id, count(*),
    count(*) FILTER (WHERE stage IN ('installed', 'account_created', 'first_login')),
    count(*) FILTER (WHERE stage IN ('account_created', 'first_login')),
    count(*) FILTER (WHERE stage = 'first_login'),
    count(*) FILTER (WHERE status = 'confirmed')
  FROM referrals WHERE org_id = p_org AND status IN ('pending', 'flagged', 'expired', 'confirmed', 'reversed') GROUP BY 1, 2, 3, 4;
  INSERT INTO dashboard_daily_events (org_id, day, mentor_id, referral_code_id, channel, clicks, accounts, confirmed)
  SELECT org_id, day, mentor_id, referral_code_id, channel, sum(clicks), sum(accounts), sum(confirmed) FROM (
    SELECT org_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, mentor_id, referral_code_id, click_channel(device_metadata, is_implicit) AS channel,
      count(*) AS clicks, 0 AS accounts, 0 AS confirmed
    FROM click_events WHERE org_id = p_org AND NOT is_duplicate GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT org_id, (account_created_at AT TIME ZONE 'UTC')::date, mentor_id, referral_code_id, '', 0, count(*), 0
    FROM referrals WHERE org_id = p_org AND account_created_at IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT org_id, (confirmed_at AT TIME ZONE 'UTC')::date, mentor_id, referral_code_id, referral_channel(id), 0, 0, count(*)
    FROM referrals WHERE org_id = p_org AND status = 'confirmed' AND confirmed_at IS NOT NULL GROUP BY 1, 2, 3, 4, 5
  ) counted GROUP BY 1, 2, 3, 4, 5;
$$;

SELECT rebuild_dashboard_aggregates(id) FROM organisations;

-- Down Migration

DROP TRIGGER referrals_count_daily ON referrals;
DROP TRIGGER click_events_count_daily ON click_events;
DROP FUNCTION rebuild_dashboard_aggregates(uuid);
DROP FUNCTION referrals_count_daily();
DROP FUNCTION count_confirmation(referrals, integer);
DROP FUNCTION bump_cohort(referrals, integer[]);
DROP FUNCTION referral_cohort_share(referrals);
DROP FUNCTION click_events_count_daily();
DROP FUNCTION bump_daily_events(uuid, date, uuid, uuid, text, integer, integer, integer);
DROP FUNCTION conversion_bucket(float8);
DROP FUNCTION referral_channel(uuid);
DROP FUNCTION click_channel(jsonb, boolean);
DROP INDEX click_events_referral_time_idx;
DROP INDEX referrals_org_attention_idx;
DROP TABLE dashboard_daily_conversions;
DROP TABLE dashboard_daily_cohorts;
DROP TABLE dashboard_daily_events;
