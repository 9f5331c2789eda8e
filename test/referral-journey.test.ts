import { randomUUID } from 'node:crypto';
import { createActivities, systemClock } from '../src/activities';
import { createBadgeClient } from '../src/activities/badge-client';
import { createReferralStore } from '../src/db/referrals';
import { directReferralKey, nameBasedUuid, referralWorkflowId, saltedHash } from '../src/services/identifiers';
import { createReferralService } from '../src/services/referral-service';
import { stateQuery } from '../src/workflows/messages';
import {
  AttributionStatus,
  MentorId,
  OrgId,
  ReferralCode,
  ReferralStage,
  ReferralStuck,
} from '../src/workflows/search-attributes';
import { eventually, openHarness, startBadgeService, type Harness, type RunningWorker, type SeededOrg } from './support/harness';
import { localActivityTypes, recordHistory } from './support/histories';

let harness: Harness;
let worker: RunningWorker;

beforeAll(async () => {
  harness = await openHarness();
  worker = await harness.startWorker();
});

afterAll(async () => {
  await harness.close();
});

/** Runs `work` with the file's worker swapped for one that talks to a recording badge service. */
async function withBadgeService(statusFor: ((call: number) => number) | undefined, work: (badgeService: Awaited<ReturnType<typeof startBadgeService>>) => Promise<void>) {
  const badgeService = await startBadgeService(statusFor);
  await worker.stop();
  const badgeWorker = await harness.startWorker({ badgeServiceUrl: badgeService.url });
  try {
    await work(badgeService);
  } finally {
    await badgeWorker.stop();
    worker = await harness.startWorker();
    await badgeService.close();
  }
}

async function referralRow(referralId: string) {
  const result = await harness.pool.query('SELECT * FROM referrals WHERE id = $1', [referralId]);
  return result.rows[0];
}

async function eventTypes(referralId: string): Promise<string[]> {
  const result = await harness.pool.query('SELECT type FROM referral_events WHERE referral_id = $1 ORDER BY id', [referralId]);
  return result.rows.map((row) => row.type);
}

async function counts(mentorId: string) {
  const result = await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [mentorId]);
  return result.rows[0];
}

/** Waits until the referral's row satisfies `ready`, then returns it. */
function rowWhen(referralId: string, ready: (row: Record<string, unknown>) => boolean, what: string) {
  return eventually(async () => {
    const row = await referralRow(referralId);
    return row && ready(row) ? row : undefined;
  }, 30_000, what);
}

async function workflowOf(referralId: string) {
  const row = await referralRow(referralId);
  return harness.client.workflow.getHandle(row.workflow_id);
}

const recordJourney = async (name: string, referralId: string) => recordHistory(name, await workflowOf(referralId));

function click(org: SeededOrg, visitorId: string) {
  return harness.service.recordClick({ code: org.code, visitorId, metadata: { shareChannel: 'whatsapp' } });
}

function step(clicked: { referralId: string; referralCodeId: string; visitorHash: string }, type: 'installed' | 'account_created' | 'first_login', extra: { idempotencyKey?: string; newMemberId?: string; occurredAt?: string } = {}) {
  return harness.service.recordFunnelStep(clicked, { type, idempotencyKey: extra.idempotencyKey ?? `${type}-${randomUUID()}`, newMemberId: extra.newMemberId, occurredAt: extra.occurredAt });
}

test('a click becomes one referral whose id follows from the code and the visitor', async () => {
  const org = await harness.seedOrg();
  const clicked = await click(org, 'install-1');
  const visitorHash = saltedHash('test-only-hash-salt', 'install-1');
  expect(clicked.visitorHash).toBe(visitorHash);
  expect(clicked.referralId).toBe(nameBasedUuid(referralWorkflowId(org.codeId, visitorHash)));
  const row = await rowWhen(clicked.referralId, () => true, 'referral row');
  expect(row).toMatchObject({ stage: 'clicked', status: 'pending', mentor_id: org.mentorId, org_id: org.orgId, is_direct: false });
});

test("a waiting referral's stack trace, as the Temporal UI shows operators, names where it waits in two frames", async () => {
  const org = await harness.seedOrg();
  const clicked = await click(org, 'stack-trace-1');
  const { workflow_id: workflowId } = await rowWhen(clicked.referralId, () => true, 'referral row');
  const stacks = (await harness.client.workflow.getHandle(workflowId).query<string>('__stack_trace')).split('\n\n');
  // The SDK's promise hook keeps a stack per promise waited on; the sandbox holds each to two frames of the workflow.
  expect(stacks.map((stack) => stack.split('\n').filter((line) => line.startsWith('    at ')).length <= 2)).toEqual(stacks.map(() => true));
  expect(stacks.at(-1)).toMatch(/^ {4}at changed \(.*\/src\/workflows\/referral-workflow\.ts:\d+:\d+\)$/);
});

test('the happy path ends confirmed, with its rows, search attributes and one badge, claimed with the confirmation', async () => {
  await withBadgeService(undefined, async (badgeService) => {
    const org = await harness.seedOrg();
    const member = randomUUID();
    const clicked = await click(org, 'happy-visitor');
    await step(clicked, 'installed');
    await step(clicked, 'account_created', { newMemberId: member });
    await rowWhen(clicked.referralId, (row) => row.stage === 'account_created', 'account created');
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({
      referralId: clicked.referralId,
      mentorId: org.mentorId,
      orgId: org.orgId,
      newMemberId: member,
      status: 'confirmed',
      direct: false,
    });
    await step(clicked, 'first_login');
    const handle = await workflowOf(clicked.referralId);
    await handle.result();

    const row = await referralRow(clicked.referralId);
    expect(row).toMatchObject({ stage: 'first_login', status: 'confirmed', new_member_id: member, implied_steps: [], stuck: false });
    expect(await eventTypes(clicked.referralId)).toEqual(['click', 'installed', 'account_created', 'confirmed', 'first_login']);
    expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });

    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(ReferralStage)).toBe('first_login');
    expect(description.typedSearchAttributes.get(AttributionStatus)).toBe('confirmed');
    expect(description.typedSearchAttributes.get(ReferralStuck)).toBe(false);
    expect(description.typedSearchAttributes.get(MentorId)).toBe(org.mentorId);
    expect(description.typedSearchAttributes.get(OrgId)).toBe(org.orgId);
    expect(description.typedSearchAttributes.get(ReferralCode)).toBe(org.code);

    expect(badgeService.calls).toHaveLength(1);
    expect(badgeService.calls[0].body).toEqual({
      mentorId: org.mentorId,
      orgId: org.orgId,
      milestone: 1,
      confirmedCount: 1,
      awardedAt: expect.any(String),
    });
    const awards = await harness.pool.query('SELECT id, milestone, delivered_at FROM badge_awards WHERE mentor_id = $1', [org.mentorId]);
    expect(awards.rows).toHaveLength(1);
    expect(badgeService.calls[0].headers['idempotency-key']).toBe(awards.rows[0].id);
    expect(awards.rows[0].delivered_at).not.toBeNull();
    // The confirmation's local activity claimed the award: the run asked Postgres nothing more before delivering it.
    expect(localActivityTypes((await handle.fetchHistory()).events ?? [])).toEqual([
      'persistReferral',
      'persistReferral',
      'assessAccountRisk',
      'persistReferral',
      'confirmAttribution',
      'persistReferral',
    ]);
    await recordJourney('happy-path', clicked.referralId);
  });
});

test('a second click by the same visitor within the dedupe window is stored, flagged and not counted', async () => {
  const org = await harness.seedOrg({ dedupeWindowSeconds: 3600 });
  const first = await click(org, 'dup-visitor');
  const second = await click(org, 'dup-visitor');
  expect(second.referralId).toBe(first.referralId);
  const clicks = await eventually(async () => {
    const result = await harness.pool.query(
      'SELECT is_duplicate FROM click_events WHERE referral_id = $1 ORDER BY occurred_at',
      [first.referralId],
    );
    return result.rows.length === 2 ? result.rows : undefined;
  }, 30_000, 'two click rows');
  expect(clicks.map((row) => row.is_duplicate)).toEqual([false, true]);
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
  expect(await eventTypes(first.referralId)).toEqual(['click', 'duplicate_click']);
  await recordJourney('duplicate-click', first.referralId);
});

test('out-of-order steps advance and imply the steps skipped until those are reported; repeats change nothing', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await click(org, 'ooo-visitor');
  await rowWhen(clicked.referralId, () => true, 'referral row');
  const installedAt = new Date(Date.now() - 60_000).toISOString();
  await step(clicked, 'account_created', { idempotencyKey: 'acct-1', newMemberId: member });
  await step(clicked, 'account_created', { idempotencyKey: 'acct-1', newMemberId: member });
  const implied = await rowWhen(clicked.referralId, (row) => row.stage === 'account_created', 'account created');
  expect(implied).toMatchObject({ implied_steps: ['installed'], new_member_id: member });
  expect(implied.installed_at).toEqual(implied.account_created_at);
  await step(clicked, 'installed', { idempotencyKey: 'inst-late', occurredAt: installedAt });
  await step(clicked, 'account_created', { idempotencyKey: 'acct-2' });
  const handle = await workflowOf(clicked.referralId);
  const view = await eventually(async () => {
    const state = await handle.query(stateQuery);
    return state.timeline.length >= 2 ? state : undefined;
  }, 30_000, 'steps handled');
  // Let the later, ignored messages be processed before reading the row.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const row = await referralRow(clicked.referralId);
  // The install reported late records its own time: the journey is the same as had the steps come in order.
  expect(row).toMatchObject({ stage: 'account_created', implied_steps: [], new_member_id: member, status: 'pending', installed_at: new Date(installedAt), account_created_at: implied.account_created_at });
  expect(await eventTypes(clicked.referralId)).toEqual(['click', 'account_created', 'installed']);
  expect(view.referral.stage).toBe('account_created');
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 1, confirmed_count: 0 });
  await recordJourney('out-of-order-steps', clicked.referralId);
});

test('a confirmation before any step confirms and implies the skipped steps', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await click(org, 'early-confirm');
  await rowWhen(clicked.referralId, () => true, 'referral row');
  const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'app' });
  expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', newMemberId: member });
  const row = await referralRow(clicked.referralId);
  expect(row).toMatchObject({ stage: 'account_created', implied_steps: ['installed', 'account_created'], status: 'confirmed' });
});

test('a registration with no tracked click becomes a direct referral with an implicit click', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
  expect(record).toMatchObject({ status: 'confirmed', direct: true, mentorId: org.mentorId, newMemberId: member });
  const clicks = await harness.pool.query('SELECT is_implicit, is_duplicate FROM click_events WHERE referral_id = $1', [record.referralId]);
  expect(clicks.rows).toEqual([{ is_implicit: true, is_duplicate: false }]);
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  expect(await eventTypes(record.referralId)).toEqual(['direct_registration', 'confirmed']);
  const { workflow_id: workflowId } = await referralRow(record.referralId);
  expect(workflowId).toBe(`referral-${org.codeId}-${directReferralKey('test-only-hash-salt', member)}`);
  expect(workflowId).not.toContain(member);
  await recordJourney('direct-referral', record.referralId);
});

test('one visitor on two mentors\' links: the confirmed referral wins and the other is superseded', async () => {
  const orgA = await harness.seedOrg();
  const orgB = await harness.addCode(orgA);
  const member = randomUUID();
  const viaA = await click(orgA, 'two-mentors');
  const viaB = await click(orgB, 'two-mentors');
  await rowWhen(viaA.referralId, () => true, 'first referral');
  await rowWhen(viaB.referralId, () => true, 'second referral');
  const record = await harness.service.confirmRecruitment({ code: orgB.code, newMemberId: member, source: 'webhook' });
  expect(record).toMatchObject({ referralId: viaB.referralId, mentorId: orgB.mentorId, status: 'confirmed' });
  await (await workflowOf(viaA.referralId)).result();
  expect((await referralRow(viaA.referralId)).status).toBe('superseded');
  expect(await counts(orgA.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
  expect(await counts(orgB.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  // The same member confirmed again through the first mentor's code keeps the first attribution.
  const again = await harness.service.confirmRecruitment({ code: orgA.code, newMemberId: member, source: 'webhook' });
  expect(again).toEqual(record);
});

test('no account in the attribution window expires the referral; a late confirmation still counts', async () => {
  const org = await harness.seedOrg({ attributionWindowSeconds: 2 });
  const clicked = await click(org, 'late-visitor');
  const handle = await eventually(async () => ((await referralRow(clicked.referralId)) ? workflowOf(clicked.referralId) : undefined));
  const ended = await handle.result();
  expect(ended.status).toBe('expired');
  expect((await referralRow(clicked.referralId)).status).toBe('expired');
  await recordJourney('expired', clicked.referralId);

  const member = randomUUID();
  const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
  expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', newMemberId: member });
  expect(await eventTypes(clicked.referralId)).toEqual(['click', 'expired', 'late_confirmation']);
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
});

test('an account taken as the attribution window ends is not expired or overdue by that window', async () => {
  const org = await harness.seedOrg({ attributionWindowSeconds: 3 });
  const clicked = await click(org, 'account-at-the-window-end');
  const { clicked_at: clickedAt } = await rowWhen(clicked.referralId, () => true, 'referral row');
  const handle = await workflowOf(clicked.referralId);
  // Holding the referral's row as a write holds it keeps the account's write waiting while the window's timer fires behind it.
  const holder = await harness.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM referrals WHERE id = $1 FOR NO KEY UPDATE', [clicked.referralId]);
    await step(clicked, 'account_created', { newMemberId: randomUUID() });
    await eventually(async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      return events.some((event) => event.timerFiredEventAttributes) ? true : undefined;
    }, 30_000, 'the window timer fired');
  } finally {
    await holder.query('COMMIT');
    holder.release();
  }
  expect(Date.now()).toBeGreaterThan(new Date(clickedAt as Date).getTime() + 3_000);
  // The run has settled once a task completed after the timer fired and no other is open.
  await eventually(async () => {
    const events = (await handle.fetchHistory()).events ?? [];
    const afterFired = events.slice(events.findIndex((event) => event.timerFiredEventAttributes));
    const last = events[events.length - 1];
    const taskOpen = last.workflowTaskScheduledEventAttributes || last.workflowTaskStartedEventAttributes;
    return afterFired.some((event) => event.workflowTaskCompletedEventAttributes) && !taskOpen ? true : undefined;
  }, 30_000, 'the run settled');
  await recordJourney('account-at-window-end', clicked.referralId);
  expect(await referralRow(clicked.referralId)).toMatchObject({ stage: 'account_created', status: 'pending', stuck: false });
  expect(await eventTypes(clicked.referralId)).toEqual(['click', 'account_created']);
});

test('member.cancelled reverses the attribution and it stops counting', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await click(org, 'cancel-visitor');
  await rowWhen(clicked.referralId, () => true, 'referral row');
  await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  expect(await harness.service.cancelMembership({ code: org.code, newMemberId: member })).toBe(1);
  await rowWhen(clicked.referralId, (row) => row.status === 'reversed', 'reversed');
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
  expect(await eventTypes(clicked.referralId)).toEqual(['click', 'confirmed', 'reversed']);
});

test('a mentor confirming their own link is rejected', async () => {
  const org = await harness.seedOrg();
  const clicked = await click(org, 'self-visitor');
  await rowWhen(clicked.referralId, () => true, 'referral row');
  const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: org.mentorId, source: 'app' });
  expect(record).toMatchObject({ referralId: clicked.referralId, status: 'rejected' });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
  expect(await harness.pool.query('SELECT 1 FROM badge_awards WHERE mentor_id = $1', [org.mentorId])).toMatchObject({ rowCount: 0 });
});

test('an account not confirmed within the confirmation window is marked stuck for operators', async () => {
  const org = await harness.seedOrg({ confirmationWindowSeconds: 2 });
  const clicked = await click(org, 'stuck-visitor');
  await step(clicked, 'account_created', { newMemberId: randomUUID() });
  await rowWhen(clicked.referralId, (row) => row.stuck === true, 'stuck mark');
  const query = `ReferralStuck=true AND OrgId="${org.orgId}"`;
  const listed = await eventually(async () => {
    const ids: string[] = [];
    for await (const execution of harness.client.workflow.list({ query })) ids.push(execution.workflowId);
    return ids.length > 0 ? ids : undefined;
  }, 30_000, 'visibility of the stuck referral');
  expect(listed).toEqual([(await referralRow(clicked.referralId)).workflow_id]);
  expect(await eventTypes(clicked.referralId)).toEqual(['click', 'account_created', 'confirmation_overdue']);
});

test('the same confirmation delivered five times at once gives one attribution, one award, one badge call', async () => {
  await withBadgeService(undefined, async (badgeService) => {
    const org = await harness.seedOrg();
    const member = randomUUID();
    const clicked = await click(org, 'five-times');
    await rowWhen(clicked.referralId, () => true, 'referral row');
    const records = await Promise.all(
      Array.from({ length: 5 }, () => harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' })),
    );
    for (const record of records) expect(record).toEqual(records[0]);
    expect(records[0]).toMatchObject({ referralId: clicked.referralId, status: 'confirmed' });
    await eventually(async () => (badgeService.calls.length > 0 ? true : undefined), 30_000, 'badge call');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(badgeService.calls).toHaveLength(1);
    const confirmed = await harness.pool.query("SELECT id FROM referrals WHERE new_member_id = $1 AND status = 'confirmed'", [member]);
    expect(confirmed.rowCount).toBe(1);
    const awards = await harness.pool.query('SELECT milestone FROM badge_awards WHERE mentor_id = $1', [org.mentorId]);
    expect(awards.rows).toEqual([{ milestone: 1 }]);
  });
});

/**
 * A referral service whose look-ups of an existing attribution answer only once `overtaken` resolves, as if
 * another delivery confirmed the member between a delivery's look-up and what it does next.
 */
function serviceOvertakenBy(overtaken: Promise<unknown>) {
  const slowPool = Object.create(harness.pool) as typeof harness.pool;
  slowPool.query = (async (...args: Parameters<typeof harness.pool.query>) => {
    const result = await (harness.pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
    const [statement] = args;
    const text = typeof statement === 'string' ? statement : (statement as { text: string }).text;
    if (text.includes("r.status = 'confirmed'")) await overtaken;
    return result;
  }) as typeof harness.pool.query;
  return createReferralService({ pool: slowPool, temporal: harness.client, hashSalt: 'test-only-hash-salt', taskQueue: harness.taskQueue });
}

test('deliveries that found no attribution, overtaken by one that confirms the referral, answer that attribution', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await click(org, 'overtaken');
  await rowWhen(clicked.referralId, () => true, 'referral row');
  let confirmedMeanwhile!: () => void;
  const late = serviceOvertakenBy(new Promise<void>((resolve) => (confirmedMeanwhile = resolve)));
  const request = { code: org.code, newMemberId: member, source: 'webhook' as const };
  const lateDeliveries = [late.confirmRecruitment(request), late.confirmRecruitment(request)];
  await new Promise((resolve) => setTimeout(resolve, 200));
  const first = await harness.service.confirmRecruitment(request);
  confirmedMeanwhile();
  expect(first).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', newMemberId: member });
  expect(await Promise.all(lateDeliveries)).toEqual([first, first]);
  // Neither late delivery made a direct referral of its own.
  const referrals = await harness.pool.query('SELECT id, status FROM referrals WHERE org_id = $1', [org.orgId]);
  expect(referrals.rows).toEqual([{ id: clicked.referralId, status: 'confirmed' }]);
});

test('deliveries on a code nobody clicked, overtaken by the member confirmed through another code, answer that attribution', async () => {
  const org = await harness.seedOrg();
  const otherCode = await harness.addCode(org);
  const member = randomUUID();
  let confirmedMeanwhile!: () => void;
  const late = serviceOvertakenBy(new Promise<void>((resolve) => (confirmedMeanwhile = resolve)));
  const request = { code: org.code, newMemberId: member, source: 'webhook' as const };
  const lateDeliveries = [late.confirmRecruitment(request), late.confirmRecruitment(request)];
  await new Promise((resolve) => setTimeout(resolve, 200));
  const elsewhere = await harness.service.confirmRecruitment({ ...request, code: otherCode.code });
  confirmedMeanwhile();
  expect(elsewhere).toMatchObject({ referralCodeId: otherCode.codeId, status: 'confirmed', direct: true });
  // The first late delivery's direct referral is superseded by it; the second finds that one superseded.
  expect(await Promise.all(lateDeliveries)).toEqual([elsewhere, elsewhere]);
  const confirmed = await harness.pool.query("SELECT id FROM referrals WHERE new_member_id = $1 AND status = 'confirmed'", [member]);
  expect(confirmed.rows).toEqual([{ id: elsewhere.referralId }]);
});

test('a run that finds its referral already confirmed delivers the badge an earlier attempt claimed and never sent', async () => {
  await withBadgeService(undefined, async (badgeService) => {
    const org = await harness.seedOrg();
    const clicked = await click(org, 'claimed-then-killed');
    await rowWhen(clicked.referralId, () => true, 'referral row');
    await harness.service.confirmRecruitment({ code: org.code, newMemberId: randomUUID(), source: 'webhook' });
    await eventually(async () => (badgeService.calls.length === 1 ? true : undefined), 30_000, 'the first badge');
    // What a worker killed right after claiming a badge leaves: the claim, undelivered, and no run that remembers it.
    await harness.client.workflow.getHandle((await referralRow(clicked.referralId)).workflow_id).terminate('worker killed mid-task');
    await harness.pool.query(
      `INSERT INTO badge_awards (id, mentor_id, org_id, badge_key, milestone, confirmed_count, awarded_at, claimed_by, claimed_at)
       VALUES ($1, $2, $3, 'recruits-5', 5, 5, now(), $4, now())`,
      [randomUUID(), org.mentorId, org.orgId, clicked.referralId],
    );
    // The next message starts a new run, which carries on from Postgres.
    await click(org, 'claimed-then-killed');
    await eventually(async () => (badgeService.calls.length === 2 ? true : undefined), 30_000, 'the claimed badge');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(badgeService.calls.map((call) => call.body.milestone)).toEqual([1, 5]);
  });
});

test('a run behind Postgres (its confirmation written by an attempt its history lost) carries on confirmed, with its badge', async () => {
  await withBadgeService(undefined, async (badgeService) => {
    const org = await harness.seedOrg();
    const member = randomUUID();
    const clicked = await click(org, 'history-behind');
    await rowWhen(clicked.referralId, () => true, 'referral row');
    // What the Postgres drill left: an attempt of this workflow's task confirmed the referral in Postgres, and
    // the task was lost with Temporal's store, so the history still holds the referral as clicked.
    const stored = (await createReferralStore(harness.pool).load(clicked.referralId))!.snapshot;
    const at = new Date().toISOString();
    await createActivities({ pool: harness.pool, clock: systemClock, badgeClient: createBadgeClient(undefined, 1000) }).confirmAttribution({
      snapshot: { ...stored, stage: 'account_created', newMemberId: member, accountCreatedAt: at, status: 'confirmed', confirmedAt: at },
      event: { type: 'confirmed', idempotencyKey: `confirmed:${clicked.referralId}:${member}`, occurredAt: at },
    });
    // The replayed history then records the account again, which would write the referral back to pending.
    await step(clicked, 'account_created', { newMemberId: member });
    const handle = await workflowOf(clicked.referralId);
    const view = await eventually(async () => {
      const state = await handle.query(stateQuery);
      return state.referral.status === 'confirmed' ? state : undefined;
    }, 30_000, 'the run carrying on confirmed');
    expect(view.referral).toMatchObject({ status: 'confirmed', newMemberId: member, confirmedAt: at });
    expect(await referralRow(clicked.referralId)).toMatchObject({ status: 'confirmed', new_member_id: member });
    expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
    await eventually(async () => (badgeService.calls.length > 0 ? true : undefined), 30_000, 'the badge');
    expect(badgeService.calls.map((call) => call.body.milestone)).toEqual([1]);
    await recordJourney('history-behind', clicked.referralId);
  });
});

/**
 * What a lost attempt leaves on a referral held for review: its confirmation held in Postgres (the account implied,
 * the member linked) while the history, which never accepted that update, holds the referral as clicked.
 */
async function heldConfirmationTheHistoryLost(visitorId: string) {
  const org = await harness.seedOrg();
  const member = randomUUID();
  // Every click is a burst here, so the referral is held for review from its first click.
  const flaggingService = createReferralService({ pool: harness.pool, temporal: harness.client, hashSalt: 'test-only-hash-salt', taskQueue: harness.taskQueue, burstClicksPerMinute: 0 });
  const clicked = await flaggingService.recordClick({ code: org.code, visitorId, metadata: {} });
  await rowWhen(clicked.referralId, (row) => row.status === 'flagged', 'the referral held for review');
  const stored = (await createReferralStore(harness.pool).load(clicked.referralId))!.snapshot;
  const at = new Date().toISOString();
  await createActivities({ pool: harness.pool, clock: systemClock, badgeClient: createBadgeClient(undefined, 1000) }).persistReferral({
    snapshot: { ...stored, stage: 'account_created', impliedSteps: ['installed', 'account_created'], newMemberId: member, installedAt: at, accountCreatedAt: at, confirmedAt: at },
    event: { type: 'confirmation_held_for_review', idempotencyKey: `held:${clicked.referralId}:${member}`, occurredAt: at },
  });
  return { org, member, clicked, at };
}

test('a run behind Postgres in stage alone (a confirmation held for review that its history lost) keeps the held confirmation', async () => {
  const { org, member, clicked, at } = await heldConfirmationTheHistoryLost('held-behind');
  // The run then records the app's install, which would write the referral back to installed without its member.
  await step(clicked, 'installed');
  const handle = await workflowOf(clicked.referralId);
  const view = await eventually(async () => {
    const state = await handle.query(stateQuery);
    return state.referral.stage === 'account_created' ? state : undefined;
  }, 30_000, 'the run carrying on from the held confirmation');
  expect(view.referral).toMatchObject({ status: 'flagged', stage: 'account_created', newMemberId: member, confirmedAt: at });
  expect(await referralRow(clicked.referralId)).toMatchObject({ status: 'flagged', stage: 'account_created', new_member_id: member, confirmed_at: new Date(at) });
  await harness.service.review(clicked.referralId, { decision: 'approve', reviewerId: randomUUID() });
  await rowWhen(clicked.referralId, (row) => row.status === 'confirmed', 'the approved confirmation');
  expect(await referralRow(clicked.referralId)).toMatchObject({ status: 'confirmed', stage: 'account_created', new_member_id: member });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  await recordJourney('stage-behind', clicked.referralId);
});

test('an approval reaching a run that never saw the held confirmation confirms it', async () => {
  const { org, member, clicked } = await heldConfirmationTheHistoryLost('held-then-approved');
  await harness.service.review(clicked.referralId, { decision: 'approve', reviewerId: randomUUID() });
  const row = await rowWhen(clicked.referralId, (candidate) => candidate.status !== 'flagged', 'the review decided');
  expect(row).toMatchObject({ status: 'confirmed', stage: 'account_created', new_member_id: member });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  expect(await eventTypes(clicked.referralId)).toEqual(['flagged', 'confirmation_held_for_review', 'review_approved']);
  await recordJourney('approved-behind', clicked.referralId);
});

test('a click held for review and approved before any account waits for the account, and counts when confirmed', async () => {
  const org = await harness.seedOrg();
  const flaggingService = createReferralService({ pool: harness.pool, temporal: harness.client, hashSalt: 'test-only-hash-salt', taskQueue: harness.taskQueue, burstClicksPerMinute: 0 });
  const clicked = await flaggingService.recordClick({ code: org.code, visitorId: 'approved-before-account', metadata: {} });
  await rowWhen(clicked.referralId, (row) => row.status === 'flagged', 'the referral held for review');
  await harness.service.review(clicked.referralId, { decision: 'approve', reviewerId: randomUUID() });
  await rowWhen(clicked.referralId, (row) => row.status !== 'flagged', 'the review decided');
  // A query is answered after the workflow task that took the approval: everything that approval led to is done.
  const handle = await workflowOf(clicked.referralId);
  expect((await handle.query(stateQuery)).referral).toMatchObject({ status: 'pending', stage: 'clicked', stuck: false, endedAt: null });
  expect(await eventTypes(clicked.referralId)).toEqual(['flagged', 'review_approved']);

  const member = randomUUID();
  await step(clicked, 'account_created', { newMemberId: member });
  await rowWhen(clicked.referralId, (row) => row.stage === 'account_created', 'the account');
  expect((await handle.query(stateQuery)).referral).toMatchObject({ status: 'pending', stage: 'account_created', stuck: false });
  await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
  expect(await referralRow(clicked.referralId)).toMatchObject({ status: 'confirmed', stuck: false });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
  expect(await eventTypes(clicked.referralId)).toEqual(['flagged', 'review_approved', 'account_created', 'confirmed']);
  await recordJourney('approved-before-account', clicked.referralId);
});

test('a confirmation for another member, sent by id to a run that never saw the held confirmation, is refused', async () => {
  const { member, clicked } = await heldConfirmationTheHistoryLost('held-then-other-member');
  const otherMember = randomUUID();
  await expect(harness.service.confirmKnownReferral(clicked.referralId, { newMemberId: otherMember, source: 'webhook' })).rejects.toMatchObject({
    status: 409,
    message: `referral ${clicked.referralId} is linked to another member`,
  });
  expect(await referralRow(clicked.referralId)).toMatchObject({ status: 'flagged', new_member_id: member });
});

test('a cancelled membership reaching a run that never saw its held confirmation reverses it', async () => {
  const { org, member, clicked } = await heldConfirmationTheHistoryLost('held-then-cancelled');
  expect(await harness.service.cancelMembership({ code: org.code, newMemberId: member })).toBe(1);
  const row = await rowWhen(clicked.referralId, (candidate) => candidate.status !== 'flagged', 'the cancellation');
  expect(row).toMatchObject({ status: 'reversed', new_member_id: member });
  expect(await counts(org.mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
  await recordJourney('cancelled-behind', clicked.referralId);
});

test('a badge service failing for a while still gets the award, delivered once', async () => {
  await withBadgeService((call) => (call <= 3 ? 503 : 200), async (badgeService) => {
    const org = await harness.seedOrg();
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: randomUUID(), source: 'webhook' });
    expect(record.status).toBe('confirmed');
    await eventually(async () => {
      const award = await harness.pool.query('SELECT delivered_at FROM badge_awards WHERE mentor_id = $1', [org.mentorId]);
      return award.rows[0]?.delivered_at ? true : undefined;
    }, 60_000, 'award delivered');
    expect(badgeService.calls.map((call) => call.answered)).toEqual([503, 503, 503, 200]);
    const keys = new Set(badgeService.calls.map((call) => call.headers['idempotency-key']));
    expect(keys.size).toBe(1);
  });
});

test('a journey survives its worker stopping in the middle and finishes when a worker returns', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await click(org, 'restart-visitor');
  await step(clicked, 'installed');
  await rowWhen(clicked.referralId, (row) => row.stage === 'installed', 'installed');
  await worker.stop();
  // Sent while no worker runs: Temporal keeps them until one comes back.
  await step(clicked, 'account_created', { newMemberId: member });
  await step(clicked, 'first_login');
  expect((await referralRow(clicked.referralId)).stage).toBe('installed');
  worker = await harness.startWorker();
  const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
  expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed' });
  const ended = await (await workflowOf(clicked.referralId)).result();
  expect(ended).toMatchObject({ status: 'confirmed', newMemberId: member });
  expect((await referralRow(clicked.referralId)).stage).toBe('first_login');
});
