import type { Pool } from 'pg';
import { CONFIRMABLE_STATUSES } from '../domain/journey';
import type { OrgSettings } from '../domain/referral';
import type { ReferralRow } from './referrals';
import { withOrgScope } from './scoped';
import { sqlList } from './transaction';

/** A referral code with its organisation's settings. */
export interface CodeRow {
  id: string;
  code: string;
  mentor_id: string;
  org_id: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  attribution_window_seconds: number;
  confirmation_window_seconds: number;
  dedupe_window_seconds: number;
  badge_milestones: number[];
}

/** What a click's checks and its landing page need, in the one read every click pays for. */
export interface ClickCodeRow extends CodeRow {
  default_channel: string | null;
  mentor_name: string | null;
  org_name: string | null;
  /** The organisation's welcome reward for a referred member, named on the invite page. */
  welcome_reward: string | null;
  known_mentor_device: boolean;
  clicks_last_minute: number;
}

/** What a registration's matching starts from, in the one read every webhook pays for. */
export interface ConfirmationCodeRow extends CodeRow {
  /** The member's confirmed referral in the organisation, as a row in JSON. */
  attribution: ReferralRow | null;
  /** The visitor of the latest referral on this code the app reported the member's account on (rule 4(a)). */
  reported_visitor_hash: string | null;
  /** The member has a referral on this code already, whatever became of it (reversed by a cancellation, say). */
  member_known: boolean;
  /** When the member last cancelled their membership in the organisation, if ever. */
  cancelled_at: Date | null;
}

/** A `referral_codes` row as its owners manage it. */
export interface ReferralCodeRow {
  id: string;
  code: string;
  mentor_id: string;
  org_id: string;
  campaign: string | null;
  default_channel: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
  bulk_key: string | null;
}

export interface NewCodeRow {
  id: string;
  code: string;
  mentorId: string;
  orgId: string;
  campaign: string | null;
  channel: string | null;
  expiresAt: string | null;
  bulkKey: string | null;
}

/** Where rule 4(b)'s pick stands: a referral with a row, or a click still in the intake. */
export interface MatchCandidate {
  visitor_hash: string | null;
  is_direct: boolean;
  referral_id: string;
  workflow_id: string;
}

export const settingsOf = (row: CodeRow): OrgSettings => ({
  attributionWindowSeconds: row.attribution_window_seconds,
  confirmationWindowSeconds: row.confirmation_window_seconds,
  dedupeWindowSeconds: row.dedupe_window_seconds,
  badgeMilestones: row.badge_milestones,
});

export const CODE_COLUMNS = `c.id, c.code, c.mentor_id, c.org_id, c.expires_at, c.revoked_at,
  o.attribution_window_seconds, o.confirmation_window_seconds, o.dedupe_window_seconds, o.badge_milestones`;
export const CODE_FROM = 'FROM referral_codes c JOIN organisations o ON o.id = c.org_id';

/** Rule 4(a): the visitor of the latest referral on the code `codeIdSql` names that the app reported member $2's account on, still open. */
const REPORTED_VISITOR_SQL = (codeIdSql: string) => `SELECT l.visitor_hash FROM referral_member_links l LEFT JOIN referrals r ON r.id = l.referral_id
  WHERE l.referral_code_id = ${codeIdSql} AND l.new_member_id = $2
    AND (r.id IS NULL OR r.status IN (${sqlList([...CONFIRMABLE_STATUSES, 'confirmed'])}))
  ORDER BY l.linked_at DESC LIMIT 1`;

/**
 * The clicks taken on a code in the minute before `now`, counted up to `limit`: a busy code's every click then pays for
 * a bounded range of the index, not for its whole minute.
 */
export const RECENT_CLICKS_SQL = (codeId: string, now: string, limit: string) => `SELECT count(*)::int FROM (
    SELECT 1 FROM intake i WHERE i.referral_code_id = ${codeId} AND i.kind = 'click' AND i.received_at > ${now}::timestamptz - interval '1 minute'
    LIMIT ${limit}) recent`;

/** The limits clicks are counted against, per minute: the client's network's and the code's. */
export interface ClickLimits {
  perNetwork: number;
  perCode: number;
}

/** Where a click stands against its limits: over one, and when its minute ends. */
export interface ClickLimitCount {
  over: boolean;
  resetsInMs: number;
}

export const LIMIT_WINDOW_MS = 60_000;

/**
 * The counters of `rate_limits` that `counted` (rows of key, k) name, each taking k more, its minute started again
 * when it has passed (`expire`: the new minute's end, `now`, both in ms); in key order, so two statements counting
 * the same keys wait for each other rather than deadlock. Counters shared by every API process.
 */
export const COUNT_SQL = (counted: string, expire: string, now: string) => `INSERT INTO rate_limits AS l (key, points, expire)
  SELECT key, k, ${expire} FROM ${counted} ORDER BY key
  ON CONFLICT (key) DO UPDATE SET points = CASE WHEN l.expire <= ${now} THEN EXCLUDED.points ELSE l.points + EXCLUDED.points END,
    expire = CASE WHEN l.expire <= ${now} THEN ${expire} ELSE l.expire END
  RETURNING key, points, expire`;

/** The codes aggregate as the journey reads it. */
export function createCodeStore(pool: Pool) {
  /** The first row `sql` finds, if any; `name` prepares it once per connection, for a statement every webhook runs. */
  async function first<T extends object>(sql: string, params: unknown[], name?: string): Promise<T | undefined> {
    return (await pool.query<T>({ text: sql, values: params, name })).rows[0];
  }

  return {
    /** The code's clicks in the minute before `now`, counted up to `countUpTo`. */
    async clicksLastMinute(codeId: string, now: Date, countUpTo: number): Promise<number> {
      return (await first<{ n: number }>(`SELECT (${RECENT_CLICKS_SQL('$1', '$2', '$3')}) AS n`, [codeId, now, countUpTo]))?.n ?? 0;
    },

    /** A registration's code with everything its match reads of the member: a webhook's one round trip for them. */
    forConfirmation(code: string, newMemberId: string): Promise<ConfirmationCodeRow | undefined> {
      return first<ConfirmationCodeRow>(
        `SELECT ${CODE_COLUMNS},
           (SELECT to_jsonb(r) || jsonb_build_object('code', c.code) FROM referrals r
            WHERE r.org_id = c.org_id AND r.new_member_id = $2 AND r.status = 'confirmed') AS attribution,
           (${REPORTED_VISITOR_SQL('c.id')}) AS reported_visitor_hash,
           EXISTS (SELECT 1 FROM referral_member_links l WHERE l.referral_code_id = c.id AND l.new_member_id = $2)
             OR EXISTS (SELECT 1 FROM referrals r WHERE r.org_id = c.org_id AND r.new_member_id = $2 AND r.referral_code_id = c.id) AS member_known,
           (SELECT m.cancelled_at FROM member_cancellations m WHERE m.org_id = c.org_id AND m.new_member_id = $2) AS cancelled_at
         ${CODE_FROM} WHERE c.code = $1`,
        [code, newMemberId],
        'codes.for-confirmation',
      );
    },

    /** Whose invitation a code is, for a link's preview: nothing is recorded. */
    inviterOf(code: string): Promise<(CodeRow & Pick<ClickCodeRow, 'mentor_name' | 'org_name' | 'welcome_reward'>) | undefined> {
      return first(`SELECT ${CODE_COLUMNS}, u.display_name AS mentor_name, o.name AS org_name, o.welcome_reward ${CODE_FROM} JOIN users u ON u.org_id = c.org_id AND u.id = c.mentor_id WHERE c.code = $1`, [code]);
    },

    byCode(code: string): Promise<CodeRow | undefined> {
      return first<CodeRow>(`SELECT ${CODE_COLUMNS} ${CODE_FROM} WHERE c.code = $1`, [code]);
    },

    byId(id: string): Promise<CodeRow | undefined> {
      return first<CodeRow>(`SELECT ${CODE_COLUMNS} ${CODE_FROM} WHERE c.id = $1`, [id]);
    },

    async reportedVisitor(codeId: string, newMemberId: string): Promise<string | null> {
      return (await first<{ visitor_hash: string }>(REPORTED_VISITOR_SQL('$1'), [codeId, newMemberId]))?.visitor_hash ?? null;
    },

    /**
     * Rule 4(b): the last clicked referral on the code that no other member has claimed, or one already confirmed for
     * this member; a click whose workflow has not written its referral yet (in the intake, delivered or not) is a
     * referral too. `passedOver` were claimed after they were picked.
     */
    matchCandidate(codeId: string, newMemberId: string, passedOver: string[]): Promise<MatchCandidate | undefined> {
      const unclaimed = (id: string) => `NOT EXISTS (SELECT 1 FROM referral_member_links l WHERE l.referral_id = ${id})`;
      const newestFirst = (clickedAt: string, id: string) => `ORDER BY ${clickedAt} DESC, ${id} LIMIT 1`;
      // The newest of each kind, each from its index, then the best of those three: a code's open referrals are not
      // read one by one, however many it has.
      return first<MatchCandidate>(
        `SELECT visitor_hash, is_direct, referral_id, workflow_id FROM (
           (SELECT r.visitor_hash, r.is_direct, r.id AS referral_id, r.workflow_id, r.last_click_at AS clicked_at, true AS linked
            FROM referrals r
            WHERE r.referral_code_id = $1 AND r.new_member_id = $2 AND r.id <> ALL ($3::uuid[])
              AND r.status IN (${sqlList([...CONFIRMABLE_STATUSES, 'confirmed'])})
            ${newestFirst('r.last_click_at', 'r.id')})
           UNION ALL
           (SELECT r.visitor_hash, r.is_direct, r.id, r.workflow_id, r.last_click_at, false
            FROM referrals r
            WHERE r.referral_code_id = $1 AND r.new_member_id IS NULL AND r.id <> ALL ($3::uuid[])
              AND r.status IN (${sqlList(CONFIRMABLE_STATUSES)}) AND ${unclaimed('r.id')}
            ${newestFirst('r.last_click_at', 'r.id')})
           UNION ALL
           (SELECT i.visitor_hash, false, i.referral_id, i.workflow_id, i.received_at, false
            FROM intake i
            WHERE i.referral_code_id = $1 AND i.kind = 'click' AND i.referral_id <> ALL ($3::uuid[])
              AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.id = i.referral_id) AND ${unclaimed('i.referral_id')}
            ${newestFirst('i.received_at', 'i.referral_id')})
         ) candidates
         ORDER BY linked DESC, clicked_at DESC, referral_id
         LIMIT 1`,
        [codeId, newMemberId, passedOver],
      );
    },

    async rememberMentorDevice(mentorId: string, orgId: string, visitorHash: string): Promise<void> {
      await pool.query('INSERT INTO mentor_devices (mentor_id, org_id, visitor_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [mentorId, orgId, visitorHash]);
    },

    /** A new code; nothing when its code text is taken (drawn again by the caller). */
    insert(code: NewCodeRow): Promise<ReferralCodeRow | undefined> {
      return first<ReferralCodeRow>(
        `INSERT INTO referral_codes (id, code, mentor_id, org_id, campaign, default_channel, expires_at, bulk_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code) DO NOTHING
         RETURNING *`,
        [code.id, code.code, code.mentorId, code.orgId, code.campaign, code.channel, code.expiresAt, code.bulkKey],
      );
    },

    ofOrg(id: string, orgId: string): Promise<ReferralCodeRow | undefined> {
      return first<ReferralCodeRow>('SELECT * FROM referral_codes WHERE id = $1 AND org_id = $2', [id, orgId]);
    },

    byBulkKey(orgId: string, mentorId: string, bulkKey: string): Promise<ReferralCodeRow | undefined> {
      return first<ReferralCodeRow>('SELECT * FROM referral_codes WHERE org_id = $1 AND mentor_id = $2 AND bulk_key = $3', [orgId, mentorId, bulkKey]);
    },

    /** An ended code gives up its (mentor, campaign) pair: the next invitation or upload makes a new code for it. */
    async releaseBulkKey(id: string): Promise<void> {
      await pool.query('UPDATE referral_codes SET bulk_key = NULL WHERE id = $1', [id]);
    },

    /** The organisation's codes (a mentor's, when given), newest first, read under the organisation's row-level scope. */
    list(orgId: string, mentorId: string | undefined): Promise<ReferralCodeRow[]> {
      return withOrgScope(pool, orgId, async (client) =>
        (
          await client.query<ReferralCodeRow>(
            `SELECT * FROM referral_codes WHERE org_id = $1 AND ($2::uuid IS NULL OR mentor_id = $2) ORDER BY created_at DESC, id LIMIT 500`,
            [orgId, mentorId ?? null],
          )
        ).rows,
      );
    },

    async revoke(id: string): Promise<ReferralCodeRow> {
      return (await first<ReferralCodeRow>('UPDATE referral_codes SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING *', [id]))!;
    },

    async clicksLastWeek(codeId: string, now: Date): Promise<number> {
      const result = await first<{ clicks: number }>(
        `SELECT count(*)::int AS clicks FROM click_events WHERE referral_code_id = $1 AND occurred_at > $2::timestamptz - interval '7 days'`,
        [codeId, now],
      );
      return result?.clicks ?? 0;
    },
  };
}

export type CodeStore = ReturnType<typeof createCodeStore>;
