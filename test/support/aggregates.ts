import type { Pool } from 'pg';

/** The organisation's daily aggregates as kept (rows counting nothing left out). */
export const aggregateRows = async (pool: Pool, orgId: string) => ({
  events: (
    await pool.query(
      `SELECT day::text, mentor_id, referral_code_id, channel, clicks, accounts, confirmed FROM dashboard_daily_events
       WHERE org_id = $1 AND (clicks, accounts, confirmed) <> (0, 0, 0) ORDER BY 1, 2, 3, 4`,
      [orgId],
    )
  ).rows,
  cohorts: (
    await pool.query(
      `SELECT day::text, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed FROM dashboard_daily_cohorts
       WHERE org_id = $1 AND (referrals, installed, account_created, first_login, confirmed) <> (0, 0, 0, 0, 0) ORDER BY 1, 2, 3`,
      [orgId],
    )
  ).rows,
});

/** What a full recount from the rows gives, computed inside a transaction that is then rolled back. */
export async function recounted(pool: Pool, orgId: string) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT rebuild_dashboard_aggregates($1)', [orgId]);
    const events = await client.query(
      `SELECT day::text, mentor_id, referral_code_id, channel, clicks, accounts, confirmed FROM dashboard_daily_events
       WHERE org_id = $1 AND (clicks, accounts, confirmed) <> (0, 0, 0) ORDER BY 1, 2, 3, 4`,
      [orgId],
    );
    const cohorts = await client.query(
      `SELECT day::text, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed FROM dashboard_daily_cohorts
       WHERE org_id = $1 AND (referrals, installed, account_created, first_login, confirmed) <> (0, 0, 0, 0, 0) ORDER BY 1, 2, 3`,
      [orgId],
    );
    return { events: events.rows, cohorts: cohorts.rows };
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}
