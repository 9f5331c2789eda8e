import { randomInt, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from '../src/domain/access';
import { startRewardSettler, type RewardSettler } from '../src/worker/reward-settler';
import { listenApp, registerMember, reportAccount, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';

// The rewards ledger against the real stack: the webhook through Temporal's workflow to the referral's row, whose
// triggers write the entries, and the settler confirming them once their hold (seconds here) has passed.
const JWT_SECRET = 'rewards-test-jwt-secret-0123456789abcdef';
const WEBHOOK_SECRET = 'rewards-test-webhook-secret';
const HOUR_MS = 3_600_000;

let harness: Harness;
let api: ListeningApi;
let settler: RewardSettler;

type Person = { id: string; role: Role; name: string; orgId: string };
const organisation = () => {
  const orgId = randomUUID();
  const person = (role: Role, name: string): Person => ({ id: randomUUID(), role, name, orgId });
  return { orgId, admin: person('org_admin', 'Olga Admin'), coordinator: person('coordinator', 'Cora Coordinator'), person };
};

const token = (who: Person) =>
  new SignJWT({ role: who.role, org_id: who.orgId, name: who.name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function call(who: Person | undefined, route: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(who ? { authorization: `Bearer ${await token(who)}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, type, body: type.includes('json') && text ? JSON.parse(text) : text };
}

const signIn = async (...people: Person[]) => {
  for (const who of people) expect((await call(who, '/api/v1/me')).status).toBe(200);
};

const codeFor = async (admin: Person, mentor: Person, campaign?: string) =>
  (await call(admin, '/api/v1/referral-codes', 'POST', { mentorId: mentor.id, ...(campaign ? { campaign } : {}) })).body.code as string;

interface Recruit {
  referralId: string;
  code: string;
  newMemberId: string;
}

/** Click, account, and the membership system's registration `deliveries` times (the same delivery and new ones). */
async function recruit(admin: Person, mentor: Person, options: { campaign?: string; deliveries?: number } = {}): Promise<Recruit> {
  const code = await codeFor(admin, mentor, options.campaign);
  // Each from a network of its own: many accounts from one would be held for review.
  const network = `198.${randomInt(256)}.${randomInt(256)}.7`;
  const click = await call(undefined, '/api/v1/referral-attributions', 'POST', { code, visitorId: randomUUID() }, { 'x-forwarded-for': network });
  expect(click.status).toBe(201);
  const newMemberId = randomUUID();
  expect((await reportAccount(api.url, click.body, newMemberId)).status).toBe(202);
  const deliveryId = randomUUID();
  for (let delivery = 0; delivery < (options.deliveries ?? 1); delivery += 1) {
    const answer = await registerMember(api.url, WEBHOOK_SECRET, { code, newMemberId, deliveryId: delivery % 2 === 0 ? deliveryId : randomUUID() });
    expect(answer.status).toBe(200);
  }
  return { referralId: click.body.referralId, code, newMemberId };
}

const cancel = (recruited: Recruit) =>
  registerMember(api.url, WEBHOOK_SECRET, { ...recruited, event: 'member.cancelled', deliveryId: randomUUID() }).then((answer) => expect(answer.status).toBe(200));

const rewardsOf = async (reader: Person, mentor: Person) => {
  const answer = await call(reader, `/api/v1/mentors/${mentor.id}/rewards`);
  expect(answer.status).toBe(200);
  return answer.body as {
    unit: string;
    balance: { pending: number; confirmed: number; reversed: number };
    entries: { id: string; referralId: string; rule: string; amount: number; status: string; awaiting: string | null; rulesVersion: number; detail: Record<string, unknown>; correctsEntryId: string | null; reversalReason: string | null }[];
  };
};

/** The entries of a mentor once `count` exist, oldest first. */
async function entriesOnce(reader: Person, mentor: Person, count: number) {
  let seen: unknown[] = [];
  try {
    return await eventually(async () => {
      const { entries } = await rewardsOf(reader, mentor);
      seen = entries;
      return entries.length === count ? [...entries].reverse() : undefined;
    }, 20_000);
  } catch {
    throw new Error(`expected ${count} reward entries, saw ${JSON.stringify(seen)}`);
  }
}

/** The ledger, summed in SQL straight from its rows. */
const ledgerSums = (mentor: Person) =>
  harness.pool
    .query<{ status: string; total: string }>('SELECT status, sum(amount) AS total FROM reward_entries WHERE org_id = $1 AND mentor_id = $2 GROUP BY status', [mentor.orgId, mentor.id])
    .then(({ rows }) => ({ pending: 0, confirmed: 0, reversed: 0, ...Object.fromEntries(rows.map((row) => [row.status, Number(row.total)])) }));

const rules = (overrides: Record<string, unknown> = {}) => ({
  unit: 'points',
  perConfirmedRecruit: 100,
  milestoneBonuses: [{ milestone: 2, amount: 50 }],
  campaigns: [
    { campaign: 'spring', from: new Date(Date.now() - HOUR_MS).toISOString(), to: new Date(Date.now() + HOUR_MS).toISOString(), multiplier: 2 },
    { campaign: 'autumn', from: new Date(Date.now() + 24 * HOUR_MS).toISOString(), to: new Date(Date.now() + 48 * HOUR_MS).toISOString(), multiplier: 3 },
  ],
  welcomeReward: { description: 'a free first month' },
  holdingPeriod: 2,
  ...overrides,
});

const setRules = async (admin: Person, body: unknown) => {
  const answer = await call(admin, `/api/v1/orgs/${admin.orgId}/rewards`, 'PUT', body);
  expect(answer.status).toBe(200);
  return answer.body;
};

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
  api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT: 'rewards-test-salt-0123', BURST_CLICKS_PER_MINUTE: 3 },
    taskQueue: harness.taskQueue,
  });
  settler = startRewardSettler({ pool: harness.pool, pollMs: 250 });
});

afterAll(async () => {
  await settler?.stop();
  await api?.close();
  await harness?.close();
});

test('a confirmation is pending for its hold, then confirmed; the same webhook five times makes one entry', async () => {
  const { admin, person } = organisation();
  const maria = person('peer_mentor', 'Maria Mentor');
  await signIn(admin, maria);
  const set = await setRules(admin, rules({ milestoneBonuses: [] }));
  expect(set.version).toBe(1);
  expect(set.rules.holdingPeriod).toBe(2);

  const joined = await recruit(admin, maria, { deliveries: 5 });
  const [entry] = await entriesOnce(maria, maria, 1);
  expect(entry).toMatchObject({ referralId: joined.referralId, rule: 'perConfirmedRecruit', amount: 100, status: 'pending', awaiting: null, rulesVersion: 1 });
  expect(entry.detail).toEqual({ perConfirmedRecruit: 100, multiplier: 1 });
  expect((await rewardsOf(maria, maria)).balance).toEqual({ pending: 100, confirmed: 0, reversed: 0 });

  const confirmed = await eventually(async () => {
    const ledger = await rewardsOf(maria, maria);
    return ledger.entries[0].status === 'confirmed' ? ledger : undefined;
  });
  expect(confirmed.unit).toBe('points');
  expect(confirmed.balance).toEqual({ pending: 0, confirmed: 100, reversed: 0 });
  // Delivered again after the hold: still one entry, still confirmed.
  expect((await registerMember(api.url, WEBHOOK_SECRET, { code: joined.code, newMemberId: joined.newMemberId })).status).toBe(200);
  expect((await rewardsOf(maria, maria)).entries).toHaveLength(1);
  expect(await ledgerSums(maria)).toEqual({ pending: 0, confirmed: 100, reversed: 0 });
});

test('a mentor\'s ledger answers a balance that sums the entries it lists, while they are being confirmed', async () => {
  const { admin, person } = organisation();
  const maria = person('peer_mentor', 'Maria Mentor');
  await signIn(admin, maria);
  // The recruit's own entry is held for an hour too: only this test confirms anything meanwhile.
  await setRules(admin, rules({ milestoneBonuses: [], holdingPeriod: 3600 }));
  const joined = await recruit(admin, maria);
  await entriesOnce(maria, maria, 1);
  // Forty more entries on that referral whose hold lasts an hour, confirmed here one at a time, each by a commit of its own.
  const { rows } = await harness.pool.query<{ id: string }>(
    `INSERT INTO reward_entries (org_id, mentor_id, referral_id, rule, amount, unit, rules_version, status, hold_until)
     SELECT $1, $2, $3, 'test:' || n, 10, 'points', 1, 'pending', now() + interval '1 hour' FROM generate_series(1, 40) n
     RETURNING id`,
    [maria.orgId, maria.id, joined.referralId],
  );
  let confirming = true;
  const confirmAll = async () => {
    for (const { id } of rows) await harness.pool.query("UPDATE reward_entries SET status = 'confirmed', confirmed_at = now() WHERE id = $1", [id]);
    confirming = false;
  };
  const disagreements: unknown[] = [];
  const read = async () => {
    while (confirming) {
      const { balance, entries } = await rewardsOf(maria, maria);
      const summed = { pending: 0, confirmed: 0, reversed: 0 };
      for (const entry of entries) summed[entry.status as keyof typeof summed] += entry.amount;
      if (JSON.stringify(summed) !== JSON.stringify(balance)) disagreements.push({ balance, summed });
    }
  };
  await Promise.all([confirmAll(), read(), read(), read(), read()]);
  expect(disagreements).toEqual([]);
  expect((await rewardsOf(maria, maria)).balance).toEqual(await ledgerSums(maria));
});

test('a campaign multiplies inside its dates only; a milestone bonus comes once; a rule change applies from then on', async () => {
  const { admin, person } = organisation();
  const sam = person('peer_mentor', 'Sam Sharer');
  await signIn(admin, sam);
  await setRules(admin, rules({ holdingPeriod: 3600 }));

  // The mentor's code says "Spring", the rule "spring": one campaign.
  const inSpring = await recruit(admin, sam, { campaign: 'Spring' });
  const inAutumn = await recruit(admin, sam, { campaign: 'autumn' });
  const third = await recruit(admin, sam, { deliveries: 2 });
  const entries = await entriesOnce(sam, sam, 4);
  expect(entries.map(({ referralId, rule, amount, status }) => ({ referralId, rule, amount, status }))).toEqual([
    { referralId: inSpring.referralId, rule: 'perConfirmedRecruit', amount: 200, status: 'pending' },
    { referralId: inAutumn.referralId, rule: 'perConfirmedRecruit', amount: 100, status: 'pending' },
    { referralId: inAutumn.referralId, rule: 'milestoneBonus:2', amount: 50, status: 'pending' },
    { referralId: third.referralId, rule: 'perConfirmedRecruit', amount: 100, status: 'pending' },
  ]);
  expect(entries[0].detail).toMatchObject({ multiplier: 2, campaign: { campaign: 'spring', multiplier: 2 } });
  expect(entries[1].detail).toEqual({ perConfirmedRecruit: 100, multiplier: 1 });
  expect(entries[2].detail).toEqual({ milestone: 2, confirmedCount: 2 });
  // The statement names the campaign that multiplied an amount.
  const statement = await call(sam, `/api/v1/mentors/${sam.id}/rewards?format=csv`);
  expect((statement.body as string).trim().split('\n').slice(1).map((line) => line.split(',').slice(3))).toEqual([
    ['perConfirmedRecruit', '200', 'points', 'pending', '', '', '', '', 'spring', '2'],
    ['perConfirmedRecruit', '100', 'points', 'pending', '', '', '', '', '', ''],
    ['milestoneBonus:2', '50', 'points', 'pending', '', '', '', '', '', ''],
    ['perConfirmedRecruit', '100', 'points', 'pending', '', '', '', '', '', ''],
  ]);

  const changed = await setRules(admin, rules({ perConfirmedRecruit: 300, milestoneBonuses: [], holdingPeriod: 'PT1H' }));
  expect(changed.version).toBe(2);
  expect(changed.rules.holdingPeriod).toBe(3600);
  const fourth = await recruit(admin, sam);
  const after = await entriesOnce(sam, sam, 5);
  expect(after[4]).toMatchObject({ referralId: fourth.referralId, amount: 300, rulesVersion: 2 });
  expect(after.slice(0, 4).map((entry) => entry.rulesVersion)).toEqual([1, 1, 1, 1]);
  const ledger = await rewardsOf(sam, sam);
  expect(ledger.balance).toEqual({ pending: 750, confirmed: 0, reversed: 0 });
  expect(await ledgerSums(sam)).toEqual(ledger.balance);
});

test('a cancellation in the hold reverses the entry; after the hold it writes a correcting entry', async () => {
  const { admin, person } = organisation();
  const early = person('peer_mentor', 'Erin Early');
  const late = person('peer_mentor', 'Lee Late');
  await signIn(admin, early, late);
  await setRules(admin, rules({ milestoneBonuses: [], holdingPeriod: 3 }));

  const quickCancel = await recruit(admin, early);
  await entriesOnce(early, early, 1);
  await cancel(quickCancel);
  const [reversed] = await eventually(async () => {
    const { entries } = await rewardsOf(early, early);
    return entries[0].status === 'reversed' ? entries : undefined;
  });
  expect(reversed).toMatchObject({ amount: 100, reversalReason: 'cancelled' });
  // The hold passes: a reversed entry stays reversed.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  await settler.round();
  expect((await rewardsOf(early, early)).balance).toEqual({ pending: 0, confirmed: 0, reversed: 100 });

  const lateCancel = await recruit(admin, late);
  await eventually(async () => ((await rewardsOf(late, late)).entries[0]?.status === 'confirmed' ? true : undefined));
  await cancel(lateCancel);
  const entries = await entriesOnce(late, late, 2);
  expect(entries.map(({ rule, amount, status, correctsEntryId }) => ({ rule, amount, status, correctsEntryId }))).toEqual([
    { rule: 'perConfirmedRecruit', amount: 100, status: 'confirmed', correctsEntryId: null },
    { rule: 'correction', amount: -100, status: 'confirmed', correctsEntryId: entries[0].id },
  ]);
  // The same cancellation again corrects nothing more.
  await cancel(lateCancel);
  expect((await rewardsOf(late, late)).entries).toHaveLength(2);
  expect((await rewardsOf(late, late)).balance).toEqual({ pending: 0, confirmed: 0, reversed: 0 });
});

test('rewards past the approval line wait for a coordinator; a flagged referral rewards nothing until approved', async () => {
  const { admin, coordinator, person } = organisation();
  const vic = person('peer_mentor', 'Vic Volume');
  await signIn(admin, coordinator, vic);
  await setRules(admin, rules({ milestoneBonuses: [], campaigns: [], holdingPeriod: 1, approvalAbove: 150 }));

  await recruit(admin, vic);
  const second = await recruit(admin, vic);
  const third = await recruit(admin, vic);
  const entries = await entriesOnce(coordinator, vic, 3);
  expect(entries.map((entry) => entry.awaiting)).toEqual([null, 'approval', 'approval']);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await settler.round();
  expect((await rewardsOf(vic, vic)).entries.reverse().map((entry) => entry.status)).toEqual(['confirmed', 'pending', 'pending']);

  const summary = await call(coordinator, `/api/v1/orgs/${admin.orgId}/rewards/summary`);
  expect(summary.status).toBe(200);
  expect(summary.body.awaitingApproval.map((item: { referralId: string; amount: number; mentorName: string; detail: object }) => [item.referralId, item.amount, item.mentorName, item.detail])).toEqual([
    [second.referralId, 100, 'Vic Volume', { perConfirmedRecruit: 100, multiplier: 1 }],
    [third.referralId, 100, 'Vic Volume', { perConfirmedRecruit: 100, multiplier: 1 }],
  ]);
  const [toApprove, toReject] = summary.body.awaitingApproval;
  expect((await call(vic, `/api/v1/reward-entries/${toApprove.entryId}/review`, 'POST', { decision: 'approve' })).status).toBe(403);
  expect((await call(coordinator, `/api/v1/reward-entries/${toApprove.entryId}/review`, 'POST', { decision: 'approve' })).status).toBe(200);
  expect((await call(coordinator, `/api/v1/reward-entries/${toApprove.entryId}/review`, 'POST', { decision: 'reject' })).status).toBe(409);
  expect((await call(coordinator, `/api/v1/reward-entries/${toReject.entryId}/review`, 'POST', { decision: 'reject' })).status).toBe(200);
  expect((await call(coordinator, `/api/v1/reward-entries/${randomUUID()}/review`, 'POST', { decision: 'approve' })).status).toBe(404);
  await settler.round();
  const decided = await rewardsOf(vic, vic);
  expect(decided.balance).toEqual({ pending: 0, confirmed: 200, reversed: 100 });
  expect(decided.entries.find((entry) => entry.referralId === third.referralId)).toMatchObject({ status: 'reversed', reversalReason: 'rejected', awaiting: null });

  // A code clicked in a burst: its fourth click's referral is held for review, and so is its reward.
  const viral = await codeFor(admin, vic);
  const clicks: { referralId: string; referralToken: string }[] = [];
  for (let click = 0; click < 4; click += 1) clicks.push((await call(undefined, '/api/v1/referral-attributions', 'POST', { code: viral, visitorId: randomUUID() })).body);
  const flaggedStatus = (referralId: string) =>
    harness.pool.query<{ status: string }>('SELECT status FROM referrals WHERE id = $1', [referralId]).then(({ rows }) => rows[0]?.status);
  await eventually(async () => ((await flaggedStatus(clicks[3].referralId)) === 'flagged' ? true : undefined));
  const member = randomUUID();
  expect((await reportAccount(api.url, clicks[3], member)).status).toBe(202);
  expect((await registerMember(api.url, WEBHOOK_SECRET, { code: viral, newMemberId: member })).status).toBe(200);
  expect((await rewardsOf(vic, vic)).entries).toHaveLength(3);
  expect((await call(coordinator, `/api/v1/referral-attributions/${clicks[3].referralId}/review`, 'POST', { decision: 'approve' })).status).toBe(202);
  const afterReview = await entriesOnce(vic, vic, 4);
  expect(afterReview[3]).toMatchObject({ referralId: clicks[3].referralId, amount: 100, status: 'pending', awaiting: 'approval' });
});

test('who may read and set rewards, bad rules refused, the statement, and the welcome on the invite page', async () => {
  const { admin, coordinator, person } = organisation();
  const maria = person('peer_mentor', 'Maria Mentor');
  const other = person('peer_mentor', 'Otto Other');
  await signIn(admin, coordinator, maria, other);
  expect((await call(maria, `/api/v1/orgs/${admin.orgId}/rewards`)).body).toEqual({ orgId: admin.orgId, version: null, effectiveFrom: null, rules: null });

  const refused = [
    rules({ unit: 'EURO' }),
    rules({ perConfirmedRecruit: -1 }),
    rules({ perConfirmedRecruit: 1.5 }),
    rules({ holdingPeriod: 'soon' }),
    rules({ milestoneBonuses: [{ milestone: 5, amount: 10 }, { milestone: 5, amount: 20 }] }),
    rules({ campaigns: [{ campaign: 'x', from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z', multiplier: 2 }] }),
    rules({ welcomeReward: { description: 'free\r\nBcc: x@example.org' } }),
    { ...rules(), extra: true },
  ];
  for (const body of refused) {
    const answer = await call(admin, `/api/v1/orgs/${admin.orgId}/rewards`, 'PUT', body);
    expect([answer.status, answer.body.error.code]).toEqual([400, 'invalid_request']);
  }
  expect((await call(coordinator, `/api/v1/orgs/${admin.orgId}/rewards`, 'PUT', rules())).status).toBe(403);
  expect((await call(admin, `/api/v1/orgs/${randomUUID()}/rewards`, 'PUT', rules())).status).toBe(404);
  expect((await call(admin, `/api/v1/orgs/${admin.orgId}/rewards`)).body.rules).toBeNull();
  const cents = await call(admin, `/api/v1/orgs/${admin.orgId}/rewards`, 'PUT', rules({ unit: 'EUR', perConfirmedRecruit: 5.5 }));
  expect(cents.body.error.details).toEqual([
    { path: ['perConfirmedRecruit'], code: 'invalid_type', message: "must be a whole number: points, or the currency's minor units (cents)" },
  ]);

  // A currency in lower case, and a campaign in whole days as an admin writes them: its last day included.
  const january = { campaign: 'winter', from: '2026-01-01', to: '2026-01-31', multiplier: 2 };
  await setRules(admin, rules({ unit: 'eur', perConfirmedRecruit: 500, milestoneBonuses: [], campaigns: [january], holdingPeriod: 3600 }));
  expect((await call(maria, `/api/v1/orgs/${admin.orgId}/rewards`)).body.rules).toEqual({
    unit: 'EUR',
    perConfirmedRecruit: 500,
    milestoneBonuses: [],
    campaigns: [{ ...january, from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' }],
    welcomeReward: { description: 'a free first month' },
    holdingPeriod: 3600,
  });
  const joined = await recruit(admin, maria);
  await entriesOnce(maria, maria, 1);
  const unitChange = await call(admin, `/api/v1/orgs/${admin.orgId}/rewards`, 'PUT', rules({ unit: 'points' }));
  expect([unitChange.status, unitChange.body.error.code]).toEqual([409, 'conflict']);

  expect((await call(other, `/api/v1/mentors/${maria.id}/rewards`)).status).toBe(403);
  expect((await call(other, `/api/v1/orgs/${admin.orgId}/rewards/summary`)).status).toBe(403);
  expect((await call(coordinator, `/api/v1/mentors/${maria.id}/rewards`)).body.balance).toEqual({ pending: 500, confirmed: 0, reversed: 0 });
  expect((await call(admin, `/api/v1/mentors/${randomUUID()}/rewards`)).status).toBe(404);
  expect((await call(maria, `/api/v1/mentors/${maria.id}/rewards?from=2026-13-01`)).status).toBe(400);

  const today = new Date().toISOString().slice(0, 10);
  const statement = await call(maria, `/api/v1/mentors/${maria.id}/rewards?format=csv&from=${today}&to=${today}`);
  expect(statement.status).toBe(200);
  expect(statement.type).toContain('text/csv');
  const lines = (statement.body as string).trim().split('\n');
  expect(lines[0]).toBe('created_at,entry_id,referral_id,rule,amount,unit,status,awaiting,confirmed_at,reversed_at,corrects_entry_id,campaign,multiplier');
  expect(lines).toHaveLength(2);
  expect(lines[1].split(',').slice(2, 8)).toEqual([joined.referralId, 'perConfirmedRecruit', '500', 'EUR', 'pending', '']);
  const earlier = await call(maria, `/api/v1/mentors/${maria.id}/rewards?format=csv&to=2026-01-01`);
  expect((earlier.body as string).trim().split('\n')).toHaveLength(1);

  const summary = await call(admin, `/api/v1/orgs/${admin.orgId}/rewards/summary`);
  expect(summary.body).toMatchObject({ unit: 'EUR', balance: { pending: 500, confirmed: 0, reversed: 0 }, mentors: [{ mentorId: maria.id, name: 'Maria Mentor', pending: 500, confirmed: 0, reversed: 0 }], awaitingApproval: [] });

  const page = await fetch(`${api.url}/r/${await codeFor(admin, maria)}`);
  const html = await page.text();
  expect(page.status).toBe(200);
  expect(html).toContain('<p class="welcome">When you join: a free first month</p>');
});
