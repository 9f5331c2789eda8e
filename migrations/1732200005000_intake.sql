-- Up Migration

-- The door every click and funnel step comes in by (DESIGN.md rule 0): the request writes its message here and is
-- answered; a dispatcher delivers it to its referral's workflow behind the answer. Delivered rows stay a while,
-- so the burst rule counts a code's last minute of clicks whether or not they have reached their workflows.
CREATE TABLE intake (
  id bigserial PRIMARY KEY,
  task_queue text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('click', 'step')),
  referral_id uuid NOT NULL,
  workflow_id text NOT NULL,
  referral_code_id uuid NOT NULL REFERENCES referral_codes (id),
  org_id uuid NOT NULL REFERENCES organisations (id),
  visitor_hash text NOT NULL,
  message jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  available_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz
);
CREATE INDEX intake_undelivered_idx ON intake (task_queue, id) WHERE delivered_at IS NULL;
CREATE INDEX intake_undelivered_workflow_idx ON intake (workflow_id, id) WHERE delivered_at IS NULL;
CREATE INDEX intake_code_clicks_idx ON intake (referral_code_id, received_at) WHERE kind = 'click';
CREATE INDEX intake_delivered_idx ON intake (delivered_at) WHERE delivered_at IS NOT NULL;
ALTER TABLE intake ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON intake USING (org_id = current_org());

-- Wakes the dispatchers once per statement that took messages.
CREATE FUNCTION notify_intake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('intake', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER intake_taken AFTER INSERT ON intake FOR EACH STATEMENT EXECUTE FUNCTION notify_intake();

-- Down Migration

DROP TRIGGER intake_taken ON intake;
DROP FUNCTION notify_intake();
DROP TABLE intake;
