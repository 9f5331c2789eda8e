import type { Pool, PoolClient } from 'pg';

const KEPT = {
  events: `SELECT day::text, mentor_id, referral_code_id, channel, clicks, accounts, confirmed FROM dashboard_daily_events
    WHERE org_id = $1 AND (clicks, accounts, confirmed) <> (0, 0, 0) ORDER BY 1, 2, 3, 4`,
  cohorts: `SELECT day::text, mentor_id, referral_code_id, referrals, installed, account_created, first_login, confirmed FROM dashboard_daily_cohorts
    WHERE org_id = $1 AND (referrals, installed, account_created, first_login, confirmed) <> (0, 0, 0, 0, 0) ORDER BY 1, 2, 3`,
  conversions: `SELECT day::text, mentor_id, referral_code_id, bucket, confirmed FROM dashboard_daily_conversions
    WHERE org_id = $1 AND confirmed <> 0 ORDER BY 1, 2, 3, 4`,
};

/** The organisation's daily aggregates as kept (rows counting nothing left out). */
export async function aggregateRows(db: Pool | PoolClient, orgId: string) {
  const [events, cohorts, conversions] = await Promise.all(Object.values(KEPT).map((sql) => db.query(sql, [orgId])));
  return { events: events.rows, cohorts: cohorts.rows, conversions: conversions.rows };
}

/** What a full recount from the rows gives, computed inside a transaction that is then rolled back. */
export async function recounted(pool: Pool, orgId: string) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT rebuild_dashboard_aggregates($1)', [orgId]);
    const events = await client.query(KEPT.events, [orgId]);
    const cohorts = await client.query(KEPT.cohorts, [orgId]);
    const conversions = await client.query(KEPT.conversions, [orgId]);
    return { events: events.rows, cohorts: cohorts.rows, conversions: conversions.rows };
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}
