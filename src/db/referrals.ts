import type { Pool } from 'pg';
import { FUNNEL_STAGES, type AttributionStatus, type FunnelStage, type FunnelStep } from '../domain/funnel';
import { CANCELLABLE_STATUSES, CONFIRMABLE_STATUSES, DECIDED_FOR_MEMBER, STATUS_RULES, SUPERSEDED_KEY_PREFIX, type StoredClick, type StoredProgress } from '../domain/journey';
import type { BadgeAward, ReferralEventInput, ReferralSnapshot, StoredReferral } from '../domain/referral';
import { sqlList, withTransaction } from './transaction';

/** An erased referral whose runs Temporal may still hold, and since when (exactly, as Postgres wrote it). */
export interface ErasedRuns {
  referralId: string;
  workflowId: string;
  pendingSince: string;
}

/** Erasures whose runs Temporal may still hold, for operators: how many, and how long the oldest has waited. */
export interface ErasureBacklog {
  runsPending: number;
  oldestAgeSeconds: number;
}

/** A `referrals` row, read as such (Dates) or as JSON (ISO strings); `code` when joined to its code. */
export interface ReferralRow {
  id: string;
  org_id: string;
  referral_code_id: string;
  mentor_id: string;
  workflow_id: string;
  visitor_hash: string | null;
  is_direct: boolean;
  stage: FunnelStage;
  implied_steps: FunnelStep[];
  status: AttributionStatus;
  stuck: boolean;
  new_member_id: string | null;
  clicked_at: Date | string;
  last_click_at: Date | string;
  installed_at: Date | string | null;
  account_created_at: Date | string | null;
  first_login_at: Date | string | null;
  confirmed_at: Date | string | null;
  ended_at: Date | string | null;
  flag_reason: string | null;
  code?: string;
}

const iso = (value: Date | string | null): string | null => (value ? new Date(value).toISOString() : null);

/** The one mapper from a referral's row to its snapshot. */
export function snapshotFromRow(row: ReferralRow): ReferralSnapshot {
  return {
    referralId: row.id,
    workflowId: row.workflow_id,
    orgId: row.org_id,
    mentorId: row.mentor_id,
    referralCodeId: row.referral_code_id,
    code: row.code ?? '',
    visitorHash: row.visitor_hash,
    direct: row.is_direct,
    stage: row.stage,
    impliedSteps: row.implied_steps,
    status: row.status,
    stuck: row.stuck,
    newMemberId: row.new_member_id,
    clickedAt: iso(row.clicked_at)!,
    lastClickAt: iso(row.last_click_at)!,
    installedAt: iso(row.installed_at),
    accountCreatedAt: iso(row.account_created_at),
    firstLoginAt: iso(row.first_login_at),
    confirmedAt: iso(row.confirmed_at),
    endedAt: iso(row.ended_at),
    flagReason: row.flag_reason,
  };
}

const STAGE_ORDER = `ARRAY[${sqlList(FUNNEL_STAGES)}]`;
/** The write comes from a run that knows less of the journey than the row already holds. */
const WRITE_IS_BEHIND = `array_position(${STAGE_ORDER}, EXCLUDED.stage) < array_position(${STAGE_ORDER}, r.stage)`;
/** Columns of the journey so far: a write from behind leaves them as they stand. */
const JOURNEY_COLUMNS = ['stage', 'implied_steps', 'new_member_id', 'installed_at', 'account_created_at', 'first_login_at', 'confirmed_at'];
const ATTRIBUTION_COLUMNS = ['status', 'stuck', 'clicked_at', 'last_click_at', 'ended_at', 'flag_reason'];
/** The moves `STATUS_RULES` allows, as `from>to`. */
const ALLOWED_MOVES = sqlList(Object.entries(STATUS_RULES).flatMap(([from, rule]) => rule.next.map((to) => `${from}>${to}`)));

/**
 * The referral's row written from its workflow's snapshot ($1-$20, in `referralParams` order), returning the stored
 * status and stage. The status moves only as `STATUS_RULES` allows, and the steps reached stay reached: a run replaying
 * a history that lost an attempt's task writes an earlier state again, and another confirmation may have superseded
 * the referral meanwhile. Such a write changes nothing and returns nothing, unless it changes the status (a
 * supersession, an expiry): then the status is written and the journey so far is kept.
 */
const UPSERT_REFERRAL_SQL = `INSERT INTO referrals AS r (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, is_direct,
       stage, implied_steps, status, stuck, new_member_id, clicked_at, last_click_at, installed_at,
       account_created_at, first_login_at, confirmed_at, ended_at, flag_reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
     ON CONFLICT (id) DO UPDATE SET
       ${JOURNEY_COLUMNS.map((column) => `${column} = CASE WHEN ${WRITE_IS_BEHIND} THEN r.${column} ELSE EXCLUDED.${column} END`).join(',\n       ')},
       ${ATTRIBUTION_COLUMNS.map((column) => `${column} = EXCLUDED.${column}`).join(', ')},
       updated_at = now()
     WHERE (r.status = EXCLUDED.status OR r.status || '>' || EXCLUDED.status IN (${ALLOWED_MOVES}))
       AND (NOT ${WRITE_IS_BEHIND} OR EXCLUDED.status <> r.status)
     RETURNING status, stage`;

const referralParams = (s: ReferralSnapshot): unknown[] => [
  s.referralId, s.orgId, s.referralCodeId, s.mentorId, s.workflowId, s.visitorHash, s.direct,
  s.stage, s.impliedSteps, s.status, s.stuck, s.newMemberId, s.clickedAt, s.lastClickAt, s.installedAt,
  s.accountCreatedAt, s.firstLoginAt, s.confirmedAt, s.endedAt, s.flagReason ?? null,
];

const INSERT_EVENT_SQL = 'INSERT INTO referral_events (referral_id, org_id, type, stage, detail, idempotency_key, occurred_at, status)';

/**
 * A journey event, once per idempotency key: $first.. in `eventParams` order; `status` is an SQL expression.
 * `from` makes it conditional: the event is written once per row of that FROM clause.
 */
const appendEventSql = (first: number, status: string, from = '') =>
  `${INSERT_EVENT_SQL}
   SELECT $${first}::uuid, $${first + 1}::uuid, $${first + 2}::text, $${first + 3}::text, $${first + 4}::jsonb, $${first + 5}::text,
     $${first + 6}::timestamptz, ${status} ${from}
   ON CONFLICT (idempotency_key) DO NOTHING`;

const eventParams = (snapshot: ReferralSnapshot, event: ReferralEventInput): unknown[] => [
  snapshot.referralId,
  snapshot.orgId,
  event.type,
  snapshot.stage,
  event.detail ?? {},
  event.idempotencyKey,
  event.occurredAt,
];

/**
 * For the event's record: the status after the upsert named `saved`, the one written or the one that stood. A
 * status that stood is read as of the statement's start; what the write answers is read afresh (`storedProgress`).
 */
const STATUS_AFTER_SQL = `coalesce((SELECT status FROM saved), (SELECT status FROM referrals WHERE id = $1))`;

// The referral ($1-$20), its event ($21-$27, recording the status stored) and, when a click brought it, the
// click ($28-$34) in one statement: one round trip and no transaction held open between them.
const persistReferralSql = (withClick: boolean) => `WITH saved AS (${UPSERT_REFERRAL_SQL}),
  event AS (${appendEventSql(21, STATUS_AFTER_SQL)})${
    withClick
      ? `,
  click AS (
    INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at,
      visitor_hash, ip_hash, user_agent, device_metadata, is_duplicate, is_implicit)
    VALUES ($28, $3, $1, $4, $2, $29, $6, $30, $31, $32, $33, $34)
    ON CONFLICT (id) DO NOTHING)`
      : ''
  }
  SELECT (SELECT status FROM saved) AS status, (SELECT stage FROM saved) AS stage`;
const PERSIST_REFERRAL_SQL = persistReferralSql(false);
const PERSIST_CLICKED_REFERRAL_SQL = persistReferralSql(true);

/**
 * The referral confirmed ($1-$20), its event ($21-$27) and the member's other open referrals superseded with an
 * event each, in one statement. No lock is taken first: the partial unique indexes admit one confirmed referral
 * per member, so a confirmation meeting another one fails as a whole with a unique violation.
 */
const CONFIRM_REFERRAL_SQL = `WITH saved AS (${UPSERT_REFERRAL_SQL}),
  confirmed AS (SELECT 1 FROM saved WHERE status = 'confirmed'),
  event AS (${appendEventSql(21, `'confirmed'`, 'FROM confirmed')}),
  superseded AS (
    UPDATE referrals SET status = 'superseded', stuck = false, ended_at = $27, updated_at = now()
    WHERE org_id = $2 AND id <> $1 AND status IN (${sqlList(CONFIRMABLE_STATUSES)})
      AND (new_member_id = $12 OR (visitor_hash IS NOT NULL AND visitor_hash = $6))
      AND EXISTS (SELECT 1 FROM confirmed)
    RETURNING id, org_id, stage, workflow_id),
  superseded_events AS (
    ${INSERT_EVENT_SQL}
    SELECT id, org_id, 'superseded', stage, jsonb_build_object('byReferralId', $1::text),
      concat_ws(':', '${SUPERSEDED_KEY_PREFIX}', id, $1::text), $27, 'superseded'
    FROM superseded
    ON CONFLICT (idempotency_key) DO NOTHING)
  SELECT (SELECT status FROM saved) AS status,
    coalesce((SELECT array_agg(workflow_id) FROM superseded), '{}') AS superseded_workflow_ids`;

const ONE_CONFIRMATION_PER_MEMBER = ['referrals_one_confirmation_per_member', 'referrals_code_member_unique'];

/**
 * Whether another confirmation of the same member stood in this one's way: a unique violation of the one
 * confirmation per member, or a deadlock with a confirmation superseding this referral while this one
 * supersedes it. Either way the statement changed nothing and may be run again.
 */
export const metAnotherConfirmation = (error: unknown): boolean => {
  const { code, constraint } = error as { code?: string; constraint?: string };
  return (code === '23505' && ONE_CONFIRMATION_PER_MEMBER.includes(constraint ?? '')) || code === '40P01';
};

// A claim older than this belongs to a run that died before delivering; another may take it over.
const BADGE_CLAIM_LEASE = '10 minutes';

/** Clicks a run loads the ids of, to recognise one delivered again. */
const SEEN_CLICKS_LOADED = 200;

/**
 * Every column `snapshotFromRow` reads, by name (the type keeps the list whole): a statement prepared under a name
 * keeps the columns it had, and one reading `r.*` would fail once a migration added a column.
 */
const REFERRAL_ROW_COLUMNS: Record<Exclude<keyof ReferralRow, 'code'>, true> = {
  id: true,
  org_id: true,
  referral_code_id: true,
  mentor_id: true,
  workflow_id: true,
  visitor_hash: true,
  is_direct: true,
  stage: true,
  implied_steps: true,
  status: true,
  stuck: true,
  new_member_id: true,
  clicked_at: true,
  last_click_at: true,
  installed_at: true,
  account_created_at: true,
  first_login_at: true,
  confirmed_at: true,
  ended_at: true,
  flag_reason: true,
};
const REFERRAL_COLUMNS = Object.keys(REFERRAL_ROW_COLUMNS)
  .map((column) => `r.${column}`)
  .join(', ');

const REFERRAL_WITH_CODE = `SELECT ${REFERRAL_COLUMNS}, c.code FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id`;

/** What names a referral's workflow: its code and the visitor's key. */
interface MemberReferralKeyRow {
  referral_code_id: string;
  visitor_hash: string;
  /** Its first click, once the referral is in the read model. */
  clicked_at: Date | null;
}

interface BadgeAwardRow {
  id: string;
  mentor_id: string;
  org_id: string;
  milestone: number;
  confirmed_count: number;
  awarded_at: Date;
}

/** The referrals aggregate: the journey's rows, its events, its clicks, and the badges its confirmations earn. */
export function createReferralStore(pool: Pool) {
  async function storedProgress(referralId: string): Promise<StoredProgress> {
    return (await pool.query<StoredProgress>({ name: 'referrals.stored-progress', text: 'SELECT status, stage FROM referrals WHERE id = $1', values: [referralId] })).rows[0];
  }

  /** The referral `sql` finds, if any; `name` prepares it once per connection, for a statement every webhook runs. */
  const one = async (sql: string, params: unknown[], name?: string) => {
    const row = (await pool.query<ReferralRow>({ text: sql, values: params, name })).rows[0];
    return row ? snapshotFromRow(row) : undefined;
  };

  return {
    async load(referralId: string): Promise<StoredReferral | null> {
      const result = await pool.query<ReferralRow & { counted_click_times: Date[]; duplicate_clicks: number; click_ids: string[] }>({
        name: 'referrals.load',
        text: `SELECT ${REFERRAL_COLUMNS}, c.code,
           coalesce((SELECT array_agg(e.occurred_at ORDER BY e.occurred_at) FROM click_events e WHERE e.referral_id = r.id AND NOT e.is_duplicate), '{}') AS counted_click_times,
           (SELECT count(*) FROM click_events e WHERE e.referral_id = r.id AND e.is_duplicate) AS duplicate_clicks,
           coalesce((SELECT array_agg(latest.id::text ORDER BY latest.occurred_at) FROM
             (SELECT e.id, e.occurred_at FROM click_events e WHERE e.referral_id = r.id ORDER BY e.occurred_at DESC LIMIT ${SEEN_CLICKS_LOADED}) latest), '{}') AS click_ids
         FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id
         WHERE r.id = $1`,
        values: [referralId],
      });
      const row = result.rows[0];
      if (!row) return null;
      return {
        snapshot: snapshotFromRow(row),
        countedClickTimes: row.counted_click_times.map((time) => new Date(time).toISOString()),
        duplicateClicks: row.duplicate_clicks,
        clickIds: row.click_ids,
      };
    },

    /** The referral, its event and the click that brought it, once each; answers what Postgres now holds. */
    async persist(snapshot: ReferralSnapshot, event: ReferralEventInput, click?: StoredClick): Promise<StoredProgress> {
      const params = [...referralParams(snapshot), ...eventParams(snapshot, event)];
      const result = click
        ? await pool.query({
            name: 'referrals.persist-clicked',
            text: PERSIST_CLICKED_REFERRAL_SQL,
            values: [...params, click.clickId, click.occurredAt, click.ipHash, click.userAgent, click.metadata, click.duplicate, click.implicit],
          })
        : await pool.query({ name: 'referrals.persist', text: PERSIST_REFERRAL_SQL, values: params });
      const saved = result.rows[0] as { status: AttributionStatus | null; stage: FunnelStage | null };
      // A write that changed nothing answers what stood, read afresh: it may have just changed.
      return saved.status && saved.stage ? { status: saved.status, stage: saved.stage } : storedProgress(snapshot.referralId);
    },

    /** Confirms the referral unless the member has another confirmation; answers the status stored and whom it superseded. */
    async confirm(snapshot: ReferralSnapshot, event: ReferralEventInput): Promise<{ status: AttributionStatus; supersededWorkflowIds: string[] }> {
      const result = await pool.query({ name: 'referrals.confirm', text: CONFIRM_REFERRAL_SQL, values: [...referralParams(snapshot), ...eventParams(snapshot, event)] });
      const { status, superseded_workflow_ids: supersededWorkflowIds } = result.rows[0];
      return { status: status ?? (await storedProgress(snapshot.referralId)).status, supersededWorkflowIds };
    },

    /** One mentor per member: the member's confirmed referral in the organisation, other than `except`. */
    confirmedFor(orgId: string, newMemberId: string, except?: string): Promise<ReferralSnapshot | undefined> {
      return one(`${REFERRAL_WITH_CODE} WHERE r.org_id = $1 AND r.new_member_id = $2 AND r.status = 'confirmed' AND r.id IS DISTINCT FROM $3`, [orgId, newMemberId, except ?? null]);
    },

    /** The member's most recently changed referral in the organisation. */
    latestFor(orgId: string, newMemberId: string): Promise<ReferralSnapshot | undefined> {
      return one(`${REFERRAL_WITH_CODE} WHERE r.org_id = $1 AND r.new_member_id = $2 ORDER BY r.updated_at DESC LIMIT 1`, [orgId, newMemberId]);
    },

    byId(referralId: string): Promise<ReferralSnapshot | undefined> {
      return one(`${REFERRAL_WITH_CODE} WHERE r.id = $1`, [referralId]);
    },

    /** The referral's key where it is this member's: linked by the app's account step, or recorded by its workflow. */
    async memberReferralKey(orgId: string, newMemberId: string, referralId: string): Promise<MemberReferralKeyRow | undefined> {
      const result = await pool.query<MemberReferralKeyRow>(
        `SELECT l.referral_code_id, l.visitor_hash, r.clicked_at FROM referral_member_links l LEFT JOIN referrals r ON r.id = l.referral_id
         WHERE l.referral_id = $1 AND l.org_id = $2 AND l.new_member_id = $3
         UNION ALL
         SELECT referral_code_id, visitor_hash, clicked_at FROM referrals WHERE id = $1 AND org_id = $2 AND new_member_id = $3 AND visitor_hash IS NOT NULL
         LIMIT 1`,
        [referralId, orgId, newMemberId],
      );
      return result.rows[0];
    },

    /** The member's referrals in the organisation that a cancellation reverses. */
    async cancellableFor(orgId: string, newMemberId: string): Promise<ReferralSnapshot[]> {
      const result = await pool.query<ReferralRow>(
        `${REFERRAL_WITH_CODE} WHERE r.org_id = $1 AND r.new_member_id = $2 AND r.status IN (${sqlList(CANCELLABLE_STATUSES)})`,
        [orgId, newMemberId],
      );
      return result.rows.map(snapshotFromRow);
    },

    /** Whether the member's registration in the organisation was already decided on (counted, reversed or refused). */
    async decidedFor(orgId: string, newMemberId: string): Promise<boolean> {
      const result = await pool.query(`SELECT 1 FROM referrals WHERE org_id = $1 AND new_member_id = $2 AND status IN (${sqlList(DECIDED_FOR_MEMBER)})`, [orgId, newMemberId]);
      return (result.rowCount ?? 0) > 0;
    },

    /**
     * Accounts the mentor already has in the organisation from the referral's device or IP hashes: looked up from
     * the hashes (indexed), so a mentor with many recruits costs no more than one with few.
     */
    async accountsFromSameDevice(input: { referralId: string; orgId: string; mentorId: string; visitorHash: string | null }): Promise<number> {
      const result = await pool.query<{ accounts: number }>({
        name: 'referrals.accounts-from-same-device',
        text: `SELECT count(*)::int AS accounts FROM referrals r
         WHERE r.org_id = $2 AND r.mentor_id = $3 AND r.id <> $1 AND r.account_created_at IS NOT NULL
           AND r.id IN (
             SELECT same_device.id FROM referrals same_device WHERE same_device.org_id = $2 AND same_device.visitor_hash = $4
             UNION
             SELECT theirs.referral_id FROM click_events ours
             JOIN click_events theirs ON theirs.ip_hash = ours.ip_hash AND theirs.mentor_id = $3
             WHERE ours.referral_id = $1 AND ours.ip_hash IS NOT NULL)`,
        values: [input.referralId, input.orgId, input.mentorId, input.visitorHash],
      });
      return result.rows[0].accounts;
    },

    /**
     * Awards each of `milestones` the mentor's confirmed count has reached (both read in this statement), once, and
     * answers the undelivered awards `claimedBy` now holds the claim to deliver. New awards are claimed as they are
     * inserted.
     */
    async claimBadgeAwards(input: { mentorId: string; orgId: string; claimedBy: string; milestones: number[]; awardedAt: Date }): Promise<BadgeAward[]> {
      const claimed = await pool.query<BadgeAwardRow>({
        name: 'referrals.claim-badge-awards',
        text: `WITH counted AS (
           SELECT coalesce((SELECT confirmed_count FROM mentor_counters WHERE org_id = $3 AND mentor_id = $1), 0) AS confirmed_count),
         awarded AS (
           INSERT INTO badge_awards (id, mentor_id, org_id, badge_key, milestone, confirmed_count, awarded_at, claimed_by, claimed_at)
           SELECT gen_random_uuid(), $1::uuid, $3::uuid, 'recruits-' || milestone, milestone, counted.confirmed_count, $5::timestamptz, $2::uuid, now()
           FROM counted, unnest($4::int[]) AS milestone
           WHERE milestone <= counted.confirmed_count
           ON CONFLICT (org_id, mentor_id, badge_key) DO NOTHING
           RETURNING id, mentor_id, org_id, milestone, confirmed_count, awarded_at),
         claimed AS (
           UPDATE badge_awards SET claimed_by = $2, claimed_at = now()
           WHERE org_id = $3 AND mentor_id = $1 AND delivered_at IS NULL
             AND (claimed_by IS NULL OR claimed_by = $2 OR claimed_at < now() - interval '${BADGE_CLAIM_LEASE}')
           RETURNING id, mentor_id, org_id, milestone, confirmed_count, awarded_at)
         SELECT * FROM awarded UNION ALL SELECT * FROM claimed`,
        values: [input.mentorId, input.claimedBy, input.orgId, input.milestones, input.awardedAt],
      });
      return claimed.rows
        .map((row) => ({
          id: row.id,
          mentorId: row.mentor_id,
          orgId: row.org_id,
          milestone: row.milestone,
          confirmedCount: row.confirmed_count,
          awardedAt: new Date(row.awarded_at).toISOString(),
        }))
        .sort((a, b) => a.milestone - b.milestone);
    },

    async badgeDelivered(awardId: string): Promise<boolean> {
      const result = await pool.query<{ delivered_at: Date | null }>('SELECT delivered_at FROM badge_awards WHERE id = $1', [awardId]);
      return Boolean(result.rows[0]?.delivered_at);
    },

    async countBadgeAttempt(awardId: string): Promise<void> {
      await pool.query('UPDATE badge_awards SET delivery_attempts = delivery_attempts + 1 WHERE id = $1', [awardId]);
    },

    async markBadgeDelivered(awardId: string, at: Date): Promise<void> {
      await pool.query('UPDATE badge_awards SET delivered_at = $2 WHERE id = $1', [awardId, at]);
    },

    /**
     * Erases the referred person's personal data (their device, network, member id and app link, in the webhook
     * answers too) and records who did, keeping the member as `memberHash` only; stage, status and times stay, so
     * every count stays what it was.
     */
    async erase(referralId: string, erasedBy: string, memberHash: string | null): Promise<void> {
      await withTransaction(pool, async (client) => {
        // The mentor's aggregate lock before the referral's row, the order a write of the referral takes them in (its
        // trigger `lock_mentor_aggregates` first): an erasure and a write waiting for each other do not deadlock.
        await client.query("SELECT pg_advisory_xact_lock(hashtextextended('mentor aggregates ' || mentor_id, 0)) FROM referrals WHERE id = $1", [referralId]);
        const { rows } = await client.query<{ org_id: string; new_member_id: string | null }>('SELECT org_id, new_member_id FROM referrals WHERE id = $1 FOR UPDATE', [referralId]);
        const member = rows[0]?.new_member_id ?? null;
        // Its runs are left to the sweep from now, after this statement's waits: a run a message started meanwhile
        // is listed by the time the sweep looks. Asked again, they are looked for again.
        await client.query(
          `INSERT INTO erasures (referral_id, org_id, member_hash, runs_pending_since) SELECT id, org_id, $2, clock_timestamp() FROM referrals WHERE id = $1
           ON CONFLICT (referral_id) DO UPDATE SET runs_pending_since = clock_timestamp()`,
          [referralId, memberHash],
        );
        await client.query(
          `UPDATE click_events SET visitor_hash = NULL, ip_hash = NULL, user_agent = NULL, device_metadata =
             CASE WHEN device_metadata ? 'shareChannel' THEN jsonb_build_object('shareChannel', device_metadata->'shareChannel') ELSE '{}'::jsonb END
           WHERE referral_id = $1`,
          [referralId],
        );
        await client.query('UPDATE referrals SET visitor_hash = NULL, new_member_id = NULL, updated_at = now() WHERE id = $1', [referralId]);
        await client.query('DELETE FROM referral_member_links WHERE referral_id = $1', [referralId]);
        // The intake's copies too: a delivered one is kept a minute, an undelivered one would start a run again.
        await client.query('DELETE FROM intake WHERE referral_id = $1', [referralId]);
        if (member) {
          // The timeline's keys and payloads name the member: they keep the tombstone's hash instead.
          await client.query(
            `UPDATE referral_events SET idempotency_key = replace(idempotency_key, $2, $3), detail = replace(detail::text, $2, $3)::jsonb
             WHERE referral_id = $1 AND (idempotency_key LIKE '%' || $2 || '%' OR detail::text LIKE '%' || $2 || '%')`,
            [referralId, member, memberHash ?? 'erased'],
          );
          await client.query('DELETE FROM member_cancellations WHERE org_id = $1 AND new_member_id = $2', [rows[0].org_id, member]);
          await client.query(
            `UPDATE webhook_deliveries SET answer = jsonb_set(answer, '{conversion,newMemberId}', 'null') WHERE answer->'conversion'->>'newMemberId' = $1`,
            [member],
          );
        }
        await client.query(
          `${INSERT_EVENT_SQL}
           SELECT id, org_id, 'erased', stage, jsonb_build_object('by', $2::text), 'erased:' || id, now(), status FROM referrals WHERE id = $1
           ON CONFLICT (idempotency_key) DO NOTHING`,
          [referralId, erasedBy],
        );
      });
    },

    /** Erased referrals whose runs may be left in Temporal, flagged at least `graceMs` ago, oldest first. */
    async runsToDelete(graceMs: number, limit: number): Promise<ErasedRuns[]> {
      const { rows } = await pool.query<ErasedRuns>(
        `SELECT x.referral_id AS "referralId", r.workflow_id AS "workflowId", x.runs_pending_since::text AS "pendingSince"
         FROM erasures x JOIN referrals r ON r.id = x.referral_id
         WHERE x.runs_pending_since <= now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY x.runs_pending_since LIMIT $2`,
        [graceMs, limit],
      );
      return rows;
    },

    /** For /readyz and /metrics. */
    async erasureBacklog(): Promise<ErasureBacklog> {
      const { rows } = await pool.query<{ pending: number; oldest_age_seconds: number | null }>(
        `SELECT count(*)::int AS pending, extract(epoch FROM now() - min(runs_pending_since))::float8 AS oldest_age_seconds
         FROM erasures WHERE runs_pending_since IS NOT NULL`,
      );
      return { runsPending: rows[0].pending, oldestAgeSeconds: Math.max(0, rows[0].oldest_age_seconds ?? 0) };
    },

    /**
     * What the sweep found of the erased referral's runs: none listed, it is done; some (now being deleted), it is looked
     * at again from now. Either unless a run was flagged since.
     */
    async runsSwept(erased: ErasedRuns, runsListed: boolean): Promise<void> {
      await pool.query(
        'UPDATE erasures SET runs_pending_since = CASE WHEN $3 THEN clock_timestamp() END WHERE referral_id = $1 AND runs_pending_since = $2::timestamptz',
        [erased.referralId, erased.pendingSince, runsListed],
      );
    },

    /** Which of these referrals, in order, is the first not erased (its index), if any. */
    async firstNotErased(referralIds: string[]): Promise<number | undefined> {
      const result = await pool.query<{ n: number }>(
        `SELECT x.n::int - 1 AS n FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, n)
         WHERE NOT EXISTS (SELECT 1 FROM erasures e WHERE e.referral_id = x.id) ORDER BY x.n LIMIT 1`,
        [referralIds],
      );
      return result.rows[0]?.n;
    },

    /** The erased referral that counted this member (known by its salted hash), if any. */
    async erasedFor(orgId: string, memberHash: string): Promise<ReferralSnapshot | undefined> {
      return one(
        `${REFERRAL_WITH_CODE} JOIN erasures x ON x.referral_id = r.id WHERE x.org_id = $1 AND x.member_hash = $2 ORDER BY x.erased_at DESC LIMIT 1`,
        [orgId, memberHash],
        'referrals.erased-for',
      );
    },

    /** Drops raw device data (user agent, IP hash, metadata but the share channel) from clicks older than the retention. */
    async purgeDeviceMetadata(now: Date, retentionDays: number): Promise<number> {
      const result = await pool.query(
        `UPDATE click_events SET user_agent = NULL, ip_hash = NULL,
           device_metadata = CASE WHEN device_metadata ? 'shareChannel'
             THEN jsonb_build_object('shareChannel', device_metadata->'shareChannel') ELSE '{}'::jsonb END
         WHERE occurred_at < $1::timestamptz - make_interval(days => $2)
           AND (user_agent IS NOT NULL OR ip_hash IS NOT NULL OR (device_metadata - 'shareChannel') <> '{}'::jsonb)`,
        [now, retentionDays],
      );
      return result.rowCount ?? 0;
    },
  };
}

export type ReferralStore = ReturnType<typeof createReferralStore>;
