import { randomUUID } from 'node:crypto';
import { createPool } from '../src/db/pool';
import { organisationWithMentors } from './support/rows';

const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
afterAll(() => pool.end());

async function recount(mentorId: string) {
  const result = await pool.query(
    `SELECT (SELECT count(*) FROM click_events WHERE mentor_id = $1 AND NOT is_duplicate) AS total_clicks,
       (SELECT count(*) FROM referrals WHERE mentor_id = $1 AND status = 'pending' AND account_created_at IS NOT NULL) AS pending_count,
       (SELECT count(*) FROM referrals WHERE mentor_id = $1 AND status = 'confirmed') AS confirmed_count`,
    [mentorId],
  );
  return result.rows[0];
}

const counters = async (mentorId: string) => (await pool.query('SELECT * FROM get_attribution_counts($1)', [mentorId])).rows[0];

test('the kept counters equal a full recount through every kind of change', async () => {
  const orgId = randomUUID();
  const [mentorA, mentorB] = [randomUUID(), randomUUID()];
  const codeId = randomUUID();
  await pool.query('INSERT INTO organisations (id) VALUES ($1)', [orgId]);
  await pool.query("INSERT INTO users (id, org_id, role) VALUES ($1, $3, 'peer_mentor'), ($2, $3, 'peer_mentor')", [mentorA, mentorB, orgId]);
  await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [codeId, `cnt${codeId.slice(0, 8)}`, mentorA, orgId]);
  expect(await counters(mentorA)).toEqual({ total_clicks: 0, pending_count: 0, confirmed_count: 0 });

  const referrals = Array.from({ length: 6 }, () => randomUUID());
  for (const [index, id] of referrals.entries()) {
    await pool.query(
      `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at, account_created_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', now(), now(), $7)`,
      [id, orgId, codeId, mentorA, `cnt-${id}`, index % 2 ? 'account_created' : 'clicked', index % 2 ? new Date() : null],
    );
    await pool.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, is_duplicate)
       VALUES ($1, $2, $3, $4, $5, now(), false), ($6, $2, $3, $4, $5, now(), true)`,
      [randomUUID(), codeId, id, mentorA, orgId, randomUUID()],
    );
  }
  expect(await counters(mentorA)).toEqual(await recount(mentorA));
  expect(await counters(mentorA)).toEqual({ total_clicks: 6, pending_count: 3, confirmed_count: 0 });

  await pool.query("UPDATE referrals SET status = 'confirmed' WHERE id = ANY($1::uuid[])", [[referrals[0], referrals[1]]]);
  await pool.query("UPDATE referrals SET account_created_at = now(), stage = 'account_created' WHERE id = $1", [referrals[2]]);
  await pool.query("UPDATE referrals SET status = 'reversed' WHERE id = $1", [referrals[0]]);
  await pool.query("UPDATE referrals SET status = 'flagged' WHERE id = $1", [referrals[3]]);
  await pool.query("UPDATE referrals SET stuck = true WHERE id = $1", [referrals[5]]);
  await pool.query('UPDATE referrals SET mentor_id = $2 WHERE id = $1', [referrals[5], mentorB]);
  await pool.query('DELETE FROM click_events WHERE referral_id = $1', [referrals[4]]);
  await pool.query('DELETE FROM referrals WHERE id = $1', [referrals[4]]);

  expect(await counters(mentorA)).toEqual(await recount(mentorA));
  expect(await counters(mentorA)).toEqual({ total_clicks: 5, pending_count: 1, confirmed_count: 1 });
  expect(await counters(mentorB)).toEqual({ total_clicks: 0, pending_count: 1, confirmed_count: 0 });
});

test('a first click and another referral\'s account for one mentor wait for each other rather than deadlock', async () => {
  const mentorId = randomUUID();
  const { orgId, codes } = await organisationWithMentors(pool, [mentorId]);
  const codeId = codes[mentorId];
  const insertReferral = `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, stage, status, clicked_at, last_click_at)
    VALUES ($1, $2, $3, $4, $5, 'clicked', 'pending', now(), now())`;
  const clicked = randomUUID();
  await pool.query(insertReferral, [clicked, orgId, codeId, mentorId, `lck-${clicked}`]);

  // A journey's write is one statement whose triggers run after its rows are written; its rows are written here one
  // statement at a time, so the two writes interleave where they would at their worst.
  const firstClick = await pool.connect();
  const account = await pool.connect();
  try {
    const accountPid = (await account.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await firstClick.query('BEGIN');
    const fresh = randomUUID();
    // The first click's referral: its day's cohort row.
    await firstClick.query(insertReferral, [fresh, orgId, codeId, mentorId, `lck-${fresh}`]);
    await account.query('BEGIN');
    // The other referral's account: the mentor's counters (one more pending), then the same cohort row.
    const accountWritten = account.query("UPDATE referrals SET account_created_at = now(), stage = 'account_created' WHERE id = $1", [clicked]);
    await waitUntilWaitingForALock(accountPid);
    // The first click's click event: the mentor's counters.
    await firstClick.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, is_duplicate)
       VALUES ($1, $2, $3, $4, $5, now(), false)`,
      [randomUUID(), codeId, fresh, mentorId, orgId],
    );
    await firstClick.query('COMMIT');
    await accountWritten;
    await account.query('COMMIT');
  } finally {
    firstClick.release();
    account.release();
  }
  expect(await counters(mentorId)).toEqual({ total_clicks: 1, pending_count: 1, confirmed_count: 0 });
  expect(await counters(mentorId)).toEqual(await recount(mentorId));
});

async function waitUntilWaitingForALock(pid: number) {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const state = await pool.query<{ wait_event_type: string | null }>('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (state.rows[0]?.wait_event_type === 'Lock') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}
