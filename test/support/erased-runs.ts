import { createReferralStore } from '../../src/db/referrals';
import { createErasedRunSweep } from '../../src/services/erased-runs';
import { eventually, type Harness } from './harness';

export const workflowIdOf = async (harness: Harness, referralId: string): Promise<string> =>
  (await harness.pool.query('SELECT workflow_id FROM referrals WHERE id = $1', [referralId])).rows[0].workflow_id;

/** The runs Temporal lists of a workflow, by their status. */
export async function runsOf(harness: Harness, workflowId: string): Promise<string[]> {
  const statuses: string[] = [];
  for await (const run of harness.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) statuses.push(run.status.name);
  return statuses;
}

/**
 * Sweeps as the workers do, without their grace, until the referral's erasure is done (its runs no longer pending);
 * answers the runs Temporal lists then.
 */
export async function sweptUntilDone(harness: Harness, referralId: string): Promise<string[]> {
  const sweep = createErasedRunSweep({ temporal: harness.client, referrals: createReferralStore(harness.pool), timeoutMs: 5000, graceMs: 0 });
  await eventually(
    async () => {
      await sweep.sweep();
      const { rows } = await harness.pool.query('SELECT runs_pending_since IS NULL AS done FROM erasures WHERE referral_id = $1', [referralId]);
      return rows[0]?.done ? true : undefined;
    },
    60_000,
    'the erasure done in Temporal',
  );
  return runsOf(harness, await workflowIdOf(harness, referralId));
}
