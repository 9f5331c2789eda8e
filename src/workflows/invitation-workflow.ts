import { condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { InvitationActivities } from '../activities/invitations';
import { resendInvitationSignal } from './messages';

const { sendInvitationMail, expireInvitation } = proxyActivities<InvitationActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '10 minutes' },
});

export interface InvitationInput {
  invitationId: string;
  /** When the one reminder goes, unless the invitation was clicked, cancelled or joined meanwhile. */
  reminderAfterMs: number;
  /** When an invitation still open expires (and its address is dropped). */
  expireAfterMs: number;
}

export const invitationWorkflowId = (invitationId: string) => `invitation-${invitationId}`;

/**
 * One invitation by email: sent, one reminder after a while unless it was clicked, cancelled or joined, resends
 * when asked, and the end. What happened meanwhile is in Postgres: each email is sent only if still due then.
 */
export async function invitationWorkflow(input: InvitationInput): Promise<void> {
  const started = workflowInfo().startTime.getTime();
  let resendsAsked = 0;
  let resendsSent = 0;
  setHandler(resendInvitationSignal, () => {
    resendsAsked += 1;
  });
  await sendInvitationMail({ invitationId: input.invitationId, kind: 'invitation', attempt: 0 });
  /** Waits until `at`, sending every resend asked for meanwhile. */
  async function waitUntil(at: number) {
    for (;;) {
      const left = at - Date.now();
      if (left <= 0 || !(await condition(() => resendsAsked > resendsSent, left))) return;
      resendsSent = resendsAsked;
      await sendInvitationMail({ invitationId: input.invitationId, kind: 'resend', attempt: resendsSent });
    }
  }
  await waitUntil(started + input.reminderAfterMs);
  await sendInvitationMail({ invitationId: input.invitationId, kind: 'reminder', attempt: 0 });
  await waitUntil(started + input.expireAfterMs);
  await expireInvitation({ invitationId: input.invitationId });
}
