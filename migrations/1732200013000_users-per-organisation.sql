-- Up Migration

-- A user is a user of one organisation: the same id (an identity provider's subject) in two organisations is two
-- people, and nothing one organisation does can tell that the other has it. Everything that names a user names
-- them with the organisation.
DO $$
DECLARE
  fk record;
BEGIN
  FOR fk IN SELECT conrelid::regclass AS tab, conname FROM pg_constraint WHERE confrelid = 'users'::regclass AND contype = 'f' LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tab, fk.conname);
  END LOOP;
END
$$;

ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (org_id, id);

ALTER TABLE coordinator_assignments DROP CONSTRAINT coordinator_assignments_pkey;
ALTER TABLE coordinator_assignments ADD PRIMARY KEY (org_id, coordinator_id, mentor_id);
ALTER TABLE mentor_counters DROP CONSTRAINT mentor_counters_pkey;
ALTER TABLE mentor_counters ADD PRIMARY KEY (org_id, mentor_id);
ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_pkey;
ALTER TABLE notification_preferences ADD PRIMARY KEY (org_id, mentor_id);
ALTER TABLE mentor_devices DROP CONSTRAINT mentor_devices_pkey;
ALTER TABLE mentor_devices ADD PRIMARY KEY (org_id, mentor_id, visitor_hash);
ALTER TABLE badge_awards DROP CONSTRAINT badge_awards_mentor_id_badge_key_key;
ALTER TABLE badge_awards ADD CONSTRAINT badge_awards_mentor_badge_key UNIQUE (org_id, mentor_id, badge_key);

ALTER TABLE coordinator_assignments ADD FOREIGN KEY (org_id, coordinator_id) REFERENCES users (org_id, id);
ALTER TABLE coordinator_assignments ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE referral_codes ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE referrals ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE click_events ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE badge_awards ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE mentor_devices ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE mentor_counters ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE invitations ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id);
ALTER TABLE dashboard_sessions ADD FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE;
ALTER TABLE notification_preferences ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id) ON DELETE CASCADE;
ALTER TABLE mentor_notifications ADD FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id) ON DELETE CASCADE;

CREATE OR REPLACE FUNCTION bump_mentor_counters(p_mentor uuid, p_org uuid, p_clicks bigint, p_pending bigint, p_confirmed bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO mentor_counters AS m (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
  VALUES (p_mentor, p_org, p_clicks, p_pending, p_confirmed)
  ON CONFLICT (org_id, mentor_id) DO UPDATE SET
    total_clicks = m.total_clicks + EXCLUDED.total_clicks,
    pending_count = m.pending_count + EXCLUDED.pending_count,
    confirmed_count = m.confirmed_count + EXCLUDED.confirmed_count
$$;

-- Down Migration

-- Only where no id is shared by two organisations.
DO $$
DECLARE
  fk record;
BEGIN
  FOR fk IN SELECT conrelid::regclass AS tab, conname FROM pg_constraint WHERE confrelid = 'users'::regclass AND contype = 'f' LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tab, fk.conname);
  END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION bump_mentor_counters(p_mentor uuid, p_org uuid, p_clicks bigint, p_pending bigint, p_confirmed bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO mentor_counters AS m (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
  VALUES (p_mentor, p_org, p_clicks, p_pending, p_confirmed)
  ON CONFLICT (mentor_id) DO UPDATE SET
    total_clicks = m.total_clicks + EXCLUDED.total_clicks,
    pending_count = m.pending_count + EXCLUDED.pending_count,
    confirmed_count = m.confirmed_count + EXCLUDED.confirmed_count
$$;
ALTER TABLE badge_awards DROP CONSTRAINT badge_awards_mentor_badge_key;
ALTER TABLE badge_awards ADD CONSTRAINT badge_awards_mentor_id_badge_key_key UNIQUE (mentor_id, badge_key);
ALTER TABLE mentor_devices DROP CONSTRAINT mentor_devices_pkey;
ALTER TABLE mentor_devices ADD PRIMARY KEY (mentor_id, visitor_hash);
ALTER TABLE notification_preferences DROP CONSTRAINT notification_preferences_pkey;
ALTER TABLE notification_preferences ADD PRIMARY KEY (mentor_id);
ALTER TABLE mentor_counters DROP CONSTRAINT mentor_counters_pkey;
ALTER TABLE mentor_counters ADD PRIMARY KEY (mentor_id);
ALTER TABLE coordinator_assignments DROP CONSTRAINT coordinator_assignments_pkey;
ALTER TABLE coordinator_assignments ADD PRIMARY KEY (coordinator_id, mentor_id);
ALTER TABLE users DROP CONSTRAINT users_pkey;
ALTER TABLE users ADD PRIMARY KEY (id);
ALTER TABLE coordinator_assignments ADD FOREIGN KEY (coordinator_id) REFERENCES users (id);
ALTER TABLE coordinator_assignments ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE referral_codes ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE referrals ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE click_events ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE badge_awards ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE mentor_devices ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE mentor_counters ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE invitations ADD FOREIGN KEY (mentor_id) REFERENCES users (id);
ALTER TABLE dashboard_sessions ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE notification_preferences ADD FOREIGN KEY (mentor_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE mentor_notifications ADD FOREIGN KEY (mentor_id) REFERENCES users (id) ON DELETE CASCADE;
