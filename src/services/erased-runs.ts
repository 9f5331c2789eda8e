import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ErasedRuns, ReferralStore } from '../db/referrals';

const GRPC_NOT_FOUND = 5;
/** Erased referrals looked at per round of the sweep. */
const SWEEP_BATCH = 50;
/** How long after a run was flagged the sweep trusts Temporal's list of runs: its visibility store lags its history. */
const LISTING_GRACE_MS = 5_000;

/** Temporal not knowing the workflow (never started, already deleted) is what erasure wants; anything else stops it. */
function unlessNotFound(error: unknown): void {
  // A namespace not found is Temporal's own store out of reach, not a workflow that is gone.
  const { code, message } = error as { code?: unknown; message?: unknown };
  const notFound = error instanceof WorkflowNotFoundError || (code === GRPC_NOT_FOUND && !/namespace/i.test(String(message)));
  if (!notFound) throw error;
}

/**
 * Deletes every run of an erased referral's workflow that Temporal lists, with its history (Temporal terminates a
 * running one first, and deletes behind the answer); answers how many it listed.
 */
async function deleteReferralRuns(temporal: Client, workflowId: string): Promise<number> {
  const runs: Array<{ runId: string }> = [];
  for await (const run of temporal.workflow.list({ query: `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'` })) runs.push(run);
  for (const run of runs) {
    await temporal.workflowService
      .deleteWorkflowExecution({ namespace: temporal.options.namespace, workflowExecution: { workflowId, runId: run.runId } })
      .catch(unlessNotFound);
  }
  return runs.length;
}

/**
 * An erasure's last part: the runs Temporal holds of erased referrals, deleted whenever Temporal answers. An erasure
 * is done when Temporal, asked after the grace, lists no run of its referral: deleting a run that had ended took the
 * dev server about 20 s here, so one asked to delete is asked again until it is gone.
 */
export function createErasedRunSweep(deps: { temporal: Client; referrals: ReferralStore; timeoutMs: number; graceMs?: number }) {
  const graceMs = deps.graceMs ?? LISTING_GRACE_MS;
  const deleteRuns = (erased: ErasedRuns) => deps.temporal.withDeadline(Date.now() + deps.timeoutMs, () => deleteReferralRuns(deps.temporal, erased.workflowId));
  return {
    /** One round. Throws when Temporal does not answer: the next round tries again. */
    async sweep(): Promise<void> {
      for (const erased of await deps.referrals.runsToDelete(graceMs, SWEEP_BATCH)) {
        // Runs listed are being deleted: Temporal is asked again after the grace, behind those not yet asked.
        await deps.referrals.runsSwept(erased, (await deleteRuns(erased)) > 0);
      }
    },
  };
}
