import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createPool } from '../src/db/pool';
import { createReadService } from '../src/services/read-service';
import { organisationWithMentors } from './support/rows';

let pool: Pool;

beforeAll(() => {
  pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
});

afterAll(async () => {
  await pool.end();
});

test('a dashboard read while confirmations commit answers from one moment: its top mentor sums its series', async () => {
  const mentorId = randomUUID();
  const { orgId, codes } = await organisationWithMentors(pool, [mentorId]);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at, account_created_at)
     SELECT id, $1, $2, $3, 'snapshot-' || id, 'account_created', 'pending', now(), now(), now() FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, 40)) fresh
     RETURNING id`,
    [orgId, codes[mentorId], mentorId],
  );
  const reads = createReadService({ pool });
  const admin = { userId: randomUUID(), orgId, role: 'org_admin' as const };
  const today = new Date().toISOString().slice(0, 10);
  let confirming = true;
  // One referral confirmed at a time, each by a commit of its own.
  const confirmAll = async () => {
    for (const { id } of rows) await pool.query("UPDATE referrals SET status = 'confirmed', confirmed_at = now() WHERE id = $1", [id]);
    confirming = false;
  };
  const disagreements: Array<{ series: number; topMentor: number }> = [];
  const read = async () => {
    while (confirming) {
      const dashboard = await reads.dashboard(admin, orgId, { from: today, to: today, granularity: 'day' });
      const series = dashboard.timeSeries.reduce((sum: number, period: { confirmed: number }) => sum + period.confirmed, 0);
      const topMentor = dashboard.topMentors[0]?.confirmedAttributions ?? 0;
      if (series !== topMentor) disagreements.push({ series, topMentor });
    }
  };
  await Promise.all([confirmAll(), read(), read(), read()]);
  expect(disagreements).toEqual([]);
  const settled = await reads.dashboard(admin, orgId, { from: today, to: today, granularity: 'day' });
  expect(settled.topMentors[0].confirmedAttributions).toBe(40);
});
