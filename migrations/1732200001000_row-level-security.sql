-- Up Migration

-- Defence in depth for tenant isolation: the API reads as `referral_reader` with the caller's
-- organisation in `app.current_org`, and Postgres itself hides every other organisation's rows.
-- The table owner (migrations, workers) is not subject to these policies.
DO $$
BEGIN
  CREATE ROLE referral_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;
GRANT referral_reader TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO referral_reader;
GRANT SELECT ON organisations, users, coordinator_assignments, referral_codes, referrals, click_events,
  referral_events, badge_awards TO referral_reader;
GRANT EXECUTE ON FUNCTION get_attribution_counts(uuid) TO referral_reader;

CREATE FUNCTION current_org() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('app.current_org', true), '')::uuid $$;
GRANT EXECUTE ON FUNCTION current_org() TO referral_reader;

ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON organisations USING (id = current_org());
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON users USING (org_id = current_org());
ALTER TABLE coordinator_assignments ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON coordinator_assignments USING (org_id = current_org());
ALTER TABLE referral_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON referral_codes USING (org_id = current_org());
ALTER TABLE referrals ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON referrals USING (org_id = current_org());
ALTER TABLE click_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON click_events USING (org_id = current_org());
ALTER TABLE referral_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON referral_events USING (org_id = current_org());
ALTER TABLE badge_awards ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON badge_awards USING (org_id = current_org());

-- Down Migration

DROP POLICY org_isolation ON badge_awards;
ALTER TABLE badge_awards DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON referral_events;
ALTER TABLE referral_events DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON click_events;
ALTER TABLE click_events DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON referrals;
ALTER TABLE referrals DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON referral_codes;
ALTER TABLE referral_codes DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON coordinator_assignments;
ALTER TABLE coordinator_assignments DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON users;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
DROP POLICY org_isolation ON organisations;
ALTER TABLE organisations DISABLE ROW LEVEL SECURITY;
DROP FUNCTION current_org();
REVOKE ALL ON organisations, users, coordinator_assignments, referral_codes, referrals, click_events,
  referral_events, badge_awards FROM referral_reader;
