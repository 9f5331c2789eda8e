import { proxyActivities } from '@temporalio/workflow';
import type { createActivities, ReconciliationTally } from '../activities';

const { fetchRecentRegistrations, reconcileRegistrations } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumInterval: '5 minutes' },
});

// Batches keep the history small on a day with thousands of registrations.
const BATCH_SIZE = 100;

/**
 * Run daily by a Temporal Schedule: asks the membership system for recent registrations and
 * back-fills the ones whose webhook never arrived. Confirmation is idempotent, so overlap is harmless.
 */
export async function membershipReconciliationWorkflow(input: { lookbackHours: number }): Promise<ReconciliationTally> {
  const since = new Date(Date.now() - input.lookbackHours * 3600 * 1000).toISOString();
  const registrations = await fetchRecentRegistrations({ since });
  const total: ReconciliationTally = { alreadyCounted: 0, backfilled: 0, unknownCode: 0 };
  for (let start = 0; start < registrations.length; start += BATCH_SIZE) {
    const tally = await reconcileRegistrations(registrations.slice(start, start + BATCH_SIZE));
    total.alreadyCounted += tally.alreadyCounted;
    total.backfilled += tally.backfilled;
    total.unknownCode += tally.unknownCode;
  }
  return total;
}
