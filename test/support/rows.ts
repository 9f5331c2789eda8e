import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';

/** A new organisation with these peer mentors and one code each, written straight into Postgres. */
export async function organisationWithMentors(pool: Pool, mentors: string[]): Promise<{ orgId: string; codes: Record<string, string> }> {
  const orgId = randomUUID();
  await pool.query('INSERT INTO organisations (id) VALUES ($1)', [orgId]);
  const codes: Record<string, string> = {};
  for (const mentor of mentors) {
    await pool.query("INSERT INTO users (id, org_id, role) VALUES ($1, $2, 'peer_mentor')", [mentor, orgId]);
    codes[mentor] = randomUUID();
    await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [codes[mentor], `t${randomUUID().slice(0, 12)}`, mentor, orgId]);
  }
  return { orgId, codes };
}
