-- Up Migration

-- Why a referral is held for a coordinator's review instead of counted.
ALTER TABLE referrals ADD COLUMN flag_reason text;

-- Devices a mentor used themselves: a referral from one of them is a self-referral.
CREATE TABLE mentor_devices (
  mentor_id uuid NOT NULL REFERENCES users (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  visitor_hash text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (mentor_id, visitor_hash)
);
CREATE INDEX mentor_devices_org_visitor_idx ON mentor_devices (org_id, visitor_hash);
ALTER TABLE mentor_devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON mentor_devices USING (org_id = current_org());
GRANT SELECT ON mentor_devices TO referral_reader;

-- Codes created by a bulk invitation are found again by (mentor, campaign), so an upload can be repeated.
ALTER TABLE referral_codes ADD COLUMN bulk_key text;
CREATE UNIQUE INDEX referral_codes_bulk_key ON referral_codes (org_id, mentor_id, bulk_key) WHERE bulk_key IS NOT NULL;
CREATE INDEX click_events_code_time_idx ON click_events (referral_code_id, occurred_at);

-- Counters of rate-limiter-flexible, shared by every API process.
CREATE TABLE rate_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Down Migration

DROP TABLE rate_limits;
DROP INDEX click_events_code_time_idx;
DROP INDEX referral_codes_bulk_key;
ALTER TABLE referral_codes DROP COLUMN bulk_key;
DROP TABLE mentor_devices;
ALTER TABLE referrals DROP COLUMN flag_reason;
