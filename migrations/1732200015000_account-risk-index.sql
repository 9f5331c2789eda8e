-- Up Migration

-- The account risk check finds the mentor's other referrals that clicked from one of this referral's IP hashes
-- through this index, not by probing each of the mentor's referrals: its cost stays that of the shared addresses
-- however many recruits the mentor has. Retention empties ip_hash, and the index with it.
CREATE INDEX click_events_ip_mentor_idx ON click_events (ip_hash, mentor_id) WHERE ip_hash IS NOT NULL;

-- Down Migration

DROP INDEX click_events_ip_mentor_idx;
