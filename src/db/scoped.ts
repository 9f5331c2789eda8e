import type { Pool, PoolClient } from 'pg';
import { withTransaction } from './referrals';

/**
 * Runs reads as `referral_reader` with row-level security keyed on the organisation, so a query
 * that forgot its org filter still sees only the caller's organisation.
 */
export function withOrgScope<T>(pool: Pool, orgId: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query('SET LOCAL ROLE referral_reader');
    await client.query("SELECT set_config('app.current_org', $1, true)", [orgId]);
    return work(client);
  });
}
