import type { Pool } from 'pg';
import { createInvitationStore, type InvitationMail } from '../db/invitations';
import type { Mailer } from '../notifications/mail';
import { invitationMail } from '../notifications/texts';
import { unsubscribeToken } from '../services/identifiers';
import type { Clock } from './index';

export interface InvitationActivityDependencies {
  pool: Pool;
  clock: Clock;
  mailer: Mailer;
  /** Where invite links and the unsubscribe page are (PUBLIC_BASE_URL). */
  publicBaseUrl: string;
  hashSalt: string;
}

const isPermanentRefusal = (error: unknown) => {
  const { responseCode } = error as { responseCode?: unknown };
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600;
};

/** The invitation workflow's activities: each email once it is due, and the invitation's end. Idempotent. */
export function createInvitationActivities(deps: InvitationActivityDependencies) {
  const invitations = createInvitationStore(deps.pool);
  return {
    /** Sends the invitation's email of this kind if it is still due (not clicked, cancelled or unsubscribed). */
    async sendInvitationMail({ invitationId, kind, attempt }: { invitationId: string; kind: InvitationMail; attempt: number }): Promise<{ sent: boolean }> {
      const invitation = await invitations.dueToSend(invitationId, kind);
      if (!invitation || !invitation.email) return { sent: false };
      if (invitation.suppressed) {
        await invitations.close(invitationId, 'cancelled', deps.clock.now());
        return { sent: false };
      }
      const link = new URL(`/r/${invitation.code}`, deps.publicBaseUrl);
      link.searchParams.set('ch', 'email');
      link.searchParams.set('inv', invitation.id);
      const unsubscribeUrl = new URL(`/unsubscribe/${unsubscribeToken(deps.hashSalt, invitation.org_id, invitation.email_hash)}`, deps.publicBaseUrl).toString();
      const text = invitationMail({
        kind,
        inviteeName: invitation.invitee_name,
        mentorName: invitation.mentor_name,
        orgName: invitation.org_name,
        message: invitation.message,
        link: link.toString(),
        unsubscribeUrl,
      });
      try {
        await deps.mailer.send({ ...text, to: invitation.email, messageId: `<${invitation.id}.${kind}.${attempt}@referral-attribution>`, unsubscribeUrl });
      } catch (error) {
        // The mail server refused the address for good (5xx): the invitation bounced. Anything else is tried again.
        if (!isPermanentRefusal(error)) throw error;
        await invitations.close(invitationId, 'bounced', deps.clock.now());
        return { sent: false };
      }
      await invitations.markSent(invitationId, kind, deps.clock.now());
      return { sent: true };
    },

    /** The invitation's time is up: an open one expires and its address is dropped. */
    async expireInvitation({ invitationId }: { invitationId: string }): Promise<void> {
      await invitations.close(invitationId, 'expired', deps.clock.now());
    },
  };
}

export type InvitationActivities = ReturnType<typeof createInvitationActivities>;
