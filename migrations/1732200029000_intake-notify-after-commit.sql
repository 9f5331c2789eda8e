-- Up Migration

-- The dispatchers are woken by the writer after its statement commits (`wakeDispatchers`): a NOTIFY in the taking
-- transaction held Postgres's one notification lock through that commit's flush, so writers to the intake committed
-- one at a time.
DROP TRIGGER intake_taken ON intake;
DROP FUNCTION notify_intake();

-- Down Migration

CREATE FUNCTION notify_intake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM taken) THEN
    PERFORM pg_notify('intake', '');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER intake_taken AFTER INSERT ON intake REFERENCING NEW TABLE AS taken FOR EACH STATEMENT EXECUTE FUNCTION notify_intake();
