import { randomUUID } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { createCodeStore, type ClickCodeRow, type CodeRow, type ConfirmationCodeRow } from '../db/codes';
import { createDeliveryStore, type DeliveryAnswer } from '../db/deliveries';
import { createIntakeStore, type ClickToTake, type IntakeAddress } from '../db/intake';
import { createInvitationStore } from '../db/invitations';
import { createReferralStore, snapshotFromRow } from '../db/referrals';
import type { FunnelStep } from '../domain/funnel';
import { notLaterThan, plausibleStepTime } from '../domain/reported-times';
import { JOURNEY_FAILURES, refusalMessage, type JourneyFailureType } from '../domain/journey';
import { identityOf, toConversionRecord, type ClickInput, type ConfirmationSource, type ConfirmInput, type ConversionRecord, type ReferralIdentity, type TakenMessage } from '../domain/referral';
import { AppError, ConflictError, EndedLinkError, JourneyRefusedError, NotFoundError, TooManyRequestsError } from '../errors';
import { cancelSignal, confirmUpdate, reviewSignal, TASK_QUEUE } from '../workflows/messages';
import { referralWorkflow } from '../workflows/referral-workflow';
import { createBatcher } from './batcher';
import { createExpiringCache } from './expiring-cache';
import { directReferralKey, erasedMemberHash, nameBasedUuid, networkOf, referralWorkflowId, saltedHash } from './identifiers';
import { createIntakeDelivery } from './intake-delivery';
import { identityFor, startOptions } from './referral-start';

export interface ReferralServiceSettings {
  taskQueue?: string;
  clock?: () => Date;
  /** Clicks on one code within a minute from which, at ten times its usual rate, clicks are held for review (30). */
  burstClicksPerMinute?: number;
  /** Clicks taken per minute from one client network, and on one code; more are answered 429 (120, 1200). */
  clicksPerNetworkPerMinute?: number;
  clicksPerCodePerMinute?: number;
  /** How long a message sent to a workflow directly (a review, a cancellation) waits for Temporal (5 s). */
  signalTimeoutMs?: number;
  /**
   * How long a confirmation waits for its referral's workflow to answer (20 s). The Temporal server can lose an
   * update it admitted (a worker killed mid-task, its cache evicting the run): the client would wait forever.
   * Answered 503 with Retry-After instead; the sender's retry confirms, and confirming twice is one attribution.
   */
  confirmTimeoutMs?: number;
}

/** The service's settings from the configuration: the API's and the worker's services are built alike. */
export const referralServiceSettings = (
  config: Pick<Config, 'BURST_CLICKS_PER_MINUTE' | 'RATE_LIMIT_PER_IP_PER_MINUTE' | 'RATE_LIMIT_PER_CODE_PER_MINUTE' | 'SIGNAL_TIMEOUT_MS' | 'CONFIRM_TIMEOUT_MS'>,
): ReferralServiceSettings => ({
  burstClicksPerMinute: config.BURST_CLICKS_PER_MINUTE,
  clicksPerNetworkPerMinute: config.RATE_LIMIT_PER_IP_PER_MINUTE,
  clicksPerCodePerMinute: config.RATE_LIMIT_PER_CODE_PER_MINUTE,
  signalTimeoutMs: config.SIGNAL_TIMEOUT_MS,
  confirmTimeoutMs: config.CONFIRM_TIMEOUT_MS,
});

export interface ReferralServiceDependencies extends ReferralServiceSettings {
  pool: Pool;
  /** Connections with generic plans for the intake's statements (clicks, steps, a direct send's flush); `pool` when absent. */
  intakePool?: Pool;
  temporal: Client;
  hashSalt: string;
}

/**
 * How long a busy code's count of last week's clicks is reused. The week moves by at most a minute's clicks in that
 * time, a ten-thousandth of the week at the code's usual rate; counting it for every click of a busy minute made a viral
 * code's clicks slower the bigger its week.
 */
const WEEK_COUNT_REUSE_MS = 60_000;
const WEEK_COUNTS_KEPT = 10_000;

/**
 * A click statement's batches: at most this many running at once per API process, of at most this many clicks. Two
 * keep Postgres's cores busy; more make smaller batches that wait on the same code's counter rows in turn.
 */
const CLICK_BATCHES = { inFlight: 2, maxBatch: 200 };

/** How often a registration is matched again when the referral it matched was claimed meanwhile. */
const MAX_REMATCHES = 3;

/** How many times one visitor's referral on one code may be erased and begun again. */
const MAX_ERASED_REFERRALS = 20;

export interface ClickRequest {
  code: string;
  visitorId?: string;
  /** The signed-in member who clicked, when the app sent their token: who, in which organisation. */
  member?: { userId: string; orgId: string };
  ipAddress?: string;
  userAgent?: string;
  metadata: Record<string, unknown>;
  /** From the invite page: the share channel defaults to the code's own. */
  viaLanding?: boolean;
  /** The invitation email whose link this is (its `inv`). */
  invitationId?: string;
}

export interface RecordedClick {
  referralId: string;
  referralCodeId: string;
  visitorHash: string;
  clickId: string;
  /** Whose invitation it is, for the invite page: the mentor's and the organisation's names. */
  inviter: { mentorName: string | null; orgName: string | null; welcomeReward: string | null };
}

/** What a referral token vouches for: the referral and how to find its workflow again. */
export interface ReferralTokenClaims {
  referralId: string;
  referralCodeId: string;
  visitorHash: string;
}

/** The referral a funnel step is for, and when it began, where the request can tell. */
export interface StepReferral extends ReferralTokenClaims {
  begunAt?: string;
}

export interface StepRequest {
  type: FunnelStep;
  occurredAt?: string;
  idempotencyKey: string;
  newMemberId?: string;
}

export interface MembershipDelivery {
  event: 'member.registered' | 'member.cancelled';
  referralCode: string;
  newMemberId: string;
  occurredAt: string;
  deliveryId: string;
}

export interface ConfirmRequest {
  code: string;
  newMemberId: string;
  occurredAt?: string;
  source: ConfirmationSource;
}

/** A workflow's typed refusal of a confirmation, as the API answers it; any other failure passes unchanged. */
function refusalOf(error: unknown): unknown {
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure)) return error;
  const failure = Object.values(JOURNEY_FAILURES).find((type) => type === (error.cause as ApplicationFailure).type);
  return failure ? new JourneyRefusedError(failure, error.cause.message) : error;
}

const refusedAs = (error: unknown, failure: JourneyFailureType) => error instanceof JourneyRefusedError && error.failure === failure;

/** A revoked link, or one past its expiry at `at`, takes no click. */
function refuseEnded(code: { revoked_at: Date | null; expires_at: Date | null; org_name: string | null }, at: Date): void {
  if (code.revoked_at) throw new EndedLinkError('this invite link has been revoked', code.org_name);
  if (code.expires_at && code.expires_at <= at) throw new EndedLinkError('this invite link has expired', code.org_name);
}

/**
 * The journey's entry points for every caller (invite link, app, membership webhook). Clicks and funnel steps are
 * taken into the intake and answered; confirmations, reviews and cancellations go to the referral's workflow, after
 * whatever of its messages the intake still holds.
 */
export function createReferralService(deps: ReferralServiceDependencies) {
  const taskQueue = deps.taskQueue ?? TASK_QUEUE;
  const now = deps.clock ?? (() => new Date());
  const burstClicksPerMinute = deps.burstClicksPerMinute ?? 30;
  const clickLimits = { perNetwork: deps.clicksPerNetworkPerMinute ?? 120, perCode: deps.clicksPerCodePerMinute ?? 1200 };
  const signalTimeoutMs = deps.signalTimeoutMs ?? 5000;
  const confirmTimeoutMs = deps.confirmTimeoutMs ?? 20_000;
  const referrals = createReferralStore(deps.pool);
  const deliveries = createDeliveryStore(deps.pool);
  const codes = createCodeStore(deps.pool);
  const intake = createIntakeStore(deps.intakePool ?? deps.pool);
  const invitations = createInvitationStore(deps.pool);
  const delivery = createIntakeDelivery({ temporal: deps.temporal, intake, deliveryTimeoutMs: signalTimeoutMs });
  // A click's statement, shared by the clicks that come while earlier ones run: a busy API pays for a statement per
  // batch, not per click, and a hot counter row is written once per batch.
  const clickStatements = createBatcher({ run: (clicks: ClickToTake[]) => intake.takeClicks(taskQueue, clicks, burstClicksPerMinute, clickLimits), ...CLICK_BATCHES });
  const checkedClicks = createBatcher({
    run: async (clicks: Array<{ address: IntakeAddress; message: ClickInput }>) => {
      await intake.takeCheckedClicks(clicks);
      return clicks.map(() => undefined);
    },
    ...CLICK_BATCHES,
  });
  const weekClicksByCode = createExpiringCache<number>({ ttlMs: WEEK_COUNT_REUSE_MS, limit: WEEK_COUNTS_KEPT, now: () => now().getTime() });

  /** The mentor's own account, or a device the mentor used, clicking the mentor's link. */
  async function isSelfReferral(code: ClickCodeRow, visitorHash: string, member: ClickRequest['member']): Promise<boolean> {
    if (member?.userId !== code.mentor_id || member.orgId !== code.org_id) return code.known_mentor_device;
    await codes.rememberMentorDevice(code.mentor_id, code.org_id, visitorHash);
    return true;
  }

  /** A minute's clicks that make a burst on a code with this many last week: the threshold and ten times its weekly rate. */
  const burstNeeded = (lastWeek: number) => Math.max(burstClicksPerMinute, Math.ceil((10 * lastWeek) / (7 * 24 * 60)));

  /** What makes a burst on a code whose last week is cached, for the click's statement to decide it; else nothing. */
  const knownBurstNeeded = (code: string) => {
    const lastWeek = weekClicksByCode.known(code);
    return lastWeek === undefined ? undefined : burstNeeded(lastWeek);
  };

  /** A burst: the last minute's clicks on the code reach the threshold and ten times the code's weekly rate. */
  async function isClickBurst(code: ClickCodeRow, at: Date): Promise<boolean> {
    // The week is counted only when the minute is busy, so ordinary clicks pay for a few index entries.
    if (code.clicks_last_minute < burstClicksPerMinute) return false;
    const needed = burstNeeded(await weekClicksByCode.get(code.code, () => codes.clicksLastWeek(code.id, at)));
    return needed === burstClicksPerMinute || (await codes.clicksLastMinute(code.id, at, needed)) >= needed;
  }

  const found = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new NotFoundError(what);
    return value;
  };

  /** Sends one message to a referral's workflow directly, after what the intake holds for it. */
  function sendDirect<T>(workflowId: string, timeoutMs: number, send: () => Promise<T>): Promise<T> {
    return withinDeadline(timeoutMs, async (deadline) => {
      await delivery.flush(workflowId, deadline);
      return send();
    });
  }

  /** `work` within `timeoutMs`, the intake's part and Temporal's alike. */
  function withinDeadline<T>(timeoutMs: number, work: (deadline: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    return deps.temporal.withDeadline(deadline, () => work(deadline));
  }

  async function confirmOn(identity: ReferralIdentity, code: CodeRow, request: ConfirmRequest & { occurredAt: string }): Promise<ConversionRecord> {
    const { occurredAt } = request;
    const confirmation: ConfirmInput = { newMemberId: request.newMemberId, occurredAt, source: request.source };
    try {
      // The referral's messages still in the intake go with the confirmation, ahead of it: one call and one workflow task.
      return await withinDeadline(confirmTimeoutMs, (deadline) =>
        delivery.sendWithTaken(identity.workflowId, deadline, async (taken, fresh) => {
          const args: [ConfirmInput, TakenMessage[]] = [confirmation, taken];
          // An update to the running workflow asks less of the Temporal server than update-with-start, which only a
          // referral with no running workflow needs: a direct one, a click not delivered yet, or one whose run ended
          // (it carries on from Postgres). One carrying the referral's first message has never had a run.
          if (!fresh) {
            try {
              return await deps.temporal.workflow.getHandle<typeof referralWorkflow>(identity.workflowId).executeUpdate(confirmUpdate, { args });
            } catch (error) {
              if (!(error instanceof WorkflowNotFoundError)) throw error;
            }
          }
          return deps.temporal.workflow.executeUpdateWithStart(confirmUpdate, {
            args,
            startWorkflowOperation: new WithStartWorkflowOperation(referralWorkflow, { ...startOptions(identity, code, taskQueue, { registeredAt: occurredAt, fresh }), workflowIdConflictPolicy: 'USE_EXISTING' }),
          });
        }),
      );
    } catch (error) {
      throw refusalOf(error);
    }
  }

  /**
   * A referral the service handed out, written by its workflow or still only a click in the intake (Temporal away, the
   * dispatcher behind): who it is, its code, and the member it is linked to.
   */
  async function knownReferral(referralId: string): Promise<{ identity: ReferralIdentity; code: CodeRow; member: string | null }> {
    const snapshot = await referrals.byId(referralId);
    if (snapshot) return { identity: identityOf(snapshot), code: found(await codes.byId(snapshot.referralCodeId), 'referral code'), member: snapshot.newMemberId };
    const { visitor_hash: visitorHash, linked_member: member, ...code } = found(await intake.takenClick(referralId), 'referral');
    return { identity: identityFor(code, visitorHash, false), code, member };
  }

  /**
   * The referral a registration on this code belongs to (DESIGN.md rule 4): (a) the one the app reported this
   * member's account on, recorded or not yet; (b) else the last clicked one no member has claimed, a click still in
   * the intake included; (c) else a direct referral. A referral already confirmed for this member still matches: a
   * repeated delivery that found no attribution a moment ago must land on it, not on a direct referral of its own. A
   * member whose referral on the code can no longer be confirmed (they cancelled, and now register again) is direct:
   * (b) would hand them another visitor's click.
   */
  async function matchReferral(
    code: ConfirmationCodeRow,
    member: { newMemberId: string; cancelledAt?: Date },
    passedOver: string[],
    reportedVisitorHash?: string | null,
  ): Promise<ReferralIdentity> {
    const { newMemberId } = member;
    const reported = reportedVisitorHash !== undefined ? reportedVisitorHash : await codes.reportedVisitor(code.id, newMemberId);
    if (reported) return identityFor(code, reported, false);
    const candidate = code.member_known ? undefined : await codes.matchCandidate(code.id, newMemberId, passedOver);
    // A member back after a cancellation is a direct referral of that comeback: the one before it was reversed.
    if (!candidate) return identityFor(code, directReferralKey(deps.hashSalt, newMemberId, member.cancelledAt), true);
    return { ...identityFor(code, candidate.visitor_hash ?? '', candidate.is_direct), referralId: candidate.referral_id, workflowId: candidate.workflow_id };
  }

  /** The key of a visitor's next referral on a code not erased: their first key was, and perhaps the next ones. */
  async function keyAfterErasures(codeId: string, visitorHash: string): Promise<string> {
    const keys = Array.from({ length: MAX_ERASED_REFERRALS }, (_, index) => saltedHash(deps.hashSalt, `${visitorHash}:after-erasure-${index + 1}`));
    const first = await referrals.firstNotErased(keys.map((key) => nameBasedUuid(referralWorkflowId(codeId, key))));
    return keys[first ?? keys.length - 1];
  }

  /**
   * confirmRecruitment(code, newMemberId), matched in the order of DESIGN.md rule 4. A member
   * already confirmed in the organisation keeps that attribution (one mentor per member).
   */
  async function confirmRecruitment(reported: ConfirmRequest): Promise<ConversionRecord> {
    const request = { ...reported, occurredAt: notLaterThan(reported.occurredAt, now()) };
    const code = found(await codes.forConfirmation(request.code, request.newMemberId), 'referral code');
    if (code.attribution) return toConversionRecord(snapshotFromRow(code.attribution));
    // An erased member was counted: their referral, as it stands, is the answer, not a new referral.
    const erased = await referrals.erasedFor(code.org_id, erasedMemberHash(deps.hashSalt, code.org_id, request.newMemberId));
    if (erased) return toConversionRecord(erased);
    // A registration older than the member's cancellation does not confirm them again (rule 6).
    const cancelled = code.cancelled_at ?? undefined;
    if (cancelled && request.occurredAt && Date.parse(request.occurredAt) <= cancelled.getTime()) {
      const latest = await referrals.latestFor(code.org_id, request.newMemberId);
      if (latest) return toConversionRecord(latest);
      throw new ConflictError('the member cancelled their membership after this registration');
    }
    const passedOver: string[] = [];
    for (;;) {
      // The link read with the code serves the first match; a match again reads it afresh.
      const identity = await matchReferral(code, { newMemberId: request.newMemberId, cancelledAt: cancelled }, passedOver, passedOver.length === 0 ? code.reported_visitor_hash : undefined);
      try {
        return await confirmOn(identity, code, request);
      } catch (error) {
        // Superseded meanwhile: another delivery confirmed this member elsewhere in the organisation; that is the answer.
        const attributedMeanwhile = refusedAs(error, JOURNEY_FAILURES.superseded) ? await referrals.confirmedFor(code.org_id, request.newMemberId) : undefined;
        if (attributedMeanwhile) return toConversionRecord(attributedMeanwhile);
        // Rule 4(b)'s pick was claimed by another member's account after it was read: match again without it.
        if (!refusedAs(error, JOURNEY_FAILURES.linkedToAnotherMember) || identity.direct || passedOver.length >= MAX_REMATCHES) throw error;
        passedOver.push(identity.referralId);
      }
    }
  }

  /** member.cancelled: the member's attribution in the organisation is reversed and stops counting. */
  async function cancelMembership(request: { code: string; newMemberId: string; occurredAt?: string }): Promise<number> {
    const code = found(await codes.byCode(request.code), 'referral code');
    const occurredAt = notLaterThan(request.occurredAt, now());
    await deliveries.recordCancellation(code.org_id, request.newMemberId, occurredAt);
    const linked = await referrals.cancellableFor(code.org_id, request.newMemberId);
    for (const snapshot of linked) {
      const codeOfReferral = snapshot.referralCodeId === code.id ? code : found(await codes.byId(snapshot.referralCodeId), 'referral code');
      await sendDirect(snapshot.workflowId, signalTimeoutMs, () =>
        deps.temporal.workflow.signalWithStart(referralWorkflow, {
          ...startOptions(identityOf(snapshot), codeOfReferral, taskQueue),
          signal: cancelSignal,
          signalArgs: [{ newMemberId: request.newMemberId, occurredAt }],
        }),
      );
    }
    return linked.length;
  }

  return {
    /**
     * An invite-link click, taken into the intake: one referral per visitor and code. The statement that looks its
     * code up takes it; a click whose checks need more (a signed-in member's, an invitation's, a busy minute's on a
     * code whose week is not known yet) is checked here and taken by a second.
     */
    async recordClick(request: ClickRequest): Promise<RecordedClick> {
      // A click with no visitor id cannot be recognised again: it is a referral of its own.
      const visitorHash = saltedHash(deps.hashSalt, request.visitorId ?? randomUUID());
      const at = now();
      const network = networkOf(request.ipAddress ?? 'unknown');
      const outcome = await clickStatements.submit({
        code: request.code,
        visitorHash,
        network,
        at,
        message: {
          clickId: randomUUID(),
          occurredAt: at.toISOString(),
          ipHash: request.ipAddress ? saltedHash(deps.hashSalt, network) : null,
          userAgent: request.userAgent?.slice(0, 512) ?? null,
          metadata: request.invitationId ? { ...request.metadata, invitationId: request.invitationId } : request.metadata,
        },
        viaLanding: request.viaLanding ?? false,
        takeHere: !request.member && !request.invitationId,
        burstNeeded: knownBurstNeeded(request.code),
      });
      if (outcome.limit.over) throw new TooManyRequestsError(Math.max(1, Math.ceil(outcome.limit.resetsInMs / 1000)));
      const code = found(outcome.code, 'referral code');
      refuseEnded(code, at);
      // A visitor whose referral here was erased, clicking again, starts another: nothing more is written to that one.
      const visitorKey = outcome.erased ? await keyAfterErasures(code.id, visitorHash) : visitorHash;
      const identity = identityFor(code, visitorKey, false);
      if (!outcome.taken) {
        const [selfReferral, burst] = await Promise.all([isSelfReferral(code, visitorHash, request.member), outcome.message.burst ?? isClickBurst(code, at)]);
        if (request.invitationId) await invitations.markClicked(request.invitationId, code.id, at);
        await checkedClicks.submit({
          address: { taskQueue, referralId: identity.referralId, workflowId: identity.workflowId, referralCodeId: code.id, orgId: code.org_id, visitorHash: visitorKey },
          message: { ...outcome.message, selfReferral, burst },
        });
      }
      const inviter = { mentorName: code.mentor_name, orgName: code.org_name, welcomeReward: code.welcome_reward };
      return { referralId: identity.referralId, referralCodeId: code.id, visitorHash: visitorKey, clickId: outcome.message.clickId, inviter };
    },

    /** Whose invitation a live code is (a link preview's card), or a 404 / 410 as a click would get; nothing is recorded. */
    async inviterOf(code: string): Promise<RecordedClick['inviter']> {
      const row = found(await codes.inviterOf(code), 'referral code');
      refuseEnded(row, now());
      return { mentorName: row.mentor_name, orgName: row.org_name, welcomeReward: row.welcome_reward };
    },

    /** A step the signed-in member sends with their own token: for the referral linked to them, and no other. */
    async memberReferral(member: { userId: string; orgId: string }, referralId: string): Promise<StepReferral> {
      const key = found(await referrals.memberReferralKey(member.orgId, member.userId, referralId), 'referral');
      return { referralId, referralCodeId: key.referral_code_id, visitorHash: key.visitor_hash, begunAt: key.clicked_at?.toISOString() };
    },

    /** A funnel step from the app, for the referral its token names, taken into the intake. */
    async recordFunnelStep(claims: StepReferral, step: StepRequest): Promise<void> {
      const workflowId = referralWorkflowId(claims.referralCodeId, claims.visitorHash);
      if (nameBasedUuid(workflowId) !== claims.referralId) throw new NotFoundError('referral');
      const taken = found(
        await intake.takeStep(
          { taskQueue, referralId: claims.referralId, workflowId, referralCodeId: claims.referralCodeId, visitorHash: claims.visitorHash },
          { ...step, occurredAt: plausibleStepTime(step.occurredAt, claims.begunAt, now()) },
        ),
        'referral code',
      );
      // An erased referral is as unknown as one never seen: its token opens nothing.
      if (taken.erased) throw new NotFoundError('referral');
      if (!taken.taken) throw new ConflictError('this referral is already linked to another member');
    },

    confirmRecruitment,

    /** PUT /referral-attributions/:id: the membership system confirms a referral it already knows. */
    async confirmKnownReferral(referralId: string, request: { newMemberId: string; occurredAt?: string; source: ConfirmationSource }): Promise<ConversionRecord> {
      const known = await knownReferral(referralId);
      const confirmed = await referrals.confirmedFor(known.identity.orgId, request.newMemberId);
      if (confirmed) return toConversionRecord(confirmed);
      // The store decides, as the workflow would: its run may not know the member (its update lost with a task).
      if (known.member && known.member !== request.newMemberId) {
        throw new JourneyRefusedError(JOURNEY_FAILURES.linkedToAnotherMember, refusalMessage(JOURNEY_FAILURES.linkedToAnotherMember, referralId));
      }
      return confirmOn(known.identity, known.code, { ...request, code: known.code.code, occurredAt: notLaterThan(request.occurredAt, now()) });
    },

    /** A coordinator's decision on a referral held for review. */
    async review(referralId: string, review: { decision: 'approve' | 'reject'; reviewerId: string }): Promise<void> {
      const snapshot = found(await referrals.byId(referralId), 'referral');
      // Its journey ended with the erasure: nothing moves it on, and a run started for it would outlive its history.
      if ((await referrals.firstNotErased([referralId])) === undefined) throw new ConflictError('the referral was erased: its journey is over');
      if (snapshot.status !== 'flagged') throw new ConflictError(`the referral is ${snapshot.status}, not waiting for review`);
      const code = found(await codes.byId(snapshot.referralCodeId), 'referral code');
      await sendDirect(snapshot.workflowId, signalTimeoutMs, () =>
        deps.temporal.workflow.signalWithStart(referralWorkflow, {
          ...startOptions(identityOf(snapshot), code, taskQueue),
          signal: reviewSignal,
          signalArgs: [{ ...review, occurredAt: now().toISOString() }],
        }),
      );
    },

    cancelMembership,

    /**
     * A membership webhook delivery, answered once: the same delivery id again answers its first answer and changes
     * nothing, whatever happened in between. A refusal (4xx) is an answer too; an outage (5xx) is not kept, so the
     * sender's retry is handled afresh.
     */
    async handleMembershipDelivery(delivery: MembershipDelivery): Promise<DeliveryAnswer> {
      const first = await deliveries.answerOf(delivery.deliveryId);
      if (first) return first;
      let answer: DeliveryAnswer;
      try {
        const request = { code: delivery.referralCode, newMemberId: delivery.newMemberId, occurredAt: delivery.occurredAt };
        answer = {
          status: 200,
          answer:
            delivery.event === 'member.registered'
              ? { deliveryId: delivery.deliveryId, conversion: await confirmRecruitment({ ...request, source: 'webhook' }) }
              : { deliveryId: delivery.deliveryId, reversed: await cancelMembership(request) },
        };
      } catch (error) {
        if (!(error instanceof AppError) || error.status >= 500) throw error;
        answer = { status: error.status, answer: { error: { code: error.code, message: error.message, details: error.details } } };
      }
      return (await deliveries.keep(delivery.deliveryId, delivery.event, answer)) ?? (await deliveries.answerOf(delivery.deliveryId)) ?? answer;
    },
  };
}

export type ReferralService = ReturnType<typeof createReferralService>;
