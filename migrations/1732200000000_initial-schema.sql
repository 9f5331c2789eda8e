-- Up Migration

CREATE TABLE organisations (
  id uuid PRIMARY KEY,
  name text,
  attribution_window_seconds integer NOT NULL DEFAULT 2592000 CHECK (attribution_window_seconds > 0),
  confirmation_window_seconds integer NOT NULL DEFAULT 1209600 CHECK (confirmation_window_seconds > 0),
  dedupe_window_seconds integer NOT NULL DEFAULT 86400 CHECK (dedupe_window_seconds >= 0),
  badge_milestones integer[] NOT NULL DEFAULT '{1,5,10,25,50}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organisations (id),
  role text NOT NULL CHECK (role IN ('peer_mentor', 'coordinator', 'org_admin', 'platform_admin')),
  display_name text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org_id_idx ON users (org_id);

CREATE TABLE coordinator_assignments (
  coordinator_id uuid NOT NULL REFERENCES users (id),
  mentor_id uuid NOT NULL REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  PRIMARY KEY (coordinator_id, mentor_id)
);

CREATE TABLE referral_codes (
  id uuid PRIMARY KEY,
  code text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{6,64}$'),
  mentor_id uuid NOT NULL REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  campaign text,
  default_channel text,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_codes_mentor_id_idx ON referral_codes (mentor_id);

CREATE TABLE referrals (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organisations (id),
  referral_code_id uuid NOT NULL REFERENCES referral_codes (id),
  mentor_id uuid NOT NULL REFERENCES users (id),
  workflow_id text NOT NULL UNIQUE,
  visitor_hash text,
  is_direct boolean NOT NULL DEFAULT false,
  stage text NOT NULL CHECK (stage IN ('clicked', 'installed', 'account_created', 'first_login')),
  implied_steps text[] NOT NULL DEFAULT '{}',
  status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'expired', 'superseded', 'reversed', 'rejected', 'flagged')),
  stuck boolean NOT NULL DEFAULT false,
  new_member_id uuid,
  clicked_at timestamptz NOT NULL,
  last_click_at timestamptz NOT NULL,
  installed_at timestamptz,
  account_created_at timestamptz,
  first_login_at timestamptz,
  confirmed_at timestamptz,
  ended_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrals_mentor_id_idx ON referrals (mentor_id, status);
CREATE INDEX referrals_org_created_idx ON referrals (org_id, created_at);
CREATE INDEX referrals_code_last_click_idx ON referrals (referral_code_id, last_click_at DESC);
CREATE INDEX referrals_org_member_idx ON referrals (org_id, new_member_id) WHERE new_member_id IS NOT NULL;
CREATE INDEX referrals_org_visitor_idx ON referrals (org_id, visitor_hash) WHERE visitor_hash IS NOT NULL;
-- One mentor per new member: at most one live confirmed attribution per organisation.
CREATE UNIQUE INDEX referrals_one_confirmation_per_member ON referrals (org_id, new_member_id)
  WHERE status = 'confirmed';
CREATE UNIQUE INDEX referrals_code_member_unique ON referrals (referral_code_id, new_member_id)
  WHERE status = 'confirmed';

CREATE TABLE click_events (
  id uuid PRIMARY KEY,
  referral_code_id uuid NOT NULL REFERENCES referral_codes (id),
  referral_id uuid NOT NULL REFERENCES referrals (id),
  mentor_id uuid NOT NULL REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  occurred_at timestamptz NOT NULL,
  visitor_hash text,
  ip_hash text,
  user_agent text,
  device_metadata jsonb NOT NULL DEFAULT '{}',
  is_duplicate boolean NOT NULL DEFAULT false,
  is_implicit boolean NOT NULL DEFAULT false
);
CREATE INDEX click_events_referral_code_id_idx ON click_events (referral_code_id);
CREATE INDEX click_events_mentor_counted_idx ON click_events (mentor_id) WHERE NOT is_duplicate;
CREATE INDEX click_events_org_time_idx ON click_events (org_id, occurred_at);

CREATE TABLE referral_events (
  id bigserial PRIMARY KEY,
  referral_id uuid NOT NULL REFERENCES referrals (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  type text NOT NULL,
  stage text NOT NULL,
  status text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  idempotency_key text NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_events_referral_idx ON referral_events (referral_id, id);

CREATE TABLE badge_awards (
  id uuid PRIMARY KEY,
  mentor_id uuid NOT NULL REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  badge_key text NOT NULL,
  milestone integer NOT NULL,
  confirmed_count integer NOT NULL,
  awarded_at timestamptz NOT NULL,
  claimed_by uuid,
  claimed_at timestamptz,
  delivered_at timestamptz,
  delivery_attempts integer NOT NULL DEFAULT 0,
  UNIQUE (mentor_id, badge_key)
);

CREATE FUNCTION get_attribution_counts(p_mentor_id uuid)
RETURNS TABLE (total_clicks bigint, pending_count bigint, confirmed_count bigint)
LANGUAGE sql STABLE AS $$
  SELECT
    (SELECT count(*) FROM click_events c WHERE c.mentor_id = p_mentor_id AND NOT c.is_duplicate),
    (SELECT count(*) FROM referrals r
      WHERE r.mentor_id = p_mentor_id AND r.status = 'pending' AND r.account_created_at IS NOT NULL),
    (SELECT count(*) FROM referrals r WHERE r.mentor_id = p_mentor_id AND r.status = 'confirmed')
$$;

-- Down Migration

DROP FUNCTION get_attribution_counts(uuid);
DROP TABLE badge_awards;
DROP TABLE referral_events;
DROP TABLE click_events;
DROP TABLE referrals;
DROP TABLE referral_codes;
DROP TABLE coordinator_assignments;
DROP TABLE users;
DROP TABLE organisations;
