-- Up Migration

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

ALTER TABLE dashboard_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE dashboard_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON dashboard_sessions USING (org_id = current_org());
CREATE POLICY service_access ON dashboard_sessions TO referral_runtime USING (true) WITH CHECK (true);

-- Down Migration

DROP TABLE dashboard_sessions;
