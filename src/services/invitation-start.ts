import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { createInvitationStore } from '../db/invitations';
import { TASK_QUEUE } from '../workflows/messages';
import { invitationWorkflow, invitationWorkflowId } from '../workflows/invitation-workflow';

export interface InvitationTiming {
  reminderAfterMs: number;
  expireAfterMs: number;
}

/** The invitations' reminder and expiry, as configured: the API's starts and the workers' pass the same. */
export const invitationTiming = (config: Pick<Config, 'INVITATION_REMINDER_SECONDS' | 'INVITATION_EXPIRY_SECONDS'>): InvitationTiming => ({
  reminderAfterMs: config.INVITATION_REMINDER_SECONDS * 1000,
  expireAfterMs: config.INVITATION_EXPIRY_SECONDS * 1000,
});

/** How long one start may wait for Temporal: a person is waiting for the answer. */
const START_TIMEOUT_MS = 3000;
const BATCH = 100;

/**
 * Starting invitations' workflows. An invitation is taken when its row is written; its workflow is started then, or
 * later by a worker's starter when Temporal did not answer in time. Each workflow is started once ever: a second start
 * finds it, and marks the row as the first would have.
 */
export function createInvitationStarts(deps: { pool: Pool; temporal: Client; timing: InvitationTiming; taskQueue?: string; now?: () => Date }) {
  const invitations = createInvitationStore(deps.pool);
  const now = deps.now ?? (() => new Date());

  async function start(invitationId: string): Promise<void> {
    try {
      await deps.temporal.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        deps.temporal.workflow.start(invitationWorkflow, {
          workflowId: invitationWorkflowId(invitationId),
          taskQueue: deps.taskQueue ?? TASK_QUEUE,
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          args: [{ invitationId, reminderAfterMs: deps.timing.reminderAfterMs, expireAfterMs: deps.timing.expireAfterMs }],
        }),
      );
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    await invitations.markStarted(invitationId, now());
  }

  return {
    start,

    /** Starts the invitations written more than `graceMs` ago and never started; answers how many it started. */
    async startAwaiting(graceMs: number): Promise<number> {
      let started = 0;
      for (;;) {
        const ids = await invitations.awaitingStart(new Date(now().getTime() - graceMs), BATCH);
        for (const id of ids) await start(id);
        started += ids.length;
        if (ids.length < BATCH) return started;
      }
    },
  };
}

export type InvitationStarts = ReturnType<typeof createInvitationStarts>;
