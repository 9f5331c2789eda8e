-- Up Migration

-- A table of one organisation's rows: readers see their organisation's only, the service all (migration 8's rule).
CREATE FUNCTION protect_org_table(tab regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tab);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tab);
  EXECUTE format('CREATE POLICY org_isolation ON %s USING (org_id = current_org())', tab);
  EXECUTE format('CREATE POLICY service_access ON %s TO referral_runtime USING (true) WITH CHECK (true)', tab);
END
$$;
REVOKE EXECUTE ON FUNCTION protect_org_table(regclass) FROM PUBLIC;

-- A signed-in person's dashboard session: the cookie carries a random id, this table its hash and who it is.
CREATE TABLE dashboard_sessions (
  id_hash text PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  org_id uuid NOT NULL REFERENCES organisations (id),
  role text NOT NULL CHECK (role IN ('peer_mentor', 'coordinator', 'org_admin', 'platform_admin')),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_sessions_expires_at_idx ON dashboard_sessions (expires_at);

SELECT protect_org_table('dashboard_sessions');

-- Down Migration

DROP TABLE dashboard_sessions;
DROP FUNCTION protect_org_table(regclass);
