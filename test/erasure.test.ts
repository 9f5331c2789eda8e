import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { createIntakeStore } from '../src/db/intake';
import { recruitmentDashboard } from '../src/db/reads';
import { createReferralStore } from '../src/db/referrals';
import { ConflictError } from '../src/errors';
import { createAdminService } from '../src/services/admin-service';
import { createIntakeDelivery } from '../src/services/intake-delivery';
import type { Caller } from '../src/domain/access';
import { runsOf, sweptUntilDone, workflowIdOf } from './support/erased-runs';
import { eventually, openHarness, type Harness, type SeededOrg } from './support/harness';

let harness: Harness;

beforeAll(async () => {
  harness = await openHarness();
});

afterAll(async () => {
  await harness.close();
});

/** Runs `work` with a new organisation, its admin (who erases) and a worker on the file's task queue. */
async function withOrgAndWorker(workerOptions: { dispatch?: boolean }, work: (org: SeededOrg, admin: Caller) => Promise<void>) {
  const org = await harness.seedOrg();
  const admin = { userId: randomUUID(), orgId: org.orgId, role: 'org_admin' as const };
  await harness.pool.query("INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'org_admin', 'Test Admin')", [admin.userId, org.orgId]);
  const worker = await harness.startWorker(workerOptions);
  try {
    await work(org, admin);
  } finally {
    await worker.stop();
  }
}

const adminService = () => createAdminService({ pool: harness.pool, referrals: harness.service, hashSalt: 'test-only-hash-salt' });

/** What Postgres holds of a referral: its row's personal data and stage, its clicks' visitor hashes, its timeline. */
async function heldOf(referralId: string) {
  const referral = await harness.pool.query('SELECT visitor_hash, new_member_id, stage FROM referrals WHERE id = $1', [referralId]);
  const clicks = await harness.pool.query('SELECT visitor_hash, ip_hash FROM click_events WHERE referral_id = $1 ORDER BY occurred_at', [referralId]);
  const events = await harness.pool.query('SELECT type FROM referral_events WHERE referral_id = $1 ORDER BY id', [referralId]);
  return { referral: referral.rows, clicks: clicks.rows, events: events.rows.map((row) => row.type) };
}

/** A referral clicked once and erased: its stage and counts stay, nothing names the person. */
const ERASED_AFTER_ONE_CLICK = {
  referral: [{ visitor_hash: null, new_member_id: null, stage: 'clicked' }],
  clicks: [{ visitor_hash: null, ip_hash: null }],
  events: ['click', 'erased'],
};

const clickWritten = (referralId: string) =>
  eventually(async () => ((await harness.pool.query('SELECT 1 FROM click_events WHERE referral_id = $1', [referralId])).rowCount ? true : undefined));

/** Waits until the Postgres backend running a statement like `pattern` waits for a lock. */
const waitingForLock = (pattern: string) =>
  eventually(
    async () =>
      ((await harness.pool.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [pattern])).rowCount ?? 0) > 0 ? true : undefined,
    5000,
    `a statement like ${pattern} waiting for a lock`,
  );

test("a run's write waiting for the referral as it is erased writes none of the person's data back", async () => {
  await withOrgAndWorker({}, async (org, admin) => {
    const referrals = createReferralStore(harness.pool);
    const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'erased-while-writing', metadata: {} });
    await clickWritten(clicked.referralId);
    const stored = (await referrals.load(clicked.referralId))!;
    // What its run writes next, as an account is created: the member, and a click of the same visitor.
    const member = randomUUID();
    const at = new Date().toISOString();
    const snapshot = { ...stored.snapshot, stage: 'account_created' as const, newMemberId: member, accountCreatedAt: at };
    const event = { type: 'account_created', idempotencyKey: `account:${clicked.referralId}`, occurredAt: at, detail: { newMemberId: member } };
    const click = { clickId: randomUUID(), occurredAt: at, ipHash: 'ip-hash-of-the-visitor', userAgent: 'Phone', metadata: {}, duplicate: true, implicit: false };

    // Another transaction holds the referral's row: the erasure queues for it, then the run's write.
    const holder = await harness.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM referrals WHERE id = $1 FOR UPDATE', [clicked.referralId]);
      const erasing = adminService().erase(admin, clicked.referralId);
      await waitingForLock('SELECT org_id, new_member_id FROM referrals WHERE id = $1 FOR UPDATE');
      const writing = referrals.persist(snapshot, event, click);
      await waitingForLock('WITH saved AS%');
      await holder.query('COMMIT');
      await erasing;
      expect(await writing).toEqual({ status: 'pending', stage: 'clicked' });
    } finally {
      holder.release();
    }
    expect(await heldOf(clicked.referralId)).toEqual(ERASED_AFTER_ONE_CLICK);
  });
});

test('a click delivered as its referral is erased starts no run that stays: the sweep deletes it, and nothing is written', async () => {
  await withOrgAndWorker({ dispatch: false }, async (org, admin) => {
    const intake = createIntakeStore(harness.pool);
    const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'erased-while-delivered', metadata: {} });
    await createIntakeDelivery({ temporal: harness.client, intake }).deliverBatch(harness.taskQueue, 100);
    await clickWritten(clicked.referralId);
    const again = await harness.service.recordClick({ code: org.code, visitorId: 'erased-while-delivered', metadata: {} });
    expect(again.referralId).toBe(clicked.referralId);

    // A dispatcher whose signal reaches Temporal only once the erasure is done.
    let release!: () => void;
    const erased = new Promise<void>((resolve) => (release = resolve));
    const held = new Client({
      connection: harness.client.connection,
      namespace: harness.client.options.namespace,
      interceptors: { workflow: [{ signalWithStart: async (input, next) => (await erased, next(input)) }] },
    });
    const delivering = createIntakeDelivery({ temporal: held, intake }).deliverBatch(harness.taskQueue, 100);
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM intake WHERE referral_id = $1 AND leased AND delivered_at IS NULL', [clicked.referralId])).rowCount ? true : undefined));
    await adminService().erase(admin, clicked.referralId);
    release();
    expect(await delivering).toEqual({ delivered: 1, failed: 0, failure: undefined });

    // The run the click started after the erasure had deleted its runs is left to the workers' sweep, which deletes it.
    expect(await runsOf(harness, await workflowIdOf(harness, clicked.referralId))).toEqual(['RUNNING']);
    expect(await sweptUntilDone(harness, clicked.referralId)).toEqual([]);
    expect(await heldOf(clicked.referralId)).toEqual(ERASED_AFTER_ONE_CLICK);
  });
});

test('an erased referral held for review leaves the lists that ask for action, and a review of it is refused', async () => {
  await withOrgAndWorker({}, async (org, admin) => {
    const held = await harness.service.recordClick({ code: org.code, visitorId: 'held-then-erased', metadata: {} });
    const waiting = await harness.service.recordClick({ code: org.code, visitorId: 'held-and-kept', metadata: {} });
    await clickWritten(held.referralId);
    await clickWritten(waiting.referralId);
    // Both held for review, as the risk check holds an account (its figures have their own tests).
    await harness.pool.query("UPDATE referrals SET status = 'flagged', flag_reason = 'many_accounts_from_one_device_or_ip' WHERE id = ANY ($1::uuid[])", [[held.referralId, waiting.referralId]]);
    await adminService().erase(admin, held.referralId);

    const needingReview = async () => {
      const client = await harness.pool.connect();
      try {
        const today = new Date().toISOString().slice(0, 10);
        return (await recruitmentDashboard(client, org.orgId, { from: today, to: today, granularity: 'day' })).needsReview.map((item) => item.referralId);
      } finally {
        client.release();
      }
    };
    expect(await needingReview()).toEqual([waiting.referralId]);
    const review = harness.service.review(held.referralId, { decision: 'approve', reviewerId: admin.userId });
    await expect(review).rejects.toThrow(new ConflictError('the referral was erased: its journey is over'));
    expect((await harness.pool.query('SELECT status FROM referrals WHERE id = $1', [held.referralId])).rows).toEqual([{ status: 'flagged' }]);
  });
});

test('an erasure deletes every run of its referral, the ended ones too', async () => {
  await withOrgAndWorker({}, async (org, admin) => {
    const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'erased-with-two-runs', metadata: {} });
    await clickWritten(clicked.referralId);
    const workflowId = await workflowIdOf(harness, clicked.referralId);
    // Its first run ended (as an operator may end one); a later click started another, which carries on from Postgres.
    await harness.client.workflow.getHandle(workflowId).terminate('ended by the test');
    await harness.service.recordClick({ code: org.code, visitorId: 'erased-with-two-runs', metadata: {} });
    await eventually(async () => ((await runsOf(harness, workflowId)).sort().join() === 'RUNNING,TERMINATED' ? true : undefined), 15_000, 'a second run');

    await adminService().erase(admin, clicked.referralId);
    expect(await sweptUntilDone(harness, clicked.referralId)).toEqual([]);
  });
});
