-- Up Migration

-- A click's statement inserts into the intake whether or not it takes any click (a batch all refused by the rate
-- limits takes none): the dispatchers are woken only by a statement that took a message.
CREATE OR REPLACE FUNCTION notify_intake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM taken) THEN
    PERFORM pg_notify('intake', '');
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER intake_taken ON intake;
CREATE TRIGGER intake_taken AFTER INSERT ON intake REFERENCING NEW TABLE AS taken FOR EACH STATEMENT EXECUTE FUNCTION notify_intake();

-- Down Migration

DROP TRIGGER intake_taken ON intake;
CREATE OR REPLACE FUNCTION notify_intake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('intake', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER intake_taken AFTER INSERT ON intake FOR EACH STATEMENT EXECUTE FUNCTION notify_intake();
