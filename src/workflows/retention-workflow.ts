import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

const { purgeDeviceMetadata } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumInterval: '5 minutes' },
});

/** Run daily by a Temporal Schedule: raw device metadata is kept no longer than the retention period. */
export async function deviceMetadataRetentionWorkflow(input: { retentionDays: number }): Promise<{ purged: number }> {
  return purgeDeviceMetadata(input);
}
