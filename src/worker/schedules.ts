import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { TASK_QUEUE } from '../workflows/messages';
import { membershipReconciliationWorkflow } from '../workflows/reconciliation-workflow';
import { deviceMetadataRetentionWorkflow } from '../workflows/retention-workflow';

export const RETENTION_SCHEDULE_ID = 'device-metadata-retention';
export const RECONCILIATION_SCHEDULE_ID = 'membership-reconciliation';

type StartWorkflowSchedule = Pick<ScheduleOptions<ScheduleOptionsStartWorkflowAction<Workflow>>, 'spec' | 'action'>;

/** Creates the schedule, or brings one made by an earlier start-up to this configuration (its state is kept). */
async function createOrUpdate(client: Client, scheduleId: string, wanted: StartWorkflowSchedule): Promise<void> {
  try {
    await client.schedule.create({ scheduleId, ...wanted });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, ...wanted }));
  }
}

/**
 * Keeps the daily schedules as configured at each start-up: the retention purge, and the membership reconciliation
 * where a membership system is configured (removed where none is any more).
 */
export async function ensureSchedules(
  client: Client,
  options: { retentionDays: number; reconcile: boolean; taskQueue?: string },
): Promise<void> {
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const daily = { intervals: [{ every: '1 day' as const }] };
  await createOrUpdate(client, RETENTION_SCHEDULE_ID, {
    spec: daily,
    action: { type: 'startWorkflow', workflowType: deviceMetadataRetentionWorkflow, args: [{ retentionDays: options.retentionDays }], taskQueue },
  });
  if (!options.reconcile) {
    await client.schedule
      .getHandle(RECONCILIATION_SCHEDULE_ID)
      .delete()
      .catch((error: unknown) => {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
      });
    return;
  }
  // Two days back, run daily: every registration is looked at twice, so a missed run loses nothing.
  await createOrUpdate(client, RECONCILIATION_SCHEDULE_ID, {
    spec: daily,
    action: { type: 'startWorkflow', workflowType: membershipReconciliationWorkflow, args: [{ lookbackHours: 48 }], taskQueue },
  });
}
