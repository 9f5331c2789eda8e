-- Up Migration

-- A reward rule's campaign matches the codes' campaign in any case: mentors type their campaigns freely, and an
-- admin's "Spring Fair" is their "spring fair".
CREATE OR REPLACE FUNCTION award_rewards(r referrals) RETURNS void LANGUAGE plpgsql AS $$
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
  WHERE lower(c->>'campaign') = lower(k.campaign) AND coalesce(r.confirmed_at, now()) >= (c->>'from')::timestamptz AND coalesce(r.confirmed_at, now()) < (c->>'to')::timestamptz
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

-- Down Migration

CREATE OR REPLACE FUNCTION award_rewards(r referrals) RETURNS void LANGUAGE plpgsql AS $$
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
