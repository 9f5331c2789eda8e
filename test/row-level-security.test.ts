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

test('the service connects with data-only grants, under row-level security forced on every organisation\'s table', async () => {
  expect((await pool.query('SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user')).rows).toEqual([
    { rolsuper: false, rolcreaterole: false, rolbypassrls: false },
  ]);
  await expect(pool.query('CREATE TABLE smuggled (id int)')).rejects.toThrow('permission denied for schema public');
  await expect(pool.query('ALTER TABLE referrals DISABLE ROW LEVEL SECURITY')).rejects.toThrow('must be owner of table referrals');
  await expect(pool.query('DELETE FROM pgmigrations')).rejects.toThrow('permission denied for table pgmigrations');
  const unprotected = await pool.query(
    `SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id'
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity)`,
  );
  expect(unprotected.rows).toEqual([]);
});
