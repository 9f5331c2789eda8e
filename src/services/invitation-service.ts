import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createInvitationStore, type InvitationFilters, type InvitationRow } from '../db/invitations';
import { authorise, type Caller } from '../domain/access';
import { AppError, ConflictError, NotFoundError, TooManyRequestsError, UnprocessableError } from '../errors';
import { resendInvitationSignal } from '../workflows/messages';
import { invitationWorkflowId } from '../workflows/invitation-workflow';
import { linkHasEnded, type CodeService } from './code-service';
import { emailHash, readUnsubscribeToken } from './identifiers';
import { createInvitationStarts, type InvitationTiming } from './invitation-start';
import { decodeCursor, encodeCursor } from './read-service';

const NO_LONGER_OPEN = 'This invitation is no longer open: it was cancelled, or it has ended';

export interface InvitationSettings extends InvitationTiming {
  perMentorPerDay: number;
  /** The same address is invited once per organisation in this many days. */
  reinviteAfterDays: number;
}

const DAY_MS = 86_400_000;
const LEAVE_TO_STARTER_MS = 10_000;
const RESEND_TIMEOUT_MS = 3000;

const view = (row: InvitationRow) => ({
  id: row.id,
  mentorId: row.mentor_id,
  // Kept only while the invitation is open.
  email: row.email,
  name: row.invitee_name,
  status: row.status,
  createdAt: row.created_at.toISOString(),
  sentAt: row.sent_at?.toISOString() ?? null,
  remindedAt: row.reminded_at?.toISOString() ?? null,
  clickedAt: row.clicked_at?.toISOString() ?? null,
  joinedAt: row.joined_at?.toISOString() ?? null,
  closedAt: row.closed_at?.toISOString() ?? null,
});

/** Invitations by email: each one a small workflow of its own (sent, one reminder, its end); Postgres holds its state. */
/** `mailConfigured`: false where no mail can go out (production without SMTP_URL): invitations are refused, not queued. */
export function createInvitationService(deps: { pool: Pool; temporal: Client; codes: CodeService; hashSalt: string; settings: InvitationSettings; mailConfigured: boolean; taskQueue?: string }) {
  const invitations = createInvitationStore(deps.pool);
  const starts = createInvitationStarts({ pool: deps.pool, temporal: deps.temporal, timing: deps.settings, taskQueue: deps.taskQueue });
  let startsLeftToStarterUntil = 0;

  /**
   * The invitation is taken with its row: its workflow starts now if Temporal answers in time, else a worker's starter
   * starts it. After a start that failed, the next ones are left to the starter for a while, so an upload of thousands
   * does not wait on each.
   */
  async function startOrLeaveToStarter(invitationId: string): Promise<void> {
    if (Date.now() < startsLeftToStarterUntil) return;
    try {
      await starts.start(invitationId);
    } catch {
      startsLeftToStarterUntil = Date.now() + LEAVE_TO_STARTER_MS;
    }
  }

  async function ownInvitation(caller: Caller, id: string): Promise<InvitationRow> {
    const row = await invitations.byId(id);
    if (!row || row.org_id !== caller.orgId) throw new NotFoundError('invitation');
    authorise(caller, 'manageInvitation', row.mentor_id);
    return row;
  }

  return {
    /** A mentor's invitation, or (an org admin's upload) one sent on behalf of `mentorId` for a campaign. */
    async invite(caller: Caller, input: { email: string; name?: string; message?: string; mentorId?: string; campaign?: string }) {
      const mentorId = input.mentorId ?? caller.userId;
      authorise(caller, 'invite', mentorId);
      if (!deps.mailConfigured) throw new AppError(503, 'mail_not_configured', 'This service has no mail server configured (SMTP_URL): invitations cannot be sent');
      const now = Date.now();
      const hash = emailHash(deps.hashSalt, caller.orgId, input.email);
      const limits = {
        period: new Date(now - deps.settings.reinviteAfterDays * DAY_MS),
        // The daily limit holds a mentor's own sending; an org admin's upload for a campaign is the organisation's.
        mentorDay: mentorId === caller.userId ? { since: new Date(now - DAY_MS), max: deps.settings.perMentorPerDay } : undefined,
      };
      const refusals = {
        address_held: () => new ConflictError(`This address was invited in the last ${deps.settings.reinviteAfterDays} days`),
        daily_limit: () => new TooManyRequestsError(3600, `At most ${deps.settings.perMentorPerDay} invitations a day`),
      };
      // Refused here, a request makes nothing (not even the mentor's email link); the insert counts again under locks.
      const checked = await invitations.checkLimits(caller.orgId, hash, mentorId, limits);
      if (checked.suppressed) throw new UnprocessableError('address_unsubscribed', 'This address asked not to be emailed by the organisation');
      if (checked.reached) throw refusals[checked.reached]();
      // Invitations go out with the mentor's own link, on the email channel.
      const { code } = await deps.codes.ensureBulkCode(caller, { mentorId, channel: 'email', campaign: input.campaign });
      const row = await invitations.insertWithinLimits({
        id: randomUUID(),
        org_id: caller.orgId,
        mentor_id: mentorId,
        referral_code_id: code.id,
        email: input.email.trim(),
        email_hash: hash,
        invitee_name: input.name ?? null,
        message: input.message ?? null,
        invited_by: caller.userId,
      }, limits);
      if (typeof row === 'string') throw refusals[row]();
      await startOrLeaveToStarter(row.id);
      return view(row);
    },

    /** A page of the invitations the caller may see, the newest first. */
    async list(caller: Caller, query: Omit<InvitationFilters, 'cursor'> & { cursor?: string }) {
      const scope = authorise(caller, 'listInvitations', query.mentorId);
      const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
      const { rows, next } = await invitations.list(caller.orgId, { ...query, cursor, mentorId: scope === 'own' ? caller.userId : query.mentorId });
      return { items: rows.map(view), nextCursor: next ? encodeCursor(next) : null };
    },

    async resend(caller: Caller, id: string) {
      const row = await ownInvitation(caller, id);
      if (row.closed_at) throw new ConflictError(NO_LONGER_OPEN);
      if (!(await invitations.mayResend(id, new Date()))) throw new ConflictError('An open invitation may be sent again once a day');
      // Its link revoked or expired since, it goes again with the mentor's live link for the same campaign.
      const link = await deps.codes.get(caller, row.referral_code_id);
      if (linkHasEnded(link)) {
        const { code } = await deps.codes.ensureBulkCode(caller, { mentorId: row.mentor_id, channel: 'email', campaign: link.campaign ?? undefined });
        await invitations.moveToCode(id, code.id);
      }
      // Not started yet (taken while Temporal did not answer): starting it sends the first email, which is the one asked for.
      if (!row.workflow_started_at) {
        await starts.start(id);
        return view(row);
      }
      // Nothing is marked until the email goes: a resend Temporal did not take in time is asked for again.
      await deps.temporal.withDeadline(Date.now() + RESEND_TIMEOUT_MS, () => deps.temporal.workflow.getHandle(invitationWorkflowId(id)).signal(resendInvitationSignal));
      return view(row);
    },

    async cancel(caller: Caller, id: string) {
      await ownInvitation(caller, id);
      const closed = await invitations.close(id, 'cancelled', new Date());
      if (!closed) throw new ConflictError(NO_LONGER_OPEN);
      return view(closed);
    },

    /** The invitee's one-click unsubscribe: no one in the organisation emails the address again. */
    async unsubscribe(token: string): Promise<boolean> {
      const named = readUnsubscribeToken(deps.hashSalt, token);
      if (!named) return false;
      await invitations.suppress(named.orgId, named.hash);
      return true;
    },
  };
}

export type InvitationService = ReturnType<typeof createInvitationService>;
