-- Up Migration

-- The API, workers and dispatchers connect as a login role that is a member of `referral_runtime`: data only
-- (no DDL, no ownership, not the migrations' table), subject to row-level security on every table that has it,
-- where its policy lets the service work across organisations and `referral_reader`'s keeps a read to one.
-- Migrations run as the tables' owner (DATABASE_OWNER_URL); FORCE makes the policies bind the owner too.
DO $$
BEGIN
  CREATE ROLE referral_runtime NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END
$$;
GRANT referral_reader TO referral_runtime;
GRANT USAGE ON SCHEMA public TO referral_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO referral_runtime;
REVOKE ALL ON pgmigrations FROM referral_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO referral_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO referral_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO referral_runtime;

DO $$
DECLARE
  protected regclass;
BEGIN
  FOR protected IN
    SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
  LOOP
    EXECUTE format('CREATE POLICY service_access ON %s TO referral_runtime USING (true) WITH CHECK (true)', protected);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', protected);
  END LOOP;
END
$$;

-- Down Migration

DO $$
DECLARE
  protected regclass;
BEGIN
  FOR protected IN
    SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relforcerowsecurity
  LOOP
    EXECUTE format('DROP POLICY IF EXISTS service_access ON %s', protected);
    EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', protected);
  END LOOP;
END
$$;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM referral_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM referral_runtime;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM referral_runtime;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM referral_runtime;
REVOKE USAGE ON SCHEMA public FROM referral_runtime;
