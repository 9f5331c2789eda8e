import { randomUUID } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { snapshotFromRow } from '../db/referrals';
import type { FunnelStep } from '../domain/funnel';
import {
  identityOf,
  linkedToAnotherMember,
  NEW_REFERRAL,
  toConversionRecord,
  type ConfirmationSource,
  type ConversionRecord,
  type OrgSettings,
  type ReferralIdentity,
} from '../domain/referral';
import { ConflictError, GoneError, NotFoundError } from '../errors';
import { cancelSignal, clickSignal, confirmUpdate, funnelStepSignal, reviewSignal, TASK_QUEUE } from '../workflows/messages';
import { referralWorkflow } from '../workflows/referral-workflow';
import { AttributionStatus as AttributionStatusKey, MentorId, OrgId, ReferralCode, ReferralStage, ReferralStuck } from '../workflows/search-attributes';
import { createExpiringCache } from './expiring-cache';
import { nameBasedUuid, referralWorkflowId, saltedHash } from './identifiers';

export interface ReferralServiceDependencies {
  pool: Pool;
  temporal: Client;
  hashSalt: string;
  taskQueue?: string;
  clock?: () => Date;
  /** Clicks on one code within a minute from which, at ten times its usual rate, clicks are held for review (30). */
  burstClicksPerMinute?: number;
  /**
   * How long the app's click or step waits for Temporal to take its signal before it is answered 503 with
   * Retry-After (5 s): an overloaded server must not hold the app past its own timeout. A signal taken after
   * all is safe to send again: the workflow counts a repeat within the dedupe window once.
   */
  signalTimeoutMs?: number;
  /**
   * How long a confirmation waits for its referral's workflow to answer (20 s). The Temporal server can lose an
   * update it admitted (a worker killed mid-task, its cache evicting the run): the client would wait forever.
   * Answered 503 with Retry-After instead; the sender's retry confirms, and confirming twice is one attribution.
   */
  confirmTimeoutMs?: number;
}

interface CodeRow {
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

interface ClickCodeRow extends CodeRow {
  known_mentor_device: boolean;
  clicks_last_minute: number;
}

interface ConfirmationCodeRow extends CodeRow {
  /** The member's confirmed referral in the organisation, as a row in JSON. */
  attribution: Record<string, unknown> | null;
  /** The visitor of the latest referral on this code the app reported the member's account on (rule 4(a)). */
  reported_visitor_hash: string | null;
}

/**
 * How long a busy code's count of last week's clicks is reused. The week moves by at most a minute's clicks in that
 * time, a ten-thousandth of the week at the code's usual rate; counting it for every click of a busy minute made a viral
 * code's clicks slower the bigger its week.
 */
const WEEK_COUNT_REUSE_MS = 60_000;
const WEEK_COUNTS_KEPT = 10_000;

/** How often a registration is matched again when the referral it matched was claimed meanwhile. */
const MAX_REMATCHES = 3;

const CODE_COLUMNS = `c.id, c.code, c.mentor_id, c.org_id, c.expires_at, c.revoked_at,
  o.attribution_window_seconds, o.confirmation_window_seconds, o.dedupe_window_seconds, o.badge_milestones`;
const CODE_FROM = 'FROM referral_codes c JOIN organisations o ON o.id = c.org_id';

/** Rule 4(a): the visitor of the latest referral on the code `codeIdSql` names that the app reported member $2's account on, still open. */
const REPORTED_VISITOR_SQL = (codeIdSql: string) => `SELECT l.visitor_hash FROM referral_member_links l LEFT JOIN referrals r ON r.id = l.referral_id
  WHERE l.referral_code_id = ${codeIdSql} AND l.new_member_id = $2
    AND (r.id IS NULL OR r.status IN ('pending', 'expired', 'flagged', 'confirmed'))
  ORDER BY l.linked_at DESC LIMIT 1`;

export interface ClickRequest {
  code: string;
  visitorId?: string;
  /** The signed-in member who clicked, when the app sent their token. */
  memberId?: string;
  ipAddress?: string;
  userAgent?: string;
  metadata: Record<string, unknown>;
}

export interface RecordedClick {
  referralId: string;
  referralCodeId: string;
  visitorHash: string;
  clickId: string;
}

/** What a referral token vouches for: the referral and how to find its workflow again. */
export interface ReferralTokenClaims {
  referralId: string;
  referralCodeId: string;
  visitorHash: string;
}

export interface StepRequest {
  type: FunnelStep;
  occurredAt?: string;
  idempotencyKey: string;
  newMemberId?: string;
}

export interface ConfirmRequest {
  code: string;
  newMemberId: string;
  occurredAt?: string;
  source: ConfirmationSource;
}

/** A workflow's refusal of a message, as the API answers it. */
const conflictOf = (failure: ApplicationFailure) => new ConflictError(failure.message, { reason: failure.type });

const settingsOf = (row: CodeRow): OrgSettings => ({
  attributionWindowSeconds: row.attribution_window_seconds,
  confirmationWindowSeconds: row.confirmation_window_seconds,
  dedupeWindowSeconds: row.dedupe_window_seconds,
  badgeMilestones: row.badge_milestones,
});

/**
 * The journey's entry points for every caller (invite link, app, membership webhook): resolves
 * the referral a message belongs to and hands it to that referral's workflow.
 */
export function createReferralService(deps: ReferralServiceDependencies) {
  const taskQueue = deps.taskQueue ?? TASK_QUEUE;
  const now = deps.clock ?? (() => new Date());
  const burstClicksPerMinute = deps.burstClicksPerMinute ?? 30;
  const signalTimeoutMs = deps.signalTimeoutMs ?? 5000;
  const withinSignalTimeout = <T>(send: () => Promise<T>) => deps.temporal.withDeadline(Date.now() + signalTimeoutMs, send);
  const confirmTimeoutMs = deps.confirmTimeoutMs ?? 20_000;

  /** The mentor's own account, or a device the mentor used, clicking the mentor's link. */
  async function isSelfReferral(code: ClickCodeRow, visitorHash: string, memberId: string | undefined): Promise<boolean> {
    if (memberId !== code.mentor_id) return code.known_mentor_device;
    await deps.pool.query(
      'INSERT INTO mentor_devices (mentor_id, org_id, visitor_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [code.mentor_id, code.org_id, visitorHash],
    );
    return true;
  }

  const weekClicksByCode = createExpiringCache<number>({ ttlMs: WEEK_COUNT_REUSE_MS, limit: WEEK_COUNTS_KEPT, now: () => now().getTime() });

  /** A burst: the last minute's clicks on the code reach the threshold and ten times the code's weekly rate. */
  async function isClickBurst(code: ClickCodeRow): Promise<boolean> {
    // The week is counted only when the minute is busy, so ordinary clicks pay for one small range scan.
    if (code.clicks_last_minute < burstClicksPerMinute) return false;
    const lastWeek = await weekClicksByCode.get(code.id, async () => {
      const result = await deps.pool.query(
        `SELECT count(*)::int AS clicks FROM click_events
         WHERE referral_code_id = $1 AND occurred_at > $2::timestamptz - interval '7 days'`,
        [code.id, now()],
      );
      return result.rows[0].clicks as number;
    });
    return code.clicks_last_minute >= 10 * (lastWeek / (7 * 24 * 60));
  }

  /** The code with what a click's checks need, in one round trip: every click pays for it. */
  async function findCodeForClick(code: string, visitorHash: string): Promise<ClickCodeRow> {
    const result = await deps.pool.query<ClickCodeRow>(
      `SELECT ${CODE_COLUMNS},
         EXISTS (SELECT 1 FROM mentor_devices d WHERE d.mentor_id = c.mentor_id AND d.visitor_hash = $2) AS known_mentor_device,
         (SELECT count(*)::int FROM click_events e
          WHERE e.referral_code_id = c.id AND e.occurred_at > $3::timestamptz - interval '1 minute') AS clicks_last_minute
       ${CODE_FROM} WHERE c.code = $1`,
      [code, visitorHash, now()],
    );
    if (!result.rows[0]) throw new NotFoundError('referral code');
    return result.rows[0];
  }

  /** The code with what a registration's matching starts from, in one round trip: every webhook pays for it. */
  async function findCodeForConfirmation(code: string, newMemberId: string): Promise<ConfirmationCodeRow> {
    const result = await deps.pool.query<ConfirmationCodeRow>(
      `SELECT ${CODE_COLUMNS},
         (SELECT to_jsonb(r) FROM referrals r WHERE r.org_id = c.org_id AND r.new_member_id = $2 AND r.status = 'confirmed') AS attribution,
         (${REPORTED_VISITOR_SQL('c.id')}) AS reported_visitor_hash
       ${CODE_FROM} WHERE c.code = $1`,
      [code, newMemberId],
    );
    if (!result.rows[0]) throw new NotFoundError('referral code');
    return result.rows[0];
  }

  async function findCode(where: 'code' | 'id', value: string): Promise<CodeRow> {
    const result = await deps.pool.query<CodeRow>(`SELECT ${CODE_COLUMNS} ${CODE_FROM} WHERE c.${where === 'code' ? 'code' : 'id'} = $1`, [value]);
    if (!result.rows[0]) throw new NotFoundError('referral code');
    return result.rows[0];
  }

  function identityFor(code: CodeRow, visitorKey: string, direct: boolean): ReferralIdentity {
    const workflowId = referralWorkflowId(code.id, visitorKey);
    return {
      referralId: nameBasedUuid(workflowId),
      workflowId,
      orgId: code.org_id,
      mentorId: code.mentor_id,
      referralCodeId: code.id,
      code: code.code,
      visitorHash: direct ? null : visitorKey,
      direct,
    };
  }

  function startOptions(identity: ReferralIdentity, code: CodeRow) {
    return {
      taskQueue,
      workflowId: identity.workflowId,
      args: [{ identity, settings: settingsOf(code) }] as [Parameters<typeof referralWorkflow>[0]],
      // All of them from the start, as a new referral's first run publishes them: that run then upserts none.
      typedSearchAttributes: [
        { key: MentorId, value: identity.mentorId },
        { key: OrgId, value: identity.orgId },
        { key: ReferralCode, value: identity.code },
        { key: ReferralStage, value: NEW_REFERRAL.stage },
        { key: AttributionStatusKey, value: NEW_REFERRAL.status },
        { key: ReferralStuck, value: NEW_REFERRAL.stuck },
      ],
    };
  }

  /** One mentor per member: an existing confirmed attribution in the organisation is the answer. */
  async function findConfirmedAttribution(orgId: string, newMemberId: string): Promise<ConversionRecord | undefined> {
    const confirmed = await deps.pool.query(
      `SELECT r.*, c.code FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id
       WHERE r.org_id = $1 AND r.new_member_id = $2 AND r.status = 'confirmed'`,
      [orgId, newMemberId],
    );
    return confirmed.rows[0] ? toConversionRecord(snapshotFromRow(confirmed.rows[0])) : undefined;
  }

  async function confirmOn(identity: ReferralIdentity, code: CodeRow, request: ConfirmRequest): Promise<ConversionRecord> {
    const occurredAt = request.occurredAt ?? now().toISOString();
    try {
      // Update-with-start: a referral whose workflow has ended gets a new run that carries on from Postgres.
      return await deps.temporal.withDeadline(Date.now() + confirmTimeoutMs, () =>
        deps.temporal.workflow.executeUpdateWithStart(confirmUpdate, {
          args: [{ newMemberId: request.newMemberId, occurredAt, source: request.source }],
          startWorkflowOperation: new WithStartWorkflowOperation(referralWorkflow, {
            ...startOptions(identity, code),
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        }),
      );
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) throw conflictOf(error.cause);
      throw error;
    }
  }

  /**
   * The code of the referral a token names, with the app's word that this referral became the member's account
   * recorded before the workflow hears of it, so a webhook that overtakes the worker still finds it. One member per
   * referral. One round trip: every step pays for it.
   */
  async function findCodeLinkingMember(claims: ReferralTokenClaims, newMemberId: string | undefined): Promise<CodeRow> {
    const result = await deps.pool.query<CodeRow & { linked_member: string | null; recorded_member: string | null }>(
      `WITH link AS (
         INSERT INTO referral_member_links (referral_id, org_id, referral_code_id, visitor_hash, new_member_id)
         SELECT $1::uuid, c.org_id, c.id, $3::text, $4::uuid FROM referral_codes c WHERE c.id = $2 AND $4::uuid IS NOT NULL
         ON CONFLICT (referral_id) DO UPDATE SET referral_id = EXCLUDED.referral_id
         RETURNING new_member_id)
       SELECT ${CODE_COLUMNS}, (SELECT new_member_id FROM link) AS linked_member,
         (SELECT new_member_id FROM referrals WHERE id = $1) AS recorded_member
       ${CODE_FROM} WHERE c.id = $2`,
      [claims.referralId, claims.referralCodeId, claims.visitorHash, newMemberId ?? null],
    );
    const code = result.rows[0];
    if (!code) throw new NotFoundError('referral code');
    const { linked_member: linked, recorded_member: recorded } = code;
    if (newMemberId && (linked !== newMemberId || (recorded && recorded !== newMemberId))) {
      throw new ConflictError('this referral is already linked to another member');
    }
    return code;
  }

  /**
   * The referral a registration on this code belongs to (DESIGN.md rule 4): (a) the one the app reported
   * this member's account on, recorded or not yet; (b) else the last clicked one no member has claimed;
   * (c) else a direct referral. A referral already confirmed for this member still matches: a repeated
   * delivery that found no attribution a moment ago must land on it, not on a direct referral of its own.
   */
  async function matchReferral(code: CodeRow, newMemberId: string, passedOver: string[], reportedVisitorHash?: string | null): Promise<ReferralIdentity> {
    const reported = reportedVisitorHash !== undefined ? reportedVisitorHash : (await deps.pool.query(REPORTED_VISITOR_SQL('$1'), [code.id, newMemberId])).rows[0]?.visitor_hash;
    if (reported) return identityFor(code, reported, false);
    const matched = await deps.pool.query(
      `SELECT r.*, $3::text AS code FROM referrals r
       WHERE r.referral_code_id = $1 AND r.id <> ALL ($4::uuid[])
         AND (r.status IN ('pending', 'expired', 'flagged') OR (r.status = 'confirmed' AND r.new_member_id = $2))
         AND (r.new_member_id = $2
              OR (r.new_member_id IS NULL AND NOT EXISTS (SELECT 1 FROM referral_member_links l WHERE l.referral_id = r.id)))
       ORDER BY (r.new_member_id = $2) IS TRUE DESC, r.last_click_at DESC, r.id
       LIMIT 1`,
      [code.id, newMemberId, code.code, passedOver],
    );
    return matched.rows[0] ? identityOf(snapshotFromRow(matched.rows[0])) : identityFor(code, `direct-${newMemberId}`, true);
  }

  return {
    /** An invite-link click: one referral per visitor and code; repeats within the dedupe window are flagged. */
    async recordClick(request: ClickRequest): Promise<RecordedClick> {
      // A click with no visitor id cannot be recognised again: it is a referral of its own.
      const visitorHash = saltedHash(deps.hashSalt, request.visitorId ?? randomUUID());
      const code = await findCodeForClick(request.code, visitorHash);
      if (code.revoked_at) throw new GoneError('this invite link has been revoked');
      if (code.expires_at && code.expires_at <= now()) throw new GoneError('this invite link has expired');
      const identity = identityFor(code, visitorHash, false);
      const clickId = randomUUID();
      const [selfReferral, burst] = await Promise.all([isSelfReferral(code, visitorHash, request.memberId), isClickBurst(code)]);
      await withinSignalTimeout(() =>
        deps.temporal.workflow.signalWithStart(referralWorkflow, {
          ...startOptions(identity, code),
          signal: clickSignal,
          signalArgs: [
            {
              clickId,
              occurredAt: now().toISOString(),
              ipHash: request.ipAddress ? saltedHash(deps.hashSalt, request.ipAddress) : null,
              userAgent: request.userAgent?.slice(0, 512) ?? null,
              metadata: request.metadata,
              selfReferral,
              burst,
            },
          ],
        }),
      );
      return { referralId: identity.referralId, referralCodeId: code.id, visitorHash, clickId };
    },

    /** A funnel step from the app, for the referral its token names. */
    async recordFunnelStep(claims: ReferralTokenClaims, step: StepRequest): Promise<void> {
      if (nameBasedUuid(referralWorkflowId(claims.referralCodeId, claims.visitorHash)) !== claims.referralId) {
        throw new NotFoundError('referral');
      }
      const code = await findCodeLinkingMember(claims, step.newMemberId);
      const identity = identityFor(code, claims.visitorHash, false);
      await withinSignalTimeout(() =>
        deps.temporal.workflow.signalWithStart(referralWorkflow, {
          ...startOptions(identity, code),
          signal: funnelStepSignal,
          signalArgs: [{ ...step, occurredAt: step.occurredAt ?? now().toISOString() }],
        }),
      );
    },

    /**
     * confirmRecruitment(code, newMemberId), matched in the order of DESIGN.md rule 4. A member
     * already confirmed in the organisation keeps that attribution (one mentor per member).
     */
    async confirmRecruitment(request: ConfirmRequest): Promise<ConversionRecord> {
      const code = await findCodeForConfirmation(request.code, request.newMemberId);
      if (code.attribution) return toConversionRecord(snapshotFromRow(code.attribution));
      const passedOver: string[] = [];
      for (;;) {
        // The link read with the code serves the first match; a match again reads it afresh.
        const identity = await matchReferral(code, request.newMemberId, passedOver, passedOver.length === 0 ? code.reported_visitor_hash : undefined);
        try {
          return await confirmOn(identity, code, request);
        } catch (error) {
          const reason = error instanceof ConflictError ? (error.details as { reason?: string } | undefined)?.reason : undefined;
          // Superseded meanwhile: another delivery confirmed this member elsewhere in the organisation; that is the answer.
          const attributedMeanwhile = reason === 'ReferralSuperseded' ? await findConfirmedAttribution(code.org_id, request.newMemberId) : undefined;
          if (attributedMeanwhile) return attributedMeanwhile;
          // Rule 4(b)'s pick was claimed by another member's account after it was read: match again without it.
          if (reason !== 'ReferralLinkedToAnotherMember' || identity.direct || passedOver.length >= MAX_REMATCHES) throw error;
          passedOver.push(identity.referralId);
        }
      }
    },

    /** PUT /referral-attributions/:id: the membership system confirms a referral it already knows. */
    async confirmKnownReferral(
      referralId: string,
      request: { newMemberId: string; occurredAt?: string; source: ConfirmationSource },
    ): Promise<ConversionRecord> {
      const found = await deps.pool.query(
        `SELECT r.*, c.code FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id WHERE r.id = $1`,
        [referralId],
      );
      if (!found.rows[0]) throw new NotFoundError('referral');
      const snapshot = snapshotFromRow(found.rows[0]);
      const confirmed = await findConfirmedAttribution(snapshot.orgId, request.newMemberId);
      if (confirmed) return confirmed;
      // The store decides, as the workflow would: its run may not know the member (its update lost with a task).
      if (snapshot.newMemberId && snapshot.newMemberId !== request.newMemberId) throw conflictOf(linkedToAnotherMember(referralId));
      const code = await findCode('id', snapshot.referralCodeId);
      return confirmOn(identityOf(snapshot), code, { ...request, code: code.code });
    },

    /** A coordinator's decision on a referral held for review. */
    async review(referralId: string, review: { decision: 'approve' | 'reject'; reviewerId: string }): Promise<void> {
      const found = await deps.pool.query(
        `SELECT r.*, c.code FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id WHERE r.id = $1`,
        [referralId],
      );
      if (!found.rows[0]) throw new NotFoundError('referral');
      const snapshot = snapshotFromRow(found.rows[0]);
      if (snapshot.status !== 'flagged') throw new ConflictError(`the referral is ${snapshot.status}, not waiting for review`);
      const code = await findCode('id', snapshot.referralCodeId);
      await deps.temporal.workflow.signalWithStart(referralWorkflow, {
        ...startOptions(identityOf(snapshot), code),
        signal: reviewSignal,
        signalArgs: [{ ...review, occurredAt: now().toISOString() }],
      });
    },

    /** member.cancelled: the member's attribution in the organisation is reversed and stops counting. */
    async cancelMembership(request: { code: string; newMemberId: string; occurredAt?: string }): Promise<number> {
      const code = await findCode('code', request.code);
      const linked = await deps.pool.query(
        `SELECT r.*, c.code FROM referrals r JOIN referral_codes c ON c.id = r.referral_code_id
         WHERE r.org_id = $1 AND r.new_member_id = $2 AND r.status IN ('pending', 'confirmed', 'flagged')`,
        [code.org_id, request.newMemberId],
      );
      for (const row of linked.rows) {
        const codeOfReferral = row.referral_code_id === code.id ? code : await findCode('id', row.referral_code_id);
        await deps.temporal.workflow.signalWithStart(referralWorkflow, {
          ...startOptions(identityOf(snapshotFromRow(row)), codeOfReferral),
          signal: cancelSignal,
          signalArgs: [{ newMemberId: request.newMemberId, occurredAt: request.occurredAt ?? now().toISOString() }],
        });
      }
      return linked.rows.length;
    },
  };
}

export type ReferralService = ReturnType<typeof createReferralService>;
