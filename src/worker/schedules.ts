import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/messages';
import { deviceMetadataRetentionWorkflow } from '../workflows/retention-workflow';

export const RETENTION_SCHEDULE_ID = 'device-metadata-retention';

/** Creates the daily retention schedule once; later start-ups find it and leave it be. */
export async function ensureSchedules(client: Client, options: { retentionDays: number; taskQueue?: string }): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 day' }] },
      action: {
        type: 'startWorkflow',
        workflowType: deviceMetadataRetentionWorkflow,
        args: [{ retentionDays: options.retentionDays }],
        taskQueue: options.taskQueue ?? TASK_QUEUE,
      },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}
