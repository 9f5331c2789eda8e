import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { createActivities, systemClock } from '../src/activities';
import { createBadgeClient } from '../src/activities/badge-client';
import { createReferralStore } from '../src/db/referrals';
import type { ReferralSnapshot } from '../src/domain/referral';
import { openHarness, type Harness, type SeededOrg } from './support/harness';

// The confirmation's rules under concurrency, against Postgres alone: confirmations of one member reach the
// activity at the same moment when two mentors' referrals are confirmed by two deliveries.
let harness: Harness;
let activities: ReturnType<typeof createActivities>;

beforeAll(async () => {
  harness = await openHarness();
  activities = createActivities({ pool: harness.pool, clock: systemClock, badgeClient: createBadgeClient(undefined, 1000) });
});

afterAll(async () => {
  await harness.close();
});

/** A referral on `code` stored as its workflow's first save left it, with the member's account when given. */
async function storedReferral(code: SeededOrg, visitorHash: string, newMemberId: string | null): Promise<ReferralSnapshot> {
  const at = new Date().toISOString();
  const referralId = randomUUID();
  const snapshot: ReferralSnapshot = {
    referralId,
    workflowId: `referral-${referralId}`,
    orgId: code.orgId,
    mentorId: code.mentorId,
    referralCodeId: code.codeId,
    code: code.code,
    visitorHash,
    direct: false,
    stage: newMemberId ? 'account_created' : 'clicked',
    impliedSteps: [],
    status: 'pending',
    stuck: false,
    newMemberId,
    clickedAt: at,
    lastClickAt: at,
    installedAt: null,
    accountCreatedAt: newMemberId ? at : null,
    firstLoginAt: null,
    confirmedAt: null,
    endedAt: null,
  };
  await activities.persistReferral({ snapshot, event: { type: 'clicked', idempotencyKey: `clicked:${referralId}`, occurredAt: at } });
  return snapshot;
}

/** What the referral's workflow hands the activity to confirm it for the member. */
function confirmation(snapshot: ReferralSnapshot, newMemberId: string) {
  const occurredAt = new Date().toISOString();
  return {
    snapshot: { ...snapshot, newMemberId, status: 'confirmed' as const, confirmedAt: occurredAt },
    event: { type: 'confirmed', idempotencyKey: `confirmed:${snapshot.referralId}:${newMemberId}`, occurredAt },
  };
}

const confirm = (snapshot: ReferralSnapshot, newMemberId: string) => activities.confirmAttribution(confirmation(snapshot, newMemberId));

async function statuses(org: { orgId: string }): Promise<Record<string, string>> {
  const result = await harness.pool.query('SELECT id, status FROM referrals WHERE org_id = $1', [org.orgId]);
  return Object.fromEntries(result.rows.map((row) => [row.id, row.status]));
}

async function confirmedCounts(...mentors: SeededOrg[]): Promise<number[]> {
  return Promise.all(
    mentors.map(async (mentor) => (await harness.pool.query('SELECT confirmed_count FROM get_attribution_counts($1)', [mentor.mentorId])).rows[0].confirmed_count),
  );
}

async function eventKeys(referralId: string): Promise<string[]> {
  const result = await harness.pool.query('SELECT idempotency_key FROM referral_events WHERE referral_id = $1 ORDER BY id', [referralId]);
  return result.rows.map((row) => row.idempotency_key);
}

describe.each([
  ['whose accounts were not yet recorded', false],
  ['both recorded as the member\'s accounts', true],
])('two mentors\' referrals of one member, %s, confirmed at the same moment', (_, accountsRecorded) => {
  test('give one attribution; the other referral is superseded by it and answers it', async () => {
    for (let round = 0; round < 8; round += 1) {
      const mentorA = await harness.seedOrg();
      const mentorB = await harness.addCode(mentorA);
      const member = randomUUID();
      const viaA = await storedReferral(mentorA, `device-a-${round}`, accountsRecorded ? member : null);
      const viaB = await storedReferral(mentorB, `device-b-${round}`, accountsRecorded ? member : null);

      const [outcomeA, outcomeB] = await Promise.all([confirm(viaA, member), confirm(viaB, member)]);

      const [winner, loser] = outcomeA.snapshot.status === 'confirmed' ? [outcomeA, outcomeB] : [outcomeB, outcomeA];
      expect(winner.snapshot.status).toBe('confirmed');
      expect(loser.snapshot.status).toBe('superseded');
      expect(loser.record).toEqual(winner.record);
      expect(winner.record).toMatchObject({ newMemberId: member, status: 'confirmed' });
      const winnerId = winner.snapshot.referralId;
      const loserId = loser.snapshot.referralId;
      expect(await statuses(mentorA)).toEqual({ [winnerId]: 'confirmed', [loserId]: 'superseded' });
      const [countA, countB] = await confirmedCounts(mentorA, mentorB);
      expect(countA + countB).toBe(1);
      expect(await eventKeys(winnerId)).toEqual([`clicked:${winnerId}`, `confirmed:${winnerId}:${member}`]);
      expect(await eventKeys(loserId)).toEqual([`clicked:${loserId}`, `superseded:${loserId}:${winnerId}`]);
    }
  });
});

test('a confirmation repeated after it succeeded (its activity retried) changes nothing and answers the same', async () => {
  const mentor = await harness.seedOrg();
  const member = randomUUID();
  const referral = await storedReferral(mentor, 'device-repeat', member);
  const input = confirmation(referral, member);
  const first = await activities.confirmAttribution(input);
  const again = await activities.confirmAttribution(input);
  expect(again).toEqual(first);
  expect(first.snapshot.status).toBe('confirmed');
  expect(await confirmedCounts(mentor)).toEqual([1]);
  expect(await eventKeys(referral.referralId)).toEqual([`clicked:${referral.referralId}`, `confirmed:${referral.referralId}:${member}`]);
});

test("a confirmation asked to claim badges claims the mentor's reached milestones when it stands, and none when superseded", async () => {
  const mentorA = await harness.seedOrg();
  const mentorB = await harness.addCode(mentorA);
  const member = randomUUID();
  const viaA = await storedReferral(mentorA, 'device-badges-a', member);
  const viaB = await storedReferral(mentorB, 'device-badges-b', member);
  const claiming = (snapshot: ReferralSnapshot) => ({ ...confirmation(snapshot, member), badgeMilestones: [2, 1, 5] });

  const standing = await activities.confirmAttribution(claiming(viaA));
  const superseded = await activities.confirmAttribution(claiming(viaB));

  expect(standing.awards).toEqual([{ id: expect.any(String), mentorId: mentorA.mentorId, orgId: mentorA.orgId, milestone: 1, confirmedCount: 1, awardedAt: expect.any(String) }]);
  expect(superseded.snapshot.status).toBe('superseded');
  expect(superseded.awards).toBeUndefined();
  // Retried, it answers the award it holds the claim to, not a second one.
  expect((await activities.confirmAttribution(claiming(viaA))).awards).toEqual(standing.awards);
  const awards = await harness.pool.query('SELECT mentor_id, milestone, claimed_by FROM badge_awards WHERE org_id = $1', [mentorA.orgId]);
  expect(awards.rows).toEqual([{ mentor_id: mentorA.mentorId, milestone: 1, claimed_by: viaA.referralId }]);
});

test('two members on one device confirmed at the same moment: one stands, the other referral is superseded by it', async () => {
  for (let round = 0; round < 8; round += 1) {
    const mentorA = await harness.seedOrg();
    const mentorB = await harness.addCode(mentorA);
    const [memberA, memberB] = [randomUUID(), randomUUID()];
    const viaA = await storedReferral(mentorA, `shared-device-${round}`, memberA);
    const viaB = await storedReferral(mentorB, `shared-device-${round}`, memberB);

    const [outcomeA, outcomeB] = await Promise.all([confirm(viaA, memberA), confirm(viaB, memberB)]);

    const outcomes = [outcomeA.snapshot.status, outcomeB.snapshot.status].sort();
    expect(outcomes).toEqual(['confirmed', 'superseded']);
    const winner = outcomeA.snapshot.status === 'confirmed' ? viaA : viaB;
    const loser = winner === viaA ? viaB : viaA;
    expect(await statuses(mentorA)).toEqual({ [winner.referralId]: 'confirmed', [loser.referralId]: 'superseded' });
    expect(await eventKeys(loser.referralId)).toEqual([`clicked:${loser.referralId}`, `superseded:${loser.referralId}:${winner.referralId}`]);
  }
});

test('a confirmed referral written again with an earlier state stays confirmed, and the write says so', async () => {
  const mentor = await harness.seedOrg();
  const member = randomUUID();
  const referral = await storedReferral(mentor, 'device-replayed', member);
  await confirm(referral, member);
  const at = new Date().toISOString();
  const written = await activities.persistReferral({
    snapshot: { ...referral, stuck: true },
    event: { type: 'confirmation_overdue', idempotencyKey: `overdue:${referral.referralId}`, occurredAt: at },
  });
  expect(written).toEqual({ status: 'confirmed', stage: 'account_created' });
  expect(await statuses(mentor)).toEqual({ [referral.referralId]: 'confirmed' });
  expect(await confirmedCounts(mentor)).toEqual([1]);
  const reversed = await activities.persistReferral({
    snapshot: { ...referral, status: 'reversed', endedAt: at },
    event: { type: 'reversed', idempotencyKey: `reversed:${referral.referralId}:${member}`, occurredAt: at },
  });
  expect(reversed).toEqual({ status: 'reversed', stage: 'account_created' });
  expect(await confirmedCounts(mentor)).toEqual([0]);
});

test('a write from a run that knows less of the journey keeps the steps reached; a change of status it brings is written', async () => {
  const mentor = await harness.seedOrg();
  const member = randomUUID();
  const referral = await storedReferral(mentor, 'device-behind', member);
  const journeyOf = async () =>
    (await harness.pool.query('SELECT status, stage, new_member_id, account_created_at, installed_at, ended_at FROM referrals WHERE id = $1', [referral.referralId])).rows[0];
  const reached = await journeyOf();
  const at = new Date().toISOString();
  const behind: ReferralSnapshot = { ...referral, stage: 'installed', newMemberId: null, installedAt: at, accountCreatedAt: null };
  const written = await activities.persistReferral({
    snapshot: behind,
    event: { type: 'installed', idempotencyKey: `step:${referral.referralId}:installed`, occurredAt: at },
  });
  expect(written).toEqual({ status: 'pending', stage: 'account_created' });
  expect(await journeyOf()).toEqual(reached);
  const superseded = await activities.persistReferral({
    snapshot: { ...behind, status: 'superseded', endedAt: at },
    event: { type: 'superseded', idempotencyKey: `superseded:${referral.referralId}:other`, occurredAt: at },
  });
  expect(superseded).toEqual({ status: 'superseded', stage: 'account_created' });
  expect(await journeyOf()).toEqual({ ...reached, status: 'superseded', ended_at: new Date(at) });
});

test("a referral's reads prepared under a name still answer once a migration has added a column to referrals", async () => {
  const mentor = await harness.seedOrg();
  const referral = await storedReferral(mentor, 'device-migrated', null);
  // One connection, so each read after the migration meets the statement prepared before it.
  const onePool = new Pool({ ...harness.pool.options, max: 1 });
  const owner = new Pool({ connectionString: process.env.TEST_OWNER_DATABASE_URL, max: 1 });
  const store = createReferralStore(onePool);
  try {
    const before = await store.load(referral.referralId);
    expect(await store.erasedFor(mentor.orgId, 'no-such-member')).toBeUndefined();
    await owner.query('ALTER TABLE referrals ADD COLUMN migration_probe int');
    try {
      expect(await store.load(referral.referralId)).toEqual(before);
      expect(await store.erasedFor(mentor.orgId, 'no-such-member')).toBeUndefined();
    } finally {
      await owner.query('ALTER TABLE referrals DROP COLUMN migration_probe');
    }
  } finally {
    await Promise.all([onePool.end(), owner.end()]);
  }
});
