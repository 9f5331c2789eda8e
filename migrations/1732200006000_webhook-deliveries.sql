-- Up Migration

-- Every membership webhook delivery by its id, with its first answer: the same delivery again answers that and
-- changes nothing, whatever happened in between (DESIGN.md rule 6).
CREATE TABLE webhook_deliveries (
  delivery_id text PRIMARY KEY,
  event text NOT NULL,
  status integer NOT NULL,
  answer jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- A member's latest cancellation in an organisation: a registration older than it does not confirm them again.
CREATE TABLE member_cancellations (
  org_id uuid NOT NULL REFERENCES organisations (id),
  new_member_id uuid NOT NULL,
  cancelled_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, new_member_id)
);
ALTER TABLE member_cancellations ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON member_cancellations USING (org_id = current_org());

-- Down Migration

DROP TABLE member_cancellations;
DROP TABLE webhook_deliveries;
