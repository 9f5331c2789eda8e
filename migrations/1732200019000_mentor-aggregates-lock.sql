-- Up Migration

-- A write to a mentor's referrals or clicks takes the mentor's lock before its triggers touch the mentor's aggregate
-- rows (counters, daily events, cohorts). Two writes for one mentor then wait for each other instead of taking those
-- rows in opposite orders and deadlocking: a first click takes the cohort row, then the counters (its click); an
-- account takes the counters (pending), then the cohort row.
CREATE FUNCTION lock_mentor_aggregates() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  mentor uuid;
BEGIN
  -- Both mentors of a referral moved from one to another, in one order whoever moves it.
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

CREATE TRIGGER referrals_lock_mentor_aggregates BEFORE INSERT OR UPDATE OR DELETE ON referrals
  FOR EACH ROW EXECUTE FUNCTION lock_mentor_aggregates();
CREATE TRIGGER click_events_lock_mentor_aggregates BEFORE INSERT OR DELETE ON click_events
  FOR EACH ROW EXECUTE FUNCTION lock_mentor_aggregates();

-- Down Migration

DROP TRIGGER click_events_lock_mentor_aggregates ON click_events;
DROP TRIGGER referrals_lock_mentor_aggregates ON referrals;
DROP FUNCTION lock_mentor_aggregates();
