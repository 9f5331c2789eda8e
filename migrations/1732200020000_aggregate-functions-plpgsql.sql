-- Up Migration

-- The same functions in PL/pgSQL. Postgres before 18 plans the body of a SQL function that it cannot inline (a FROM,
-- a sub-select, a write) anew at each call from another statement, and the triggers call these for every click and
-- every change of a referral: 0.1-0.6 ms a call, most of a journey's work in Postgres. PL/pgSQL keeps each
-- statement's plan for the session.

CREATE OR REPLACE FUNCTION referral_uuid(workflow_id text) RETURNS uuid LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  h constant bytea := substring(sha256(convert_to('referral-attribution:' || workflow_id, 'UTF8')) FROM 1 FOR 16);
BEGIN
  RETURN encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid;
END
$$;

CREATE OR REPLACE FUNCTION referral_channel(p_referral_id uuid) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT click_channel(device_metadata, is_implicit) FROM click_events
                   WHERE referral_id = p_referral_id ORDER BY occurred_at, id LIMIT 1), 'direct');
END
$$;

CREATE OR REPLACE FUNCTION conversion_bucket(seconds float8) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  bounds constant float8[] := ARRAY[0, 3600, 86400, 259200, 604800, 1209600, 2592000];
  s constant float8 := greatest(seconds, 0);
  range constant integer := width_bucket(s, bounds);
BEGIN
  RETURN (range - 1) * 100 + CASE
      WHEN range = 1 THEN least(99, floor(s / 36))
      WHEN range = 7 THEN least(99, floor(16 * ln(s / bounds[7]) / ln(2)))
      ELSE least(99, floor(100 * ln(s / bounds[range]) / ln(bounds[range + 1] / bounds[range])))
    END::integer;
END
$$;

CREATE OR REPLACE FUNCTION bump_daily_events(p_org uuid, p_day date, p_mentor uuid, p_code uuid, p_channel text, p_clicks integer, p_accounts integer, p_confirmed integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO dashboard_daily_events AS d (org_id, day, mentor_id, referral_code_id, channel, clicks, accounts, confirmed)
  VALUES (p_org, p_day, p_mentor, p_code, p_channel, p_clicks, p_accounts, p_confirmed)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, channel) DO UPDATE
  SET clicks = d.clicks + EXCLUDED.clicks, accounts = d.accounts + EXCLUDED.accounts, confirmed = d.confirmed + EXCLUDED.confirmed;
END
$$;

CREATE OR REPLACE FUNCTION bump_cohort(r referrals, d integer[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF d IS NULL OR d = ARRAY[0, 0, 0, 0, 0] THEN RETURN; END IF;
  INSERT INTO dashboard_daily_cohorts AS c (org_id, day, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed)
  VALUES (r.org_id, (r.clicked_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, d[1], d[2], d[3], d[4], d[5])
  ON CONFLICT (org_id, day, mentor_id, referral_code_id) DO UPDATE
  SET referrals = c.referrals + EXCLUDED.referrals, installed = c.installed + EXCLUDED.installed,
    account_created = c.account_created + EXCLUDED.account_created, first_login = c.first_login + EXCLUDED.first_login,
    confirmed = c.confirmed + EXCLUDED.confirmed;
END
$$;

CREATE OR REPLACE FUNCTION count_confirmation(r referrals, sign integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM bump_daily_events(r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, referral_channel(r.id), 0, 0, sign);
  INSERT INTO dashboard_daily_conversions AS d (org_id, day, mentor_id, referral_code_id, bucket, confirmed)
  VALUES (r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id,
    conversion_bucket(extract(epoch FROM r.confirmed_at - r.clicked_at)), sign)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, bucket) DO UPDATE SET confirmed = d.confirmed + EXCLUDED.confirmed;
END
$$;

CREATE OR REPLACE FUNCTION bump_mentor_counters(p_mentor uuid, p_org uuid, p_clicks bigint, p_pending bigint, p_confirmed bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mentor_counters AS m (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
  VALUES (p_mentor, p_org, p_clicks, p_pending, p_confirmed)
  ON CONFLICT (org_id, mentor_id) DO UPDATE SET
    total_clicks = m.total_clicks + EXCLUDED.total_clicks,
    pending_count = m.pending_count + EXCLUDED.pending_count,
    confirmed_count = m.confirmed_count + EXCLUDED.confirmed_count;
END
$$;

CREATE OR REPLACE FUNCTION recent_rewards(p_org uuid, p_mentor uuid) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT coalesce(sum(amount), 0)::bigint FROM reward_entries
    WHERE org_id = p_org AND mentor_id = p_mentor AND status <> 'reversed' AND amount > 0 AND created_at > now() - interval '30 days');
END
$$;

-- Down Migration

CREATE OR REPLACE FUNCTION recent_rewards(p_org uuid, p_mentor uuid) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(amount), 0)::bigint FROM reward_entries
  WHERE org_id = p_org AND mentor_id = p_mentor AND status <> 'reversed' AND amount > 0 AND created_at > now() - interval '30 days'
$$;

CREATE OR REPLACE FUNCTION bump_mentor_counters(p_mentor uuid, p_org uuid, p_clicks bigint, p_pending bigint, p_confirmed bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO mentor_counters AS m (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
  VALUES (p_mentor, p_org, p_clicks, p_pending, p_confirmed)
  ON CONFLICT (org_id, mentor_id) DO UPDATE SET
    total_clicks = m.total_clicks + EXCLUDED.total_clicks,
    pending_count = m.pending_count + EXCLUDED.pending_count,
    confirmed_count = m.confirmed_count + EXCLUDED.confirmed_count
$$;

CREATE OR REPLACE FUNCTION count_confirmation(r referrals, sign integer) RETURNS void LANGUAGE sql AS $$
  SELECT bump_daily_events(r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, referral_channel(r.id), 0, 0, sign);
  INSERT INTO dashboard_daily_conversions AS d (org_id, day, mentor_id, referral_code_id, bucket, confirmed)
  VALUES (r.org_id, (r.confirmed_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id,
    conversion_bucket(extract(epoch FROM r.confirmed_at - r.clicked_at)), sign)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, bucket) DO UPDATE SET confirmed = d.confirmed + EXCLUDED.confirmed;
$$;

CREATE OR REPLACE FUNCTION bump_cohort(r referrals, d integer[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO dashboard_daily_cohorts AS c (org_id, day, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed)
  SELECT r.org_id, (r.clicked_at AT TIME ZONE 'UTC')::date, r.mentor_id, r.referral_code_id, d[1], d[2], d[3], d[4], d[5]
  WHERE d <> ARRAY[0, 0, 0, 0, 0]
  ON CONFLICT (org_id, day, mentor_id, referral_code_id) DO UPDATE
  SET referrals = c.referrals + EXCLUDED.referrals, installed = c.installed + EXCLUDED.installed,
    account_created = c.account_created + EXCLUDED.account_created, first_login = c.first_login + EXCLUDED.first_login,
    confirmed = c.confirmed + EXCLUDED.confirmed
$$;

CREATE OR REPLACE FUNCTION bump_daily_events(p_org uuid, p_day date, p_mentor uuid, p_code uuid, p_channel text, p_clicks integer, p_accounts integer, p_confirmed integer)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO dashboard_daily_events AS d (org_id, day, mentor_id, referral_code_id, channel, clicks, accounts, confirmed)
  VALUES (p_org, p_day, p_mentor, p_code, p_channel, p_clicks, p_accounts, p_confirmed)
  ON CONFLICT (org_id, day, mentor_id, referral_code_id, channel) DO UPDATE
  SET clicks = d.clicks + EXCLUDED.clicks, accounts = d.accounts + EXCLUDED.accounts, confirmed = d.confirmed + EXCLUDED.confirmed
$$;

CREATE OR REPLACE FUNCTION conversion_bucket(seconds float8) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT (range - 1) * 100 + CASE
      WHEN range = 1 THEN least(99, floor(s / 36))
      WHEN range = 7 THEN least(99, floor(16 * ln(s / bounds[7]) / ln(2)))
      ELSE least(99, floor(100 * ln(s / bounds[range]) / ln(bounds[range + 1] / bounds[range])))
    END::integer
  FROM (SELECT s, bounds, width_bucket(s, bounds) AS range
        FROM (SELECT greatest(seconds, 0) AS s, ARRAY[0, 3600, 86400, 259200, 604800, 1209600, 2592000]::float8[] AS bounds) given) ranged
$$;

CREATE OR REPLACE FUNCTION referral_channel(p_referral_id uuid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT click_channel(device_metadata, is_implicit) FROM click_events
                   WHERE referral_id = p_referral_id ORDER BY occurred_at, id LIMIT 1), 'direct')
$$;

CREATE OR REPLACE FUNCTION referral_uuid(workflow_id text) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
  FROM (SELECT substring(sha256(convert_to('referral-attribution:' || workflow_id, 'UTF8')) FROM 1 FOR 16)) AS digest(h)
$$;
