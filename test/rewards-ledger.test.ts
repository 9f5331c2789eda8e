import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Pool } from 'pg';
import { createPool } from '../src/db/pool';
import { createRewardStore } from '../src/db/rewards';
import type { RewardRules } from '../src/domain/rewards';

// The ledger is written by triggers on the referrals' rows; after any sequence of confirmations, cancellations,
// reviews, replays and settling it holds exactly the entries a model of the rules gives, and the balances are sums
// of it.
let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
});

afterAll(async () => {
  await pool.end();
});

const RULES: RewardRules = {
  unit: 'points',
  perConfirmedRecruit: 10,
  milestoneBonuses: [
    { milestone: 1, amount: 5 },
    { milestone: 3, amount: 7 },
  ],
  campaigns: [],
  holdingSeconds: 3600,
  approvalAbove: 40,
};
const REFERRALS = 4;
const MENTORS = 2;

type Step =
  | { type: 'confirm'; referral: number }
  | { type: 'flag'; referral: number }
  | { type: 'cancel'; referral: number }
  | { type: 'replay'; referral: number }
  | { type: 'settle' }
  | { type: 'decide'; nth: number; decision: 'approve' | 'reject' };

const referral = fc.nat(REFERRALS - 1);
const steps = fc.array(
  fc.oneof(
    fc.record({ type: fc.constant('confirm' as const), referral }),
    fc.record({ type: fc.constant('flag' as const), referral }),
    fc.record({ type: fc.constant('cancel' as const), referral }),
    // The same status written again, as a retried activity or a replayed workflow writes it.
    fc.record({ type: fc.constant('replay' as const), referral }),
    fc.record({ type: fc.constant('settle' as const) }),
    fc.record({ type: fc.constant('decide' as const), nth: fc.nat(3), decision: fc.constantFrom('approve' as const, 'reject' as const) }),
  ),
  { maxLength: 30 },
);

interface ModelEntry {
  referral: number;
  rule: string;
  amount: number;
  status: 'pending' | 'confirmed' | 'reversed';
  awaiting: boolean;
}

/** What the rules say the ledger holds after `taken`. */
function model(taken: Step[]): ModelEntry[] {
  const status: string[] = Array.from({ length: REFERRALS }, () => 'pending');
  const mentorOf = (index: number) => index % MENTORS;
  const entries: ModelEntry[] = [];
  const has = (index: number, rule: string) => entries.some((entry) => entry.referral === index && entry.rule === rule);
  const write = (index: number, rule: string, amount: number) => {
    if (has(index, rule)) return;
    const recent = entries
      .filter((entry) => mentorOf(entry.referral) === mentorOf(index) && entry.status !== 'reversed' && entry.amount > 0)
      .reduce((sum, entry) => sum + entry.amount, 0);
    entries.push({ referral: index, rule, amount, status: 'pending', awaiting: recent + amount > RULES.approvalAbove! });
  };
  for (const step of taken) {
    if (step.type === 'confirm' && ['pending', 'flagged'].includes(status[step.referral])) {
      status[step.referral] = 'confirmed';
      write(step.referral, 'perConfirmedRecruit', RULES.perConfirmedRecruit);
      const confirmed = status.filter((value, index) => value === 'confirmed' && mentorOf(index) === mentorOf(step.referral)).length;
      for (const bonus of RULES.milestoneBonuses) {
        const rule = `milestoneBonus:${bonus.milestone}`;
        const paid = entries.some((entry) => entry.rule === rule && mentorOf(entry.referral) === mentorOf(step.referral) && entry.status !== 'reversed');
        if (bonus.milestone === confirmed && !paid) write(step.referral, rule, bonus.amount);
      }
    } else if (step.type === 'flag' && status[step.referral] === 'pending') {
      status[step.referral] = 'flagged';
    } else if (step.type === 'cancel' && status[step.referral] === 'confirmed') {
      status[step.referral] = 'reversed';
      for (const entry of entries.filter((candidate) => candidate.referral === step.referral)) {
        if (entry.status === 'pending') entry.status = 'reversed';
      }
      const recruit = entries.find((entry) => entry.referral === step.referral && entry.rule === 'perConfirmedRecruit' && entry.status === 'confirmed');
      if (recruit && !has(step.referral, 'correction')) entries.push({ referral: step.referral, rule: 'correction', amount: -recruit.amount, status: 'confirmed', awaiting: false });
    } else if (step.type === 'settle') {
      for (const entry of entries) if (entry.status === 'pending' && !entry.awaiting) entry.status = 'confirmed';
    } else if (step.type === 'decide') {
      const entry = entries.filter((candidate) => candidate.awaiting)[step.nth];
      if (entry) {
        entry.awaiting = false;
        if (step.decision === 'reject') entry.status = 'reversed';
      }
    }
  }
  return entries;
}

async function seedOrg() {
  const orgId = randomUUID();
  const mentors = Array.from({ length: MENTORS }, () => randomUUID());
  await pool.query('INSERT INTO organisations (id) VALUES ($1)', [orgId]);
  for (const mentor of mentors) await pool.query("INSERT INTO users (id, org_id, role) VALUES ($1, $2, 'peer_mentor')", [mentor, orgId]);
  await pool.query("INSERT INTO reward_rules (org_id, version, rules, set_by) VALUES ($1, 1, $2, $3)", [orgId, RULES, mentors[0]]);
  const referralIds: string[] = [];
  for (let index = 0; index < REFERRALS; index += 1) {
    const codeId = randomUUID();
    const mentor = mentors[index % MENTORS];
    await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [codeId, `rw${randomUUID().slice(0, 12)}`, mentor, orgId]);
    const id = randomUUID();
    await pool.query(
      `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at)
       VALUES ($1, $2, $3, $4, $5, 'account_created', 'pending', now(), now())`,
      [id, orgId, codeId, mentor, `referral-${id}`],
    );
    referralIds.push(id);
  }
  return { orgId, mentors, referralIds };
}

const SETTLE_AT = () => new Date(Date.now() + 2 * RULES.holdingSeconds * 1000);

test('the ledger equals the rules applied to any sequence, and its balances are its sums', async () => {
  const store = createRewardStore(pool);
  await fc.assert(
    fc.asyncProperty(steps, async (taken) => {
      const { orgId, mentors, referralIds } = await seedOrg();
      for (const step of taken) {
        if (step.type === 'settle') {
          await store.settleDue(SETTLE_AT(), 1000);
        } else if (step.type === 'decide') {
          const awaiting = await store.awaitingApproval(orgId, 100);
          if (awaiting[step.nth]) await store.decide(orgId, awaiting[step.nth].id, step.decision, mentors[0]);
        } else {
          const id = referralIds[step.referral];
          const update = {
            confirm: `UPDATE referrals SET status = 'confirmed', new_member_id = gen_random_uuid(), confirmed_at = now() WHERE id = $1 AND status IN ('pending', 'flagged')`,
            flag: `UPDATE referrals SET status = 'flagged' WHERE id = $1 AND status = 'pending'`,
            cancel: `UPDATE referrals SET status = 'reversed' WHERE id = $1 AND status = 'confirmed'`,
            replay: 'UPDATE referrals SET status = status, updated_at = now() WHERE id = $1',
          }[step.type];
          await pool.query(update, [id]);
        }
      }
      const { rows } = await pool.query<{ referral_id: string; rule: string; amount: string; status: ModelEntry['status']; approval: string | null; mentor_id: string }>(
        'SELECT referral_id, rule, amount, status, approval, mentor_id FROM reward_entries WHERE org_id = $1',
        [orgId],
      );
      const kept = rows
        .map((row) => ({ referral: referralIds.indexOf(row.referral_id), rule: row.rule, amount: Number(row.amount), status: row.status, awaiting: row.approval === 'required' }))
        .sort((a, b) => a.referral - b.referral || a.rule.localeCompare(b.rule));
      const expected = model(taken).sort((a, b) => a.referral - b.referral || a.rule.localeCompare(b.rule));
      expect(kept).toEqual(expected);
      for (const [index, mentor] of mentors.entries()) {
        const own = expected.filter((entry) => entry.referral % MENTORS === index);
        const sum = (status: ModelEntry['status']) => own.filter((entry) => entry.status === status).reduce((total, entry) => total + entry.amount, 0);
        expect(await store.mentorBalance(orgId, mentor)).toEqual({ pending: sum('pending'), confirmed: sum('confirmed'), reversed: sum('reversed') });
      }
      const all = (status: ModelEntry['status']) => expected.filter((entry) => entry.status === status).reduce((total, entry) => total + entry.amount, 0);
      expect(await store.orgBalance(orgId)).toEqual({ pending: all('pending'), confirmed: all('confirmed'), reversed: all('reversed') });
    }),
    { numRuns: 200 },
  );
});

test('an entry is never edited nor deleted by the service, and moves from pending only', async () => {
  const { orgId, referralIds } = await seedOrg();
  await pool.query(`UPDATE referrals SET status = 'confirmed', new_member_id = gen_random_uuid(), confirmed_at = now() WHERE id = $1`, [referralIds[0]]);
  const store = createRewardStore(pool);
  await store.settleDue(SETTLE_AT(), 1000);
  const [entry] = (await pool.query<{ id: string; status: string }>("SELECT id, status FROM reward_entries WHERE org_id = $1 AND rule = 'perConfirmedRecruit'", [orgId])).rows;
  expect(entry.status).toBe('confirmed');
  const client = await pool.connect();
  try {
    await client.query('SET ROLE referral_runtime');
    await expect(client.query('UPDATE reward_entries SET amount = 1000 WHERE id = $1', [entry.id])).rejects.toThrow(/permission denied/);
    await expect(client.query('DELETE FROM reward_entries WHERE id = $1', [entry.id])).rejects.toThrow(/permission denied/);
    await expect(client.query("UPDATE reward_entries SET status = 'pending' WHERE id = $1", [entry.id])).rejects.toThrow(/moves from pending only/);
    await expect(client.query('DELETE FROM reward_rules WHERE org_id = $1', [orgId])).rejects.toThrow(/permission denied/);
  } finally {
    await client.query('RESET ROLE');
    client.release();
  }
});

test("a campaign multiplies confirmations from its first instant up to, not including, its end", async () => {
  const { orgId, mentors, referralIds } = await seedOrg();
  const from = new Date('2026-03-01T00:00:00.000Z');
  const to = new Date('2026-04-01T00:00:00.000Z');
  const campaigns = [{ campaign: 'spring', from: from.toISOString(), to: to.toISOString(), multiplier: 3 }];
  const rules: RewardRules = { ...RULES, milestoneBonuses: [], approvalAbove: undefined, campaigns };
  await pool.query('INSERT INTO reward_rules (org_id, version, rules, set_by) VALUES ($1, 2, $2, $3)', [orgId, rules, mentors[0]]);
  await pool.query("UPDATE referral_codes SET campaign = 'spring' WHERE id IN (SELECT referral_code_id FROM referrals WHERE id = ANY($1::uuid[]))", [referralIds]);
  const confirmedAt = [new Date(from.getTime() - 1), from, new Date(to.getTime() - 1), to];
  for (const [index, at] of confirmedAt.entries()) {
    await pool.query("UPDATE referrals SET status = 'confirmed', new_member_id = gen_random_uuid(), confirmed_at = $2 WHERE id = $1", [referralIds[index], at]);
  }
  const amounts = await pool.query<{ referral_id: string; amount: string }>("SELECT referral_id, amount FROM reward_entries WHERE org_id = $1 AND rule = 'perConfirmedRecruit'", [orgId]);
  const byReferral = new Map(amounts.rows.map((row) => [row.referral_id, Number(row.amount)]));
  expect(referralIds.map((id) => byReferral.get(id))).toEqual([10, 30, 30, 10]);
});
