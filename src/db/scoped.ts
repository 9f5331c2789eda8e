import type { Pool, PoolClient } from 'pg';
import { withTransaction } from './transaction';
import { uuid } from '../ids';

/**
 * Runs reads as `referral_reader` with row-level security keyed on the organisation, so a query
 * that forgot its org filter still sees only the caller's organisation. They see one snapshot, so an answer built
 * from several queries agrees with itself while journeys commit.
 */
export function withOrgScope<T>(pool: Pool, orgId: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  // Checked here because it is spliced into the statement: one round trip opens the scope.
  const org = uuid.parse(orgId);
  return withTransaction(pool, work, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL ROLE referral_reader; SET LOCAL app.current_org = '${org}'`);
}
