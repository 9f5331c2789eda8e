import type { Pool } from 'pg';
import { pageOf, type Cursor } from './reads';
import { withTransaction } from './transaction';

export const INVITATION_STATUSES = ['sending', 'sent', 'clicked', 'joined', 'cancelled', 'bounced', 'expired'] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];

export interface InvitationRow {
  id: string;
  org_id: string;
  mentor_id: string;
  referral_code_id: string;
  email: string | null;
  email_hash: string;
  invitee_name: string | null;
  message: string | null;
  /** The mentor, or the org admin whose upload sent it on the mentor's behalf; null on rows older than the column. */
  invited_by: string | null;
  /** When its workflow was started; null until then (Temporal out of reach when it was written). */
  workflow_started_at: Date | null;
  status: InvitationStatus;
  created_at: Date;
  sent_at: Date | null;
  last_sent_at: Date | null;
  reminded_at: Date | null;
  clicked_at: Date | null;
  joined_at: Date | null;
  closed_at: Date | null;
}

export interface InvitationFilters {
  mentorId?: string;
  status?: InvitationStatus;
  cursor?: Cursor;
  limit: number;
}

/** Invitations taken and still to be sent whose workflow no one has started yet: the starter's backlog. */
export interface InvitationBacklog {
  awaitingStart: number;
  oldestAgeSeconds: number;
}

/** An invitation with what its email needs: the mentor's name, the organisation's, the code. */
export type InvitationToSend = InvitationRow & { mentor_name: string | null; org_name: string | null; code: string; suppressed: boolean };

/** Taken and still to be sent, and no workflow started for it yet (Temporal did not answer its request in time). */
const AWAITING_START = `workflow_started_at IS NULL AND status = 'sending'`;
/** Open: the invitation may still be clicked, reminded, resent or cancelled. */
const OPEN = `status IN ('sending', 'sent', 'clicked')`;
/** A resend may go at `at` (an SQL time): the invitation open, and no email of it in the day before. */
const RESENDABLE = (at: string) => `${OPEN} AND (last_sent_at IS NULL OR last_sent_at <= ${at} - interval '1 day')`;
/** The limits an invitation is taken within: its address not held since `period`, and the mentor's own daily count. */
export interface InvitationLimits {
  period: Date;
  mentorDay?: { since: Date; max: number };
}

export type LimitReached = 'address_held' | 'daily_limit';

/**
 * What the limits count for an invitation ($1 org, $2 address hash, $3 mentor, $4 the period's start, $5 the day's):
 * whether the address is held (every invitation since, but one cancelled before its email went out, which never
 * reached the address), and how many the mentor sent themselves (an org admin's upload on their behalf is not theirs).
 */
const LIMITS_COUNTED = `EXISTS (SELECT 1 FROM invitations WHERE org_id = $1 AND email_hash = $2 AND created_at > $4 AND NOT (status = 'cancelled' AND sent_at IS NULL)) AS held,
  (SELECT count(*)::int FROM invitations WHERE org_id = $1 AND mentor_id = $3 AND created_at > $5 AND coalesce(invited_by, mentor_id) = mentor_id) AS sent`;
const limitParams = (orgId: string, emailHash: string, mentorId: string, limits: InvitationLimits) => [orgId, emailHash, mentorId, limits.period, limits.mentorDay?.since ?? limits.period];
const limitReached = (counted: { held: boolean; sent: number }, limits: InvitationLimits): LimitReached | undefined =>
  counted.held ? 'address_held' : limits.mentorDay && counted.sent >= limits.mentorDay.max ? 'daily_limit' : undefined;

export type NewInvitation = Pick<InvitationRow, 'id' | 'org_id' | 'mentor_id' | 'referral_code_id' | 'email' | 'email_hash' | 'invitee_name' | 'message' | 'invited_by'>;

export type InvitationMail = 'invitation' | 'reminder' | 'resend';

const DUE: Record<InvitationMail, string> = {
  invitation: `i.status = 'sending'`,
  reminder: `i.status = 'sent' AND i.reminded_at IS NULL`,
  // Once a day, as the API allows it: a second resend that passed the API's check before the first was marked sends nothing.
  resend: RESENDABLE('now()'),
};
const SENT: Record<InvitationMail, string> = {
  invitation: `status = 'sent', sent_at = $2, last_sent_at = $2`,
  reminder: `reminded_at = $2, last_sent_at = $2`,
  resend: `last_sent_at = $2`,
};

export function createInvitationStore(pool: Pool) {
  const one = async <T extends object>(sql: string, params: unknown[]) => (await pool.query<T>(sql, params)).rows[0];
  return {
    /** Whether the address unsubscribed, and which limit an invitation would reach now. */
    async checkLimits(orgId: string, emailHash: string, mentorId: string, limits: InvitationLimits): Promise<{ suppressed: boolean; reached?: LimitReached }> {
      const counted = await one<{ held: boolean; sent: number; suppressed: boolean }>(
        `SELECT ${LIMITS_COUNTED}, EXISTS (SELECT 1 FROM email_suppressions WHERE org_id = $1 AND email_hash = $2) AS suppressed`,
        limitParams(orgId, emailHash, mentorId, limits),
      );
      return { suppressed: counted.suppressed, reached: limitReached(counted, limits) };
    },

    /**
     * Takes the invitation within `limits`, counting requests taken meanwhile: requests for one address, and one
     * mentor's own, take turns (always the address first, so none waits in a circle). Otherwise says which is reached.
     */
    async insertWithinLimits(row: NewInvitation, limits: InvitationLimits): Promise<InvitationRow | LimitReached> {
      return withTransaction(pool, async (client) => {
        const lock = (key: string) => client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
        await lock(`invitation address ${row.org_id} ${row.email_hash}`);
        if (limits.mentorDay) await lock(`invitations by ${row.mentor_id}`);
        const counted = await client.query<{ held: boolean; sent: number }>(`SELECT ${LIMITS_COUNTED}`, limitParams(row.org_id, row.email_hash, row.mentor_id, limits));
        const reached = limitReached(counted.rows[0], limits);
        if (reached) return reached;
        const inserted = await client.query<InvitationRow>(
          `INSERT INTO invitations (id, org_id, mentor_id, referral_code_id, email, email_hash, invitee_name, message, invited_by, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sending') RETURNING *`,
          [row.id, row.org_id, row.mentor_id, row.referral_code_id, row.email, row.email_hash, row.invitee_name, row.message, row.invited_by],
        );
        return inserted.rows[0];
      });
    },

    byId: (id: string) => one<InvitationRow>('SELECT * FROM invitations WHERE id = $1', [id]),

    async markStarted(id: string, now: Date): Promise<void> {
      await pool.query('UPDATE invitations SET workflow_started_at = $2 WHERE id = $1 AND workflow_started_at IS NULL', [id, now]);
    },

    async backlog(): Promise<InvitationBacklog> {
      const result = await pool.query<{ awaiting: number; oldest_age_seconds: number | null }>(
        `SELECT count(*)::int AS awaiting, extract(epoch FROM now() - min(created_at))::float8 AS oldest_age_seconds
         FROM invitations WHERE ${AWAITING_START}`,
      );
      const row = result.rows[0];
      return { awaitingStart: row.awaiting, oldestAgeSeconds: Math.max(0, row.oldest_age_seconds ?? 0) };
    },

    /** Invitations written before `writtenBefore`, still to be sent, whose workflow was never started; the oldest first. */
    async awaitingStart(writtenBefore: Date, limit: number): Promise<string[]> {
      const result = await pool.query<{ id: string }>(
        `SELECT id FROM invitations WHERE ${AWAITING_START} AND created_at < $1 ORDER BY created_at LIMIT $2`,
        [writtenBefore, limit],
      );
      return result.rows.map((row) => row.id);
    },

    /** A page, the newest first, from after `cursor` (the last row of the page before). */
    list: async (orgId: string, filters: InvitationFilters) =>
      pageOf(
        (
          await pool.query<InvitationRow>(
          `SELECT * FROM invitations WHERE org_id = $1 AND ($2::uuid IS NULL OR mentor_id = $2) AND ($3::text IS NULL OR status = $3)
             AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
           ORDER BY created_at DESC, id DESC LIMIT $6`,
            [orgId, filters.mentorId ?? null, filters.status ?? null, filters.cursor?.createdAt ?? null, filters.cursor?.id ?? null, filters.limit + 1],
          )
        ).rows,
        filters.limit,
      ),

    /**
     * The invitation's next email if it is due: the first (while sending), the reminder (once, while sent and not
     * clicked), a resend (while open, a day after the last email). Sent, it is marked (`markSent`): a retry after a crash between the two sends it
     * again, with the same Message-ID.
     */
    async dueToSend(id: string, kind: InvitationMail): Promise<InvitationToSend | undefined> {
      return one<InvitationToSend>(
        `SELECT i.*, u.display_name AS mentor_name, o.name AS org_name, c.code,
           EXISTS (SELECT 1 FROM email_suppressions s WHERE s.org_id = i.org_id AND s.email_hash = i.email_hash) AS suppressed
         FROM invitations i JOIN users u ON u.org_id = i.org_id AND u.id = i.mentor_id JOIN organisations o ON o.id = i.org_id
           JOIN referral_codes c ON c.id = i.referral_code_id
         -- Never a link that no longer works: a resend first moves the invitation to a live one.
         WHERE i.id = $1 AND i.email IS NOT NULL AND ${DUE[kind]} AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now())`,
        [id],
      );
    },

    async markSent(id: string, kind: InvitationMail, now: Date): Promise<void> {
      await pool.query(`UPDATE invitations i SET ${SENT[kind]} WHERE i.id = $1 AND ${DUE[kind]}`, [id, now]);
    },

    /** A resend asked for: allowed once a day, while open. */
    async mayResend(id: string, now: Date): Promise<boolean> {
      const row = await one<{ ok: boolean }>(`SELECT (${RESENDABLE('$2::timestamptz')}) AS ok FROM invitations WHERE id = $1`, [id, now]);
      return row?.ok ?? false;
    },

    /** The invitation ends (cancelled, expired, bounced) and its address is dropped; a final status stays as it is. */
    async close(id: string, status: 'cancelled' | 'expired' | 'bounced', now: Date): Promise<InvitationRow | undefined> {
      return one<InvitationRow>(
        `UPDATE invitations SET status = CASE WHEN status = 'clicked' AND $2 = 'expired' THEN 'clicked' ELSE $2 END, closed_at = $3, email = NULL
         WHERE id = $1 AND ${OPEN} RETURNING *`,
        [id, status, now],
      );
    },

    /** The invitation's emails carry this code from now on (its own was revoked or expired). */
    async moveToCode(id: string, referralCodeId: string): Promise<void> {
      await pool.query('UPDATE invitations SET referral_code_id = $2 WHERE id = $1', [id, referralCodeId]);
    },

    /** The invitation's link was opened (a person's click, on the invitation's own code). */
    async markClicked(id: string, referralCodeId: string, now: Date): Promise<void> {
      await pool.query(
        `UPDATE invitations SET clicked_at = coalesce(clicked_at, $3), status = CASE WHEN status IN ('sending', 'sent') THEN 'clicked' ELSE status END
         WHERE id = $1 AND referral_code_id = $2`,
        [id, referralCodeId, now],
      );
    },

    async suppress(orgId: string, emailHash: string): Promise<void> {
      await pool.query('INSERT INTO email_suppressions (org_id, email_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING', [orgId, emailHash]);
      await pool.query(`UPDATE invitations SET status = 'cancelled', closed_at = now(), email = NULL WHERE org_id = $1 AND email_hash = $2 AND ${OPEN}`, [orgId, emailHash]);
    },
  };
}

export type InvitationStore = ReturnType<typeof createInvitationStore>;
