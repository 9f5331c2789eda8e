import type { Pool } from 'pg';

export type NotificationKind = 'recruit_confirmed' | 'milestone';
export type NotificationDelivery = 'each' | 'weekly_digest' | 'none';
export type NotificationOutcome = 'sent' | 'digested' | 'not_wanted' | 'no_address';

export interface OpenNotification {
  id: string;
  kind: NotificationKind;
  detail: { confirmedAt?: string; milestone?: number; confirmedCount?: number };
  created_at: Date;
}

/** A mentor's open notifications, with what a message to them needs. */
export interface MentorInbox {
  org_id: string;
  mentor_id: string;
  email: string | null;
  display_name: string | null;
  org_name: string | null;
  delivery: NotificationDelivery;
  notifications: OpenNotification[];
}

/** A claim older than this belongs to a sender that died before it settled; another may take the message over. */
const CLAIM_LEASE = '5 minutes';
const DIGEST_EVERY = '7 days';

const INBOX_COLUMNS = `u.org_id, u.id AS mentor_id, u.email, u.display_name, o.name AS org_name, coalesce(p.delivery, 'each') AS delivery`;
const INBOX_FROM = `users u JOIN organisations o ON o.id = u.org_id LEFT JOIN notification_preferences p ON p.org_id = u.org_id AND p.mentor_id = u.id`;

/** The mentors' notifications: written by triggers with what they tell of, claimed and settled by the notifier. */
export function createNotificationStore(pool: Pool) {
  return {
    /**
     * Claims the open notifications of mentors who get each one as it comes (or want none, or have no address: those
     * are settled without a message), up to `limit` mentors at a time. Several notifiers share them (SKIP LOCKED).
     */
    async claimImmediate(limit: number, now: Date): Promise<MentorInbox[]> {
      const result = await pool.query<MentorInbox>(
        `WITH claimed AS (
           UPDATE mentor_notifications n SET claimed_at = $2, attempts = attempts + 1
           WHERE n.id IN (
             SELECT m.id FROM mentor_notifications m LEFT JOIN notification_preferences p ON p.org_id = m.org_id AND p.mentor_id = m.mentor_id
             WHERE m.outcome IS NULL AND coalesce(p.delivery, 'each') <> 'weekly_digest'
               AND (m.claimed_at IS NULL OR m.claimed_at < $2::timestamptz - interval '${CLAIM_LEASE}')
             ORDER BY m.created_at LIMIT $1 FOR UPDATE OF m SKIP LOCKED)
           RETURNING n.id, n.org_id, n.mentor_id, n.kind, n.detail, n.created_at)
         SELECT ${INBOX_COLUMNS}, jsonb_agg(jsonb_build_object('id', c.id, 'kind', c.kind, 'detail', c.detail, 'created_at', c.created_at) ORDER BY c.created_at) AS notifications
         FROM claimed c JOIN ${INBOX_FROM} ON u.org_id = c.org_id AND u.id = c.mentor_id
         GROUP BY u.org_id, u.id, u.email, u.display_name, o.name, p.delivery`,
        [limit, now],
      );
      return result.rows;
    },

    /** Claims the open notifications of one mentor whose weekly digest is due. */
    async claimDigest(now: Date): Promise<MentorInbox | undefined> {
      const result = await pool.query<MentorInbox>(
        `WITH due AS (
           SELECT p.org_id, p.mentor_id FROM notification_preferences p
           WHERE p.delivery = 'weekly_digest' AND (p.last_digest_at IS NULL OR p.last_digest_at <= $1::timestamptz - interval '${DIGEST_EVERY}')
             AND EXISTS (SELECT 1 FROM mentor_notifications m WHERE m.org_id = p.org_id AND m.mentor_id = p.mentor_id AND m.outcome IS NULL)
           ORDER BY p.last_digest_at NULLS FIRST LIMIT 1 FOR UPDATE OF p SKIP LOCKED),
         stamped AS (UPDATE notification_preferences p SET last_digest_at = $1 FROM due WHERE p.org_id = due.org_id AND p.mentor_id = due.mentor_id RETURNING p.org_id, p.mentor_id),
         claimed AS (
           UPDATE mentor_notifications n SET claimed_at = $1, attempts = attempts + 1 FROM stamped
           WHERE n.org_id = stamped.org_id AND n.mentor_id = stamped.mentor_id AND n.outcome IS NULL
           RETURNING n.id, n.org_id, n.mentor_id, n.kind, n.detail, n.created_at)
         SELECT ${INBOX_COLUMNS}, jsonb_agg(jsonb_build_object('id', c.id, 'kind', c.kind, 'detail', c.detail, 'created_at', c.created_at) ORDER BY c.created_at) AS notifications
         FROM claimed c JOIN ${INBOX_FROM} ON u.org_id = c.org_id AND u.id = c.mentor_id
         GROUP BY u.org_id, u.id, u.email, u.display_name, o.name, p.delivery`,
        [now],
      );
      return result.rows[0];
    },

    async settle(ids: string[], outcome: NotificationOutcome, now: Date): Promise<void> {
      await pool.query('UPDATE mentor_notifications SET outcome = $2, settled_at = $3 WHERE id = ANY($1::uuid[]) AND outcome IS NULL', [ids, outcome, now]);
    },

    /** A claim given back (the mail server refused for now): the next round tries again. */
    async release(ids: string[]): Promise<void> {
      await pool.query('UPDATE mentor_notifications SET claimed_at = NULL WHERE id = ANY($1::uuid[]) AND outcome IS NULL', [ids]);
    },

    async deliveryOf(orgId: string, mentorId: string): Promise<NotificationDelivery> {
      const result = await pool.query<{ delivery: NotificationDelivery }>('SELECT delivery FROM notification_preferences WHERE org_id = $1 AND mentor_id = $2', [orgId, mentorId]);
      return result.rows[0]?.delivery ?? 'each';
    },

    async digestDueAgain(orgId: string, mentorId: string): Promise<void> {
      await pool.query('UPDATE notification_preferences SET last_digest_at = NULL WHERE org_id = $1 AND mentor_id = $2', [orgId, mentorId]);
    },

    /** A digest chosen today comes a week from now, with what happened meanwhile. */
    async setDelivery(mentorId: string, orgId: string, delivery: NotificationDelivery, now: Date): Promise<void> {
      await pool.query(
        `INSERT INTO notification_preferences (mentor_id, org_id, delivery, last_digest_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, mentor_id) DO UPDATE SET delivery = EXCLUDED.delivery, updated_at = now(),
           last_digest_at = coalesce(notification_preferences.last_digest_at, EXCLUDED.last_digest_at)`,
        [mentorId, orgId, delivery, now],
      );
    },
  };
}

export type NotificationStore = ReturnType<typeof createNotificationStore>;
