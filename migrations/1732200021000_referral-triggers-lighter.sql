-- Up Migration

-- The mentor's lock without a query: a write that keeps its mentor (nearly all) locks that one; a referral moved
-- to another mentor locks both, in one order whoever moves it.
CREATE OR REPLACE FUNCTION lock_mentor_aggregates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.mentor_id <> NEW.mentor_id THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || least(OLD.mentor_id, NEW.mentor_id), 0));
    PERFORM pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || greatest(OLD.mentor_id, NEW.mentor_id), 0));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || OLD.mentor_id, 0));
  ELSE
    PERFORM pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || NEW.mentor_id, 0));
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- What happens on a confirmation (or its reversal) is not called for every other change of a referral.
DROP TRIGGER referrals_notify_confirmed ON referrals;
CREATE TRIGGER referrals_notify_confirmed AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW WHEN (NEW.status = 'confirmed') EXECUTE FUNCTION notify_recruit_confirmed();
DROP TRIGGER referrals_invitation_joined ON referrals;
CREATE TRIGGER referrals_invitation_joined AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW WHEN (NEW.status = 'confirmed') EXECUTE FUNCTION invitation_joined();
DROP TRIGGER referrals_reward ON referrals;
CREATE TRIGGER referrals_reward AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW WHEN (NEW.status IN ('confirmed', 'reversed')) EXECUTE FUNCTION reward_referral_change();

-- Down Migration

DROP TRIGGER referrals_reward ON referrals;
CREATE TRIGGER referrals_reward AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION reward_referral_change();
DROP TRIGGER referrals_invitation_joined ON referrals;
CREATE TRIGGER referrals_invitation_joined AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION invitation_joined();
DROP TRIGGER referrals_notify_confirmed ON referrals;
CREATE TRIGGER referrals_notify_confirmed AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION notify_recruit_confirmed();

CREATE OR REPLACE FUNCTION lock_mentor_aggregates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  mentor uuid;
BEGIN
  FOR mentor IN
    SELECT DISTINCT m FROM unnest(ARRAY[
      CASE WHEN TG_OP <> 'INSERT' THEN OLD.mentor_id END,
      CASE WHEN TG_OP <> 'DELETE' THEN NEW.mentor_id END]) AS m
    WHERE m IS NOT NULL ORDER BY m
  LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || mentor, 0));
  END LOOP;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
