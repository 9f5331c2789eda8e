import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { membershipReconciliationWorkflow } from '../src/workflows/reconciliation-workflow';
import { eventually, openHarness, type Harness } from './support/harness';

let harness: Harness;
let membership: Server;
let registrations: unknown[] = [];
const requestedSince: string[] = [];

beforeAll(async () => {
  membership = createServer((req, res) => {
    requestedSince.push(new URL(req.url ?? '/', 'http://x').searchParams.get('since') ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ registrations }));
  });
  await new Promise<void>((resolve) => membership.listen(0, '127.0.0.1', resolve));
  const address = membership.address();
  harness = await openHarness();
  await harness.startWorker({ membershipApiUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api` });
});

afterAll(async () => {
  await harness.close();
  await new Promise((resolve) => membership.close(resolve));
});

const reconcile = () =>
  harness.client.workflow.execute(membershipReconciliationWorkflow, {
    taskQueue: harness.taskQueue,
    workflowId: `reconciliation-${randomUUID()}`,
    args: [{ lookbackHours: 48 }],
  });

test('registrations whose webhook never came are back-filled, once', async () => {
  const org = await harness.seedOrg();
  const missed = randomUUID();
  const alreadyConfirmed = randomUUID();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: randomUUID(), metadata: {} });
  await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [clicked.referralId])).rowCount ? true : undefined));
  await harness.service.confirmRecruitment({ code: org.code, newMemberId: alreadyConfirmed, source: 'webhook' });
  const now = new Date().toISOString();
  registrations = [
    { referralCode: org.code, newMemberId: missed, occurredAt: now },
    { referralCode: org.code, newMemberId: alreadyConfirmed, occurredAt: now },
    { referralCode: 'unknownCode42', newMemberId: randomUUID(), occurredAt: now },
    { referralCode: org.code, newMemberId: 'not-a-uuid', occurredAt: now },
  ];

  expect(await reconcile()).toEqual({ alreadyCounted: 1, backfilled: 1, unknownCode: 1 });
  const confirmed = await harness.pool.query("SELECT new_member_id, is_direct FROM referrals WHERE referral_code_id = $1 AND status = 'confirmed' ORDER BY is_direct", [org.codeId]);
  expect(confirmed.rows).toEqual([
    { new_member_id: alreadyConfirmed, is_direct: false },
    { new_member_id: missed, is_direct: true },
  ]);
  expect(await reconcile()).toEqual({ alreadyCounted: 2, backfilled: 0, unknownCode: 1 });
  expect((await harness.pool.query('SELECT confirmed_count FROM get_attribution_counts($1)', [org.mentorId])).rows[0].confirmed_count).toBe(2);
  const since = Date.parse(requestedSince[0]);
  expect(Date.now() - since).toBeGreaterThanOrEqual(48 * 3600 * 1000);
  expect(Date.now() - since).toBeLessThan(48 * 3600 * 1000 + 60_000);
});
