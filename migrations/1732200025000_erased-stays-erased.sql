-- Up Migration

-- An erased referral's journey is over: nothing is written to it again, whoever writes (a run whose write was on its
-- way when the erasure came, a message delivered as it came), so none of the person's data comes back. The referral's
-- row lock orders each write with the erasure, which holds it FOR UPDATE: a write that locked first is erased with the
-- rest, one that waited finds the tombstone (each statement here reads afresh).

-- A click, an app's link to the member or a timeline event of an erased referral is not written.
CREATE FUNCTION skip_if_referral_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM referrals WHERE id = NEW.referral_id FOR KEY SHARE;
  RETURN CASE WHEN EXISTS (SELECT 1 FROM erasures WHERE referral_id = NEW.referral_id) THEN NULL ELSE NEW END;
END
$$;
CREATE TRIGGER click_events_skip_erased BEFORE INSERT ON click_events
  FOR EACH ROW EXECUTE FUNCTION skip_if_referral_erased();
CREATE TRIGGER referral_member_links_skip_erased BEFORE INSERT ON referral_member_links
  FOR EACH ROW EXECUTE FUNCTION skip_if_referral_erased();
-- The erasure's own event is the last.
CREATE TRIGGER referral_events_skip_erased BEFORE INSERT ON referral_events
  FOR EACH ROW WHEN (NEW.type <> 'erased') EXECUTE FUNCTION skip_if_referral_erased();

-- Nor is the referral's own row written again. An update waits for the row's lock by itself, so only the tombstone
-- is looked for, and only on a row without visitor or member: an erased one (or a direct referral, rarely).
CREATE FUNCTION keep_referral_erased() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN CASE WHEN EXISTS (SELECT 1 FROM erasures WHERE referral_id = NEW.id) THEN NULL ELSE NEW END;
END
$$;
CREATE TRIGGER referrals_keep_erased BEFORE UPDATE ON referrals
  FOR EACH ROW WHEN (OLD.visitor_hash IS NULL AND OLD.new_member_id IS NULL)
  EXECUTE FUNCTION keep_referral_erased();

-- The dashboard's lists of referrals to act on leave erased ones out: its reads see their own organisation's tombstones.
GRANT SELECT ON erasures TO referral_reader;

-- Down Migration

REVOKE SELECT ON erasures FROM referral_reader;

DROP TRIGGER referrals_keep_erased ON referrals;
DROP FUNCTION keep_referral_erased();
DROP TRIGGER referral_events_skip_erased ON referral_events;
DROP TRIGGER referral_member_links_skip_erased ON referral_member_links;
DROP TRIGGER click_events_skip_erased ON click_events;
DROP FUNCTION skip_if_referral_erased();
