import { isDeepStrictEqual } from 'node:util';
import { SignJWT } from 'jose';
import { DEMO_ADMIN, DEMO_ORG } from '../src/domain/demo';
import { fillDemo } from '../src/demo/fill';
import { aggregateRows, recounted } from './support/aggregates';
import { listenApp, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';

// npm run demo's filling, against the real stack: the dashboard it leaves behind shows what was sent.
const JWT_SECRET = 'demo-test-jwt-secret-0123456789abcdef';
const WEBHOOK_SECRET = 'demo-test-webhook-secret';
let harness: Harness;
let api: ListeningApi;
let clock = new Date();

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
  api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT: 'demo-test-hash-salt-0123' },
    taskQueue: harness.taskQueue,
    clock: () => clock,
  });
});

afterAll(async () => {
  await api.close();
  await harness.close();
});

test('the demo fills six weeks of journeys: confirmed ones, accounts held for review, and the figures to match', async () => {
  const now = new Date();
  const summary = await fillDemo({
    apiUrl: api.url,
    setClock: (at) => {
      clock = at;
    },
    jwtSecret: JWT_SECRET,
    webhookSecret: WEBHOOK_SECRET,
    journeys: 60,
    now,
  });
  expect(summary).toMatchObject({ mentors: 6, journeys: 60, heldForReview: 2 });
  expect(summary.confirmations).toBeGreaterThan(0);
  await eventually(async () => {
    const written = await harness.pool.query('SELECT count(*)::int AS n FROM referrals WHERE id = ANY($1::uuid[])', [summary.referralIds]);
    return written.rows[0].n === 60 ? true : undefined;
  });
  const rows = await harness.pool.query<{ clicked_at: Date; status: string }>('SELECT clicked_at, status FROM referrals WHERE org_id = $1', [DEMO_ORG.id]);
  const days = rows.rows.map((row) => (now.getTime() - row.clicked_at.getTime()) / 86_400_000);
  // Spread over the weeks, as the clock said, not all at the moment the demo ran.
  expect(Math.max(...days)).toBeGreaterThan(14);
  expect(Math.min(...days)).toBeGreaterThanOrEqual(0);

  const token = await new SignJWT({ role: 'org_admin', org_id: DEMO_ORG.id, name: DEMO_ADMIN.name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(DEMO_ADMIN.caller.userId)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));
  const from = new Date(now.getTime() - 60 * 86_400_000).toISOString();
  const to = new Date(now.getTime() + 60_000).toISOString();
  const dashboard = await eventually(async () => {
    const response = await fetch(`${api.url}/api/v1/orgs/${DEMO_ORG.id}/recruitment-dashboard?from=${from}&to=${to}&granularity=week`, { headers: { authorization: `Bearer ${token}` } });
    const body = await response.json();
    // Counting lags the requests by the dispatch delay: wait until every journey's last step has landed.
    const landed = body.funnel.clicked === 60 && body.funnel.account_created === summary.accounts && body.funnel.confirmed === summary.confirmations;
    return landed && body.needsReview.length === 2 ? body : undefined;
  });
  expect(dashboard.funnel.clicked).toBe(60);
  expect(dashboard.funnel.account_created).toBe(summary.accounts);
  expect(dashboard.topMentors.map((mentor: { displayName: string }) => mentor.displayName)).toContain('Amina Yusuf');
  expect(dashboard.needsReview.map((item: { mentorName: string; flagReason: string }) => [item.mentorName, item.flagReason])).toEqual([
    ['Ben Carter', 'many_accounts_from_one_device_or_ip'],
    ['Ben Carter', 'many_accounts_from_one_device_or_ip'],
  ]);
  expect(dashboard.channels.map((channel: { channel: string }) => channel.channel).sort()).not.toContain('unknown');
  // Each confirmed recruit earned its reward under the demo's rules, pending for their two weeks' hold.
  const rewards = (await (await fetch(`${api.url}/api/v1/orgs/${DEMO_ORG.id}/rewards/summary`, { headers: { authorization: `Bearer ${token}` } })).json()) as { unit: string; balance: { confirmed: number } };
  const recruitEntries = await harness.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM reward_entries WHERE org_id = $1 AND rule = 'perConfirmedRecruit'", [DEMO_ORG.id]);
  expect(recruitEntries.rows[0].n).toBe(summary.confirmations);
  expect(rewards).toMatchObject({ unit: 'points', balance: { confirmed: 0 } });
  // What the workflows wrote, kept in the daily aggregates by their triggers, is what a recount finds once they have
  // written all of it (a journey's last steps may still be landing between the two reads).
  const readBoth = async () => ({ kept: await aggregateRows(harness.pool, DEMO_ORG.id), counted: await recounted(harness.pool, DEMO_ORG.id) });
  let last = await readBoth();
  await eventually(async () => {
    last = await readBoth();
    return isDeepStrictEqual(last.kept, last.counted) || undefined;
  }, 15_000).catch(() => undefined);
  expect(last.kept).toEqual(last.counted);
});
