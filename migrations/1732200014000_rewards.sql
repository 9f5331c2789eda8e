-- Up Migration

-- What a referred member is offered for joining, as the invite page names it (the current rules' welcome reward).
ALTER TABLE organisations ADD COLUMN welcome_reward text;

-- Each organisation's reward rules, every version kept: an entry names the version it was made under.
CREATE TABLE reward_rules (
  org_id uuid NOT NULL REFERENCES organisations (id),
  version integer NOT NULL CHECK (version > 0),
  -- As the API took them, the holding period in seconds (`holdingSeconds`).
  rules jsonb NOT NULL,
  set_by uuid NOT NULL,
  effective_from timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, version)
);

-- The rewards ledger. An entry is written once, for one referral and one rule; only its status moves (pending ->
-- confirmed or reversed) and a high-value entry's approval is decided once. A cancellation after the hold writes a
-- correcting entry. Balances are sums of `amount` by status.
CREATE TABLE reward_entries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The ledger's order: entries written in one transaction share their created_at.
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  org_id uuid NOT NULL REFERENCES organisations (id),
  mentor_id uuid NOT NULL,
  referral_id uuid NOT NULL REFERENCES referrals (id),
  -- 'perConfirmedRecruit', 'milestoneBonus:<n>', or 'correction' (of the referral's perConfirmedRecruit entry).
  rule text NOT NULL,
  amount bigint NOT NULL,
  unit text NOT NULL,
  rules_version integer NOT NULL,
  -- The rule as it stood for this entry: amounts, campaign and multiplier, milestone.
  detail jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'reversed')),
  approval text CHECK (approval IN ('required', 'approved', 'rejected')),
  hold_until timestamptz NOT NULL,
  corrects_entry_id uuid UNIQUE REFERENCES reward_entries (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  confirmed_at timestamptz,
  reversed_at timestamptz,
  reversal_reason text CHECK (reversal_reason IN ('cancelled', 'rejected')),
  decided_by uuid,
  FOREIGN KEY (org_id, mentor_id) REFERENCES users (org_id, id),
  FOREIGN KEY (org_id, rules_version) REFERENCES reward_rules (org_id, version),
  UNIQUE (referral_id, rule)
);
CREATE INDEX reward_entries_mentor_idx ON reward_entries (org_id, mentor_id, seq);
CREATE INDEX reward_entries_due_idx ON reward_entries (hold_until) WHERE status = 'pending';
CREATE INDEX reward_entries_awaiting_idx ON reward_entries (org_id, created_at) WHERE approval = 'required';
-- A milestone's bonus is paid once per mentor; one reversed during its hold may be earned again.
CREATE UNIQUE INDEX reward_entries_one_bonus_per_milestone ON reward_entries (org_id, mentor_id, rule)
  WHERE rule LIKE 'milestoneBonus:%' AND status <> 'reversed';

GRANT SELECT ON reward_rules, reward_entries TO referral_reader;
SELECT protect_org_table('reward_rules');
SELECT protect_org_table('reward_entries');
-- Append-only for the service: no entry or rule version is ever deleted, and no entry's facts are edited.
REVOKE UPDATE, DELETE ON reward_rules FROM referral_runtime;
REVOKE UPDATE, DELETE ON reward_entries FROM referral_runtime;
GRANT UPDATE (status, approval, confirmed_at, reversed_at, reversal_reason, decided_by) ON reward_entries TO referral_runtime;

CREATE FUNCTION guard_reward_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> OLD.status AND NOT (OLD.status = 'pending' AND NEW.status IN ('confirmed', 'reversed')) THEN
    RAISE EXCEPTION 'a reward entry moves from pending only (% to %)', OLD.status, NEW.status;
  END IF;
  IF NEW.approval IS DISTINCT FROM OLD.approval AND NOT (OLD.approval = 'required' AND NEW.approval IN ('approved', 'rejected')) THEN
    RAISE EXCEPTION 'a reward entry''s approval is decided once';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER reward_entries_guard BEFORE UPDATE ON reward_entries FOR EACH ROW EXECUTE FUNCTION guard_reward_entry();

-- The mentor's rewards over the last 30 days, for the high-value check (what was not reversed).
CREATE FUNCTION recent_rewards(p_org uuid, p_mentor uuid) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(amount), 0)::bigint FROM reward_entries
  WHERE org_id = p_org AND mentor_id = p_mentor AND status <> 'reversed' AND amount > 0 AND created_at > now() - interval '30 days'
$$;

-- One entry under the current rules, unless the referral has it already; it waits for approval once the mentor's
-- last 30 days pass `approvalAbove`.
CREATE FUNCTION write_reward_entry(r referrals, p_rule text, p_amount bigint, p_detail jsonb, p_version integer, p_rules jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_amount <= 0 THEN RETURN; END IF;
  INSERT INTO reward_entries (org_id, mentor_id, referral_id, rule, amount, unit, rules_version, detail, status, approval, hold_until)
  VALUES (r.org_id, r.mentor_id, r.id, p_rule, p_amount, p_rules->>'unit', p_version, p_detail, 'pending',
    CASE WHEN p_rules ? 'approvalAbove' AND recent_rewards(r.org_id, r.mentor_id) + p_amount > (p_rules->>'approvalAbove')::bigint
      THEN 'required' END,
    now() + make_interval(secs => (p_rules->>'holdingSeconds')::bigint))
  ON CONFLICT DO NOTHING;
END
$$;

-- A confirmation's rewards: the recruit's (times a campaign's multiplier when its dates hold the confirmation), and
-- the bonus of a milestone the mentor's confirmed count has just reached. Runs after `referrals_count`, which has
-- counted this confirmation.
CREATE FUNCTION award_rewards(r referrals) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  current reward_rules;
  campaign jsonb;
  multiplier numeric := 1;
  confirmed bigint;
  bonus jsonb;
BEGIN
  SELECT * INTO current FROM reward_rules WHERE org_id = r.org_id ORDER BY version DESC LIMIT 1;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT c INTO campaign FROM jsonb_array_elements(current.rules->'campaigns') c JOIN referral_codes k ON k.id = r.referral_code_id
  WHERE c->>'campaign' = k.campaign AND coalesce(r.confirmed_at, now()) >= (c->>'from')::timestamptz AND coalesce(r.confirmed_at, now()) < (c->>'to')::timestamptz
  ORDER BY (c->>'multiplier')::numeric DESC LIMIT 1;
  IF campaign IS NOT NULL THEN multiplier := (campaign->>'multiplier')::numeric; END IF;
  PERFORM write_reward_entry(r, 'perConfirmedRecruit', round((current.rules->>'perConfirmedRecruit')::bigint * multiplier)::bigint,
    jsonb_build_object('perConfirmedRecruit', (current.rules->>'perConfirmedRecruit')::bigint, 'multiplier', multiplier)
      || CASE WHEN campaign IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('campaign', campaign) END,
    current.version, current.rules);
  SELECT m.confirmed_count INTO confirmed FROM mentor_counters m WHERE m.org_id = r.org_id AND m.mentor_id = r.mentor_id;
  FOR bonus IN SELECT b FROM jsonb_array_elements(current.rules->'milestoneBonuses') b WHERE (b->>'milestone')::bigint = confirmed LOOP
    PERFORM write_reward_entry(r, 'milestoneBonus:' || (bonus->>'milestone'), (bonus->>'amount')::bigint,
      jsonb_build_object('milestone', (bonus->>'milestone')::bigint, 'confirmedCount', confirmed), current.version, current.rules);
  END LOOP;
END
$$;

-- A cancellation: what is still held is reversed; a recruit's reward already confirmed is corrected by an entry of
-- its own. A milestone's bonus past its hold stays, as its badge does.
CREATE FUNCTION take_back_rewards(p_referral uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE reward_entries SET status = 'reversed', reversed_at = now(), reversal_reason = 'cancelled'
  WHERE referral_id = p_referral AND status = 'pending';
  INSERT INTO reward_entries (org_id, mentor_id, referral_id, rule, amount, unit, rules_version, detail, status, hold_until, corrects_entry_id, confirmed_at)
  SELECT e.org_id, e.mentor_id, e.referral_id, 'correction', -e.amount, e.unit, e.rules_version, jsonb_build_object('corrects', e.rule), 'confirmed', now(), e.id, now()
  FROM reward_entries e WHERE e.referral_id = p_referral AND e.rule = 'perConfirmedRecruit' AND e.status = 'confirmed'
  ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION reward_referral_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'confirmed' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'confirmed') THEN
    PERFORM award_rewards(NEW);
  ELSIF TG_OP = 'UPDATE' AND NEW.status = 'reversed' AND OLD.status = 'confirmed' THEN
    PERFORM take_back_rewards(NEW.id);
  END IF;
  RETURN NULL;
END
$$;
-- Named to fire after `referrals_count` (triggers fire in name order).
CREATE TRIGGER referrals_reward AFTER INSERT OR UPDATE OF status ON referrals
  FOR EACH ROW EXECUTE FUNCTION reward_referral_change();

-- Down Migration

DROP TRIGGER referrals_reward ON referrals;
DROP FUNCTION reward_referral_change();
DROP FUNCTION take_back_rewards(uuid);
DROP FUNCTION award_rewards(referrals);
DROP FUNCTION write_reward_entry(referrals, text, bigint, jsonb, integer, jsonb);
DROP FUNCTION recent_rewards(uuid, uuid);
DROP TABLE reward_entries;
DROP FUNCTION guard_reward_entry();
DROP TABLE reward_rules;
ALTER TABLE organisations DROP COLUMN welcome_reward;
