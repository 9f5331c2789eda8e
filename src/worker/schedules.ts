import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/messages';
import { membershipReconciliationWorkflow } from '../workflows/reconciliation-workflow';
import { deviceMetadataRetentionWorkflow } from '../workflows/retention-workflow';

export const RETENTION_SCHEDULE_ID = 'device-metadata-retention';
export const RECONCILIATION_SCHEDULE_ID = 'membership-reconciliation';

async function createOnce(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}

/**
 * Creates the daily schedules once (later start-ups find them and leave them be): the retention
 * purge, and the membership reconciliation where a membership system is configured.
 */
export async function ensureSchedules(
  client: Client,
  options: { retentionDays: number; reconcile: boolean; taskQueue?: string },
): Promise<void> {
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  await createOnce(() =>
    client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 day' }] },
      action: { type: 'startWorkflow', workflowType: deviceMetadataRetentionWorkflow, args: [{ retentionDays: options.retentionDays }], taskQueue },
    }),
  );
  if (!options.reconcile) return;
  // Two days back, run daily: every registration is looked at twice, so a missed run loses nothing.
  await createOnce(() =>
    client.schedule.create({
      scheduleId: RECONCILIATION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 day' }] },
      action: { type: 'startWorkflow', workflowType: membershipReconciliationWorkflow, args: [{ lookbackHours: 48 }], taskQueue },
    }),
  );
}
