import { randomUUID } from 'node:crypto';
import { createPool } from '../src/db/pool';
import { withOrgScope } from '../src/db/scoped';

const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
afterAll(() => pool.end());

async function seedOrgWithReferral(): Promise<string> {
  const orgId = randomUUID();
  const mentorId = randomUUID();
  const codeId = randomUUID();
  const referralId = randomUUID();
  await pool.query('INSERT INTO organisations (id) VALUES ($1)', [orgId]);
  await pool.query("INSERT INTO users (id, org_id, role) VALUES ($1, $2, 'peer_mentor')", [mentorId, orgId]);
  await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [codeId, `rls${referralId.slice(0, 8)}`, mentorId, orgId]);
  await pool.query(
    `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at)
     VALUES ($1, $2, $3, $4, $5, 'clicked', 'pending', now(), now())`,
    [referralId, orgId, codeId, mentorId, `rls-${referralId}`],
  );
  return orgId;
}

test('a read that forgets its organisation filter still sees only the caller\'s organisation', async () => {
  const orgA = await seedOrgWithReferral();
  const orgB = await seedOrgWithReferral();
  const seenByA = await withOrgScope(pool, orgA, async (client) => (await client.query('SELECT DISTINCT org_id FROM referrals')).rows);
  expect(seenByA).toEqual([{ org_id: orgA }]);
  const usersSeenByB = await withOrgScope(pool, orgB, async (client) => (await client.query('SELECT DISTINCT org_id FROM users')).rows);
  expect(usersSeenByB).toEqual([{ org_id: orgB }]);
});

test('a scoped read cannot write', async () => {
  const orgA = await seedOrgWithReferral();
  await expect(
    withOrgScope(pool, orgA, (client) => client.query("UPDATE referrals SET status = 'confirmed'")),
  ).rejects.toThrow(/read-only transaction/);
});
