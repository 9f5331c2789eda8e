import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createCodeStore } from '../src/db/codes';
import { createPool } from '../src/db/pool';
import type { AttributionStatus } from '../src/domain/funnel';
import { organisationWithMentors } from './support/rows';

// Rule 4(b)'s candidates on one code, as the membership webhook asks for them: this member's referral first, else the
// newest click no member has claimed, stored or still in the intake.
let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
});

afterAll(async () => {
  await pool.end();
});

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

async function codeOfNewMentor() {
  const mentorId = randomUUID();
  const { orgId, codes } = await organisationWithMentors(pool, [mentorId]);
  return { orgId, mentorId, codeId: codes[mentorId] };
}

type Code = Awaited<ReturnType<typeof codeOfNewMentor>>;

async function storedReferral(code: Code, lastClick: Date, status: AttributionStatus, newMemberId: string | null = null) {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, stage, status, new_member_id, clicked_at, last_click_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'clicked', $7, $8, $9, $9)`,
    [id, code.orgId, code.codeId, code.mentorId, `referral-${id}`, `visitor-${id}`, status, newMemberId, lastClick],
  );
  return id;
}

test('the member\'s own referral first, else the newest unclaimed click, stored or in the intake', async () => {
  const code = await codeOfNewMentor();
  const member = randomUUID();
  const codes = createCodeStore(pool);
  const match = async (passedOver: string[] = []) => (await codes.matchCandidate(code.codeId, member, passedOver))?.referral_id;

  const older = await storedReferral(code, minutesAgo(30), 'pending');
  const newest = await storedReferral(code, minutesAgo(10), 'expired');
  // Newer, but not open to this member: claimed in the app, another member's, rejected.
  const linkedElsewhere = await storedReferral(code, minutesAgo(5), 'pending');
  await pool.query('INSERT INTO referral_member_links (referral_id, org_id, referral_code_id, visitor_hash, new_member_id) VALUES ($1, $2, $3, $4, $5)', [
    linkedElsewhere, code.orgId, code.codeId, 'someone', randomUUID(),
  ]);
  await storedReferral(code, minutesAgo(4), 'pending', randomUUID());
  await storedReferral(code, minutesAgo(3), 'rejected');
  expect(await match()).toBe(newest);
  expect(await match([newest])).toBe(older);

  // A click the workflow has not stored yet is a referral too.
  const inIntake = randomUUID();
  await pool.query(
    `INSERT INTO intake (task_queue, kind, referral_id, workflow_id, referral_code_id, org_id, visitor_hash, message, received_at)
     VALUES ('nobody', 'click', $1, $2, $3, $4, 'visitor-intake', '{}', $5)`,
    [inIntake, `referral-${inIntake}`, code.codeId, code.orgId, minutesAgo(1)],
  );
  expect(await match()).toBe(inIntake);

  // This member's referral, confirmed already, however old: a repeated delivery lands on it.
  const own = await storedReferral(code, minutesAgo(600), 'confirmed', member);
  expect(await match()).toBe(own);
  expect(await match([own])).toBe(inIntake);
});
