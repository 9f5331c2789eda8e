import type { Pool } from 'pg';
import { reachedMilestones } from '../domain/funnel';
import {
  toConversionRecord,
  type BadgeAward,
  type ClickInput,
  type ConversionRecord,
  type ReferralEventInput,
  type ReferralSnapshot,
  type StoredReferral,
} from '../domain/referral';
import { loadStoredReferral, referralParams, snapshotFromRow, UPSERT_REFERRAL_SQL } from '../db/referrals';
import type { BadgeClient } from './badge-client';
import type { MembershipClient, Registration } from './membership-client';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface ActivityDependencies {
  pool: Pool;
  clock: Clock;
  badgeClient: BadgeClient;
  /** Accounts for one mentor from one device or IP hash from which the next is held for review (3). */
  accountsPerDeviceOrIpLimit?: number;
  membershipClient?: MembershipClient;
  /** confirmRecruitment, for the reconciliation to back-fill what the webhook never delivered. */
  confirmRegistration?: (registration: Registration) => Promise<ConversionRecord>;
}

export interface ReconciliationTally {
  alreadyCounted: number;
  backfilled: number;
  unknownCode: number;
}

export interface PersistInput {
  snapshot: ReferralSnapshot;
  event: ReferralEventInput;
  click?: ClickInput & { duplicate: boolean; implicit: boolean };
}

/** What a referral's row holds after a write: the write's own status and stage, or those that stood. */
export type StoredProgress = Pick<ReferralSnapshot, 'status' | 'stage'>;

export interface ConfirmOutcome {
  /** This referral as stored: confirmed, or superseded when the member was already attributed. */
  snapshot: ReferralSnapshot;
  /** The attribution that stands for the new member. */
  record: ConversionRecord;
  supersededWorkflowIds: string[];
}

// A claim older than this belongs to a run that died before delivering; another may take it over.
const BADGE_CLAIM_LEASE = '10 minutes';

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
 * status that stood is read as of the statement's start, so a change committed while it waited may be missed;
 * what the activity answers is read afresh (`storedProgress`).
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
 * per member, so a confirmation meeting another one (committed, or committing while this one waits on its row)
 * fails as a whole with a unique violation, and `confirmAttribution` then answers that other attribution.
 */
const CONFIRM_REFERRAL_SQL = `WITH saved AS (${UPSERT_REFERRAL_SQL}),
  confirmed AS (SELECT 1 FROM saved WHERE status = 'confirmed'),
  event AS (${appendEventSql(21, `'confirmed'`, 'FROM confirmed')}),
  superseded AS (
    UPDATE referrals SET status = 'superseded', stuck = false, ended_at = $27, updated_at = now()
    WHERE org_id = $2 AND id <> $1 AND status IN ('pending', 'expired', 'flagged')
      AND (new_member_id = $12 OR (visitor_hash IS NOT NULL AND visitor_hash = $6))
      AND EXISTS (SELECT 1 FROM confirmed)
    RETURNING id, org_id, stage, workflow_id),
  superseded_events AS (
    ${INSERT_EVENT_SQL}
    SELECT id, org_id, 'superseded', stage, jsonb_build_object('byReferralId', $1::text),
      'superseded:' || id || ':' || $1::text, $27, 'superseded'
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
const metAnotherConfirmation = (error: unknown): boolean => {
  const { code, constraint } = error as { code?: string; constraint?: string };
  return (code === '23505' && ONE_CONFIRMATION_PER_MEMBER.includes(constraint ?? '')) || code === '40P01';
};

/** How often a confirmation meeting another one is tried again before its activity fails and retries. */
const CONFIRM_ATTEMPTS = 3;

/** Every activity is idempotent: rows are keyed by ids the workflow chose, writes are upserts. */
export function createActivities({
  pool,
  clock,
  badgeClient,
  accountsPerDeviceOrIpLimit = 3,
  membershipClient,
  confirmRegistration,
}: ActivityDependencies) {
  async function persist({ snapshot, event, click }: PersistInput): Promise<StoredProgress> {
    const params = [...referralParams(snapshot), ...eventParams(snapshot, event)];
    const result = click
      ? await pool.query(PERSIST_CLICKED_REFERRAL_SQL, [
          ...params,
          click.clickId,
          click.occurredAt,
          click.ipHash,
          click.userAgent,
          click.metadata,
          click.duplicate,
          click.implicit,
        ])
      : await pool.query(PERSIST_REFERRAL_SQL, params);
    const saved = result.rows[0];
    return saved.status ? { status: saved.status, stage: saved.stage } : storedProgress(snapshot.referralId);
  }

  /** The referral's status and stage now, when a write left those that stood (read afresh: they may have just changed). */
  async function storedProgress(referralId: string): Promise<StoredProgress> {
    return (await pool.query('SELECT status, stage FROM referrals WHERE id = $1', [referralId])).rows[0];
  }

  /** The member keeps the attribution they already have; this referral is superseded by it. */
  async function supersedeBy(snapshot: ReferralSnapshot, event: ReferralEventInput, attribution: ReferralSnapshot): Promise<ConfirmOutcome> {
    const superseded: ReferralSnapshot = { ...snapshot, status: 'superseded', confirmedAt: null, endedAt: event.occurredAt };
    await persist({
      snapshot: superseded,
      event: {
        type: 'superseded',
        idempotencyKey: `superseded:${snapshot.referralId}:${attribution.referralId}`,
        occurredAt: event.occurredAt,
        detail: { byReferralId: attribution.referralId },
      },
    });
    return { snapshot: superseded, record: toConversionRecord(attribution), supersededWorkflowIds: [] };
  }

  return {
    async loadReferral(referralId: string): Promise<StoredReferral | null> {
      return loadStoredReferral(pool, referralId);
    },

    async persistReferral(input: PersistInput): Promise<StoredProgress> {
      return persist(input);
    },

    /**
     * Whether this account looks farmed: the mentor already has accounts created from the same
     * device or IP hash. Answers the reason to hold it for review, or null.
     */
    async assessAccountRisk(input: { referralId: string; mentorId: string; visitorHash: string | null }): Promise<{ flagReason: string | null }> {
      const result = await pool.query(
        `SELECT count(DISTINCT r.id) AS accounts FROM referrals r
         WHERE r.mentor_id = $2 AND r.id <> $1 AND r.account_created_at IS NOT NULL
           AND (($3::text IS NOT NULL AND r.visitor_hash = $3)
             OR EXISTS (SELECT 1 FROM click_events theirs JOIN click_events ours
                          ON ours.referral_id = $1 AND ours.ip_hash = theirs.ip_hash
                        WHERE theirs.referral_id = r.id))`,
        [input.referralId, input.mentorId, input.visitorHash],
      );
      const accounts = result.rows[0].accounts + 1;
      return { flagReason: accounts >= accountsPerDeviceOrIpLimit ? 'many_accounts_from_one_device_or_ip' : null };
    },

    /**
     * Confirms one referral for a new member, keeping one mentor per member per organisation:
     * a member already attributed elsewhere keeps that attribution and this referral is superseded;
     * otherwise this one is confirmed and the member's other open referrals are superseded.
     */
    async confirmAttribution({ snapshot, event }: { snapshot: ReferralSnapshot; event: ReferralEventInput }): Promise<ConfirmOutcome> {
      for (let attempt = 1; ; attempt += 1) {
        let blockedBy: unknown;
        let standing: ReferralSnapshot['status'] = 'superseded';
        try {
          const result = await pool.query(CONFIRM_REFERRAL_SQL, [...referralParams(snapshot), ...eventParams(snapshot, event)]);
          const { status, superseded_workflow_ids: supersededWorkflowIds } = result.rows[0];
          if (status === 'confirmed') return { snapshot, record: toConversionRecord(snapshot), supersededWorkflowIds };
          standing = (await storedProgress(snapshot.referralId)).status;
        } catch (error) {
          if (!metAnotherConfirmation(error)) throw error;
          blockedBy = error;
        }
        // Another confirmation of this member got there first, or superseded this referral meanwhile.
        const attribution = await pool.query(
          `SELECT * FROM referrals WHERE org_id = $1 AND new_member_id = $2 AND status = 'confirmed' AND id <> $3`,
          [snapshot.orgId, snapshot.newMemberId, snapshot.referralId],
        );
        if (attribution.rows[0]) return supersedeBy(snapshot, event, snapshotFromRow(attribution.rows[0]));
        if (!blockedBy) {
          // Superseded by another member's confirmation on the same device, or reversed or rejected: it stays so.
          const ended: ReferralSnapshot = { ...snapshot, status: standing, confirmedAt: null };
          return { snapshot: ended, record: toConversionRecord(ended), supersededWorkflowIds: [] };
        }
        // The confirmation in the way was rolled back or reversed since: this one may stand after all.
        if (attempt >= CONFIRM_ATTEMPTS) throw blockedBy;
      }
    },

    /**
     * Awards each milestone the mentor's confirmed count (read from Postgres) has reached, once,
     * and returns the undelivered awards this referral now holds the claim to deliver.
     */
    async claimBadgeAwards(input: {
      mentorId: string;
      orgId: string;
      milestones: number[];
      claimedBy: string;
    }): Promise<BadgeAward[]> {
      const counts = await pool.query('SELECT confirmed_count FROM get_attribution_counts($1)', [input.mentorId]);
      const confirmedCount: number = counts.rows[0].confirmed_count;
      // New awards are claimed as they are inserted: the claim's UPDATE, in the same statement, cannot see them.
      const claimed = await pool.query(
        `WITH awarded AS (
           INSERT INTO badge_awards (id, mentor_id, org_id, badge_key, milestone, confirmed_count, awarded_at, claimed_by, claimed_at)
           SELECT gen_random_uuid(), $1::uuid, $3::uuid, 'recruits-' || milestone, milestone, $5::int, $6::timestamptz, $2::uuid, now()
           FROM unnest($4::int[]) AS milestone
           ON CONFLICT (mentor_id, badge_key) DO NOTHING
           RETURNING id, mentor_id, org_id, milestone, confirmed_count, awarded_at),
         claimed AS (
           UPDATE badge_awards SET claimed_by = $2, claimed_at = now()
           WHERE mentor_id = $1 AND delivered_at IS NULL
             AND (claimed_by IS NULL OR claimed_by = $2 OR claimed_at < now() - interval '${BADGE_CLAIM_LEASE}')
           RETURNING id, mentor_id, org_id, milestone, confirmed_count, awarded_at)
         SELECT * FROM awarded UNION ALL SELECT * FROM claimed`,
        [input.mentorId, input.claimedBy, input.orgId, reachedMilestones(confirmedCount, input.milestones), confirmedCount, clock.now()],
      );
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

    /**
     * Drops raw device data (user agent, IP hash, metadata other than the share channel) from
     * clicks older than the retention period; the counts need none of it.
     */
    async purgeDeviceMetadata({ retentionDays }: { retentionDays: number }): Promise<{ purged: number }> {
      const result = await pool.query(
        `UPDATE click_events SET user_agent = NULL, ip_hash = NULL,
           device_metadata = CASE WHEN device_metadata ? 'shareChannel'
             THEN jsonb_build_object('shareChannel', device_metadata->'shareChannel') ELSE '{}'::jsonb END
         WHERE occurred_at < $1::timestamptz - make_interval(days => $2)
           AND (user_agent IS NOT NULL OR ip_hash IS NOT NULL OR (device_metadata - 'shareChannel') <> '{}'::jsonb)`,
        [clock.now(), retentionDays],
      );
      return { purged: result.rowCount ?? 0 };
    },

    async fetchRecentRegistrations({ since }: { since: string }): Promise<Registration[]> {
      if (!membershipClient) return [];
      return membershipClient.recentRegistrations(since);
    },

    /** Confirms each registration not yet counted; a registration already confirmed is left as it is. */
    async reconcileRegistrations(registrations: Registration[]): Promise<ReconciliationTally> {
      const tally: ReconciliationTally = { alreadyCounted: 0, backfilled: 0, unknownCode: 0 };
      for (const registration of registrations) {
        const known = await pool.query('SELECT org_id FROM referral_codes WHERE code = $1', [registration.referralCode]);
        if (known.rowCount === 0) {
          tally.unknownCode += 1;
          continue;
        }
        // Reversed and rejected attributions were decided on; the reconciliation does not reopen them.
        const counted = await pool.query(
          `SELECT 1 FROM referrals WHERE org_id = $1 AND new_member_id = $2 AND status IN ('confirmed', 'reversed', 'rejected')`,
          [known.rows[0].org_id, registration.newMemberId],
        );
        if ((counted.rowCount ?? 0) > 0 || !confirmRegistration) tally.alreadyCounted += 1;
        else {
          await confirmRegistration(registration);
          tally.backfilled += 1;
        }
      }
      return tally;
    },

    /** Tells the badge service; the award id is the Idempotency-Key of every attempt. */
    async deliverBadgeAward(award: BadgeAward): Promise<void> {
      const already = await pool.query('SELECT delivered_at FROM badge_awards WHERE id = $1', [award.id]);
      if (already.rows[0]?.delivered_at) return;
      await pool.query('UPDATE badge_awards SET delivery_attempts = delivery_attempts + 1 WHERE id = $1', [award.id]);
      await badgeClient.award(
        {
          mentorId: award.mentorId,
          orgId: award.orgId,
          milestone: award.milestone,
          confirmedCount: award.confirmedCount,
          awardedAt: award.awardedAt,
        },
        award.id,
      );
      await pool.query('UPDATE badge_awards SET delivered_at = $2 WHERE id = $1', [award.id, clock.now()]);
    },
  };
}

export type ReferralActivities = ReturnType<typeof createActivities>;
