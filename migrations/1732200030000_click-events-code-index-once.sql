-- Up Migration

-- click_events_code_time_idx (referral_code_id, occurred_at) finds a code's clicks, and serves its foreign key, as
-- this index did: every delivered click no longer writes both.
DROP INDEX click_events_referral_code_id_idx;

-- Down Migration

CREATE INDEX click_events_referral_code_id_idx ON click_events (referral_code_id);
