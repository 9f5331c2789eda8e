import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { createActivities } from '../activities';
import { advanceStage, stageIndex, type AttributionStatus, type FunnelStep } from '../domain/funnel';
import {
  NEW_REFERRAL,
  linkedToAnotherMember,
  toConversionRecord,
  type CancelInput,
  type ClickInput,
  type ConfirmInput,
  type ConversionRecord,
  type FunnelStepInput,
  type OrgSettings,
  type ReferralEventInput,
  type ReferralIdentity,
  type ReferralSnapshot,
  type ReviewInput,
  type StoredReferral,
  type SupersedeInput,
  type TimelineEntry,
} from '../domain/referral';
import {
  cancelSignal,
  clickSignal,
  confirmUpdate,
  funnelStepSignal,
  reviewSignal,
  stateQuery,
  supersedeSignal,
} from './messages';
import {
  AttributionStatus as AttributionStatusKey,
  MentorId,
  OrgId,
  ReferralCode,
  ReferralStage,
  ReferralStuck,
} from './search-attributes';

type Activities = ReturnType<typeof createActivities>;

const storeOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;
// The Postgres writes run as local activities: each is a marker in the workflow task that asked for it,
// instead of a schedule, a task handed out, a completion and another workflow task on the Temporal server,
// whose store is what bounds referrals per second.
const remoteStore = proxyActivities<Activities>(storeOptions);
const localStore = proxyLocalActivities<Activities>(storeOptions);

// A badge service that is down for minutes still gets every award: retry without a limit.
const badges = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds' },
});

export interface ReferralWorkflowInput {
  identity: ReferralIdentity;
  settings: OrgSettings;
  /** State handed over by continue-as-new; absent, the run loads it from Postgres. */
  carried?: StoredReferral;
}

const ENDED_STATUSES: readonly AttributionStatus[] = ['expired', 'superseded', 'rejected', 'reversed'];
const CONFIRMABLE_STATUSES: readonly AttributionStatus[] = ['pending', 'expired', 'flagged'];

/**
 * One referral's journey: clicks, funnel steps, confirmation, expiry and the overdue mark.
 * Every run starts from the state in Postgres, so a signal or confirmation that arrives after
 * the referral's workflow has ended starts a new run that carries on where the last one stopped.
 */
export async function referralWorkflow(input: ReferralWorkflowInput): Promise<ConversionRecord> {
  const { identity, settings } = input;
  // Runs of this release persist through local activities and upsert only the search attributes that changed
  // (each upsert is a visibility write; most saves change neither stage nor status); runs recorded before
  // replay as they ran. One patch for both, and none other in these runs: every patch adds an upsert of its own.
  const fewerServerWrites = patched('fewer-server-writes');
  const store = fewerServerWrites ? localStore : remoteStore;
  const now = () => new Date(Date.now()).toISOString();
  const ms = (seconds: number) => seconds * 1000;
  let referral: ReferralSnapshot = input.carried?.snapshot ?? freshSnapshot(identity, now());
  let countedClicks = input.carried?.countedClicks ?? 0;
  let duplicateClicks = input.carried?.duplicateClicks ?? 0;
  let badgeCheckDue = false;
  const timeline: TimelineEntry[] = [];

  // Handlers run one at a time, in arrival order, so each persists the state it changed;
  // `changes` tells the main loop to re-read its deadlines.
  let tail: Promise<unknown> = Promise.resolve();
  let changes = 0;
  const markChanged = () => {
    changes += 1;
  };
  function serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = tail.then(work);
    tail = result.then(markChanged, markChanged);
    return result;
  }

  /**
   * Carries on from what Postgres holds, which an attempt whose task was lost may have taken further than this
   * history (its confirmation update never entered it); a confirmation's badges are then due. Every state this run
   * holds was written there first, so the store is never behind it.
   */
  async function adoptStoredProgress() {
    const stored = await store.loadReferral(identity.referralId);
    if (!stored) return;
    referral = stored.snapshot;
    if (referral.status === 'confirmed') badgeCheckDue = true;
  }

  async function save(next: ReferralSnapshot, event: ReferralEventInput, click?: ClickInput & { duplicate: boolean; implicit: boolean }) {
    const stored = await store.persistReferral({ snapshot: next, event, click });
    // Writes recorded before the store answered its stage carry none.
    const storeIsAhead = stored.status !== next.status || (stored.stage !== undefined && stored.stage !== next.stage);
    if (!storeIsAhead || stored.status === 'superseded' || !patched('adopt-stored-progress')) {
      // Another referral's confirmation may have superseded this one in the meantime.
      referral = stored.status === 'superseded' ? { ...next, status: 'superseded' } : next;
    } else {
      // Postgres is ahead of this history: an attempt whose task was lost after its activities ran got further
      // (seen confirming in the Postgres drill; a confirmation held for review moves the stage alone).
      referral = next;
      await adoptStoredProgress();
    }
    timeline.push({
      type: event.type,
      stage: referral.stage,
      status: referral.status,
      occurredAt: event.occurredAt,
      detail: event.detail,
    });
    publishSearchAttributes();
  }

  function publishSearchAttributes() {
    const wanted: SearchAttributeUpdatePair[] = [
      { key: ReferralStage, value: referral.stage },
      { key: AttributionStatusKey, value: referral.status },
      { key: ReferralStuck, value: referral.stuck },
      { key: MentorId, value: identity.mentorId },
      { key: OrgId, value: identity.orgId },
      { key: ReferralCode, value: identity.code },
    ];
    const current = workflowInfo().typedSearchAttributes;
    const changed = fewerServerWrites ? wanted.filter(({ key, value }) => current.get(key) !== value) : wanted;
    if (changed.length > 0) upsertSearchAttributes(changed);
  }

  async function start() {
    if (!input.carried) {
      const stored = await store.loadReferral(identity.referralId);
      if (stored) {
        referral = stored.snapshot;
        countedClicks = stored.countedClicks;
        duplicateClicks = stored.duplicateClicks;
        // Confirmed by an attempt that never completed (its worker killed after claiming a badge, seen in the
        // kill drill): the claim is this referral's to deliver. Claiming again is idempotent.
        if (referral.status === 'confirmed' && patched('badge-check-on-resume')) badgeCheckDue = true;
      } else if (identity.direct) {
        const at = now();
        await save(
          referral,
          { type: 'direct_registration', idempotencyKey: `direct:${identity.referralId}`, occurredAt: at },
          { clickId: uuid4(), occurredAt: at, ipHash: null, userAgent: null, metadata: {}, duplicate: false, implicit: true },
        );
        countedClicks = 1;
      }
    }
    publishSearchAttributes();
  }

  async function onClick(click: ClickInput) {
    const isFirst = countedClicks === 0 && duplicateClicks === 0;
    const sinceLastCounted = Date.parse(click.occurredAt) - Date.parse(referral.lastClickAt);
    const duplicate = !isFirst && sinceLastCounted < ms(settings.dedupeWindowSeconds);
    let next = referral;
    if (isFirst) next = { ...referral, clickedAt: click.occurredAt, lastClickAt: click.occurredAt };
    else if (!duplicate) next = { ...referral, lastClickAt: click.occurredAt };
    // A counted click on an expired referral opens a new attribution window.
    if (!duplicate && next.status === 'expired') next = { ...next, status: 'pending', endedAt: null };
    let type = duplicate ? 'duplicate_click' : 'click';
    if (!duplicate && click.selfReferral && CONFIRMABLE_STATUSES.includes(next.status)) {
      next = { ...next, status: 'rejected', endedAt: click.occurredAt };
      type = 'self_referral_rejected';
    } else if (!duplicate && click.burst && next.status === 'pending') {
      next = { ...next, status: 'flagged', flagReason: 'click_burst' };
      type = 'flagged';
    }
    await save(
      next,
      { type, idempotencyKey: `click:${click.clickId}`, occurredAt: click.occurredAt, detail: type === 'flagged' ? { reason: 'click_burst' } : undefined },
      { ...click, duplicate, implicit: false },
    );
    if (duplicate) duplicateClicks += 1;
    else countedClicks += 1;
  }

  async function onFunnelStep(step: FunnelStepInput) {
    // A signal cannot be refused; the API turns away a member id that conflicts before sending it.
    if (step.newMemberId && referral.newMemberId && step.newMemberId !== referral.newMemberId) return;
    const advance = advanceStage(referral.stage, step.type);
    const linksMember = step.type === 'account_created' && step.newMemberId && !referral.newMemberId;
    if (!advance.advanced && !linksMember) return;
    let next: ReferralSnapshot = {
      ...referral,
      stage: advance.stage,
      impliedSteps: [...referral.impliedSteps, ...advance.implied],
      newMemberId: linksMember ? (step.newMemberId ?? null) : referral.newMemberId,
    };
    for (const reached of [...advance.implied, ...(advance.advanced ? [step.type] : [])]) {
      next = withStepTime(next, reached, step.occurredAt);
    }
    const selfReferral = next.newMemberId === identity.mentorId && CONFIRMABLE_STATUSES.includes(next.status);
    if (selfReferral) next = { ...next, status: 'rejected', endedAt: step.occurredAt };
    const accountJustCreated = referral.accountCreatedAt === null && next.accountCreatedAt !== null;
    // Histories recorded before the risk check replay without it; runs of the fewer-server-writes release all have it.
    if (!selfReferral && accountJustCreated && next.status === 'pending' && (fewerServerWrites || patched('account-risk-assessment'))) {
      const { flagReason } = await store.assessAccountRisk({
        referralId: identity.referralId,
        mentorId: identity.mentorId,
        visitorHash: identity.visitorHash,
      });
      if (flagReason) next = { ...next, status: 'flagged', flagReason };
    }
    await save(next, {
      type: selfReferral ? 'self_referral_rejected' : step.type,
      idempotencyKey: `step:${identity.referralId}:${step.idempotencyKey}`,
      occurredAt: step.occurredAt,
      detail: {
        ...(advance.implied.length > 0 ? { impliedSteps: advance.implied } : {}),
        ...(next.status === 'flagged' && referral.status !== 'flagged' ? { flagged: next.flagReason } : {}),
      },
    });
  }

  function validateConfirmation(confirmation: ConfirmInput) {
    if (referral.status === 'superseded') {
      throw ApplicationFailure.nonRetryable(
        `referral ${identity.referralId} was superseded by another mentor's referral`,
        'ReferralSuperseded',
      );
    }
    if (referral.newMemberId && referral.newMemberId !== confirmation.newMemberId) throw linkedToAnotherMember(identity.referralId);
  }

  async function onConfirm(confirmation: ConfirmInput): Promise<ConversionRecord> {
    validateConfirmation(confirmation);
    if (!CONFIRMABLE_STATUSES.includes(referral.status)) return toConversionRecord(referral);
    const advance = advanceStage(referral.stage, 'account_created');
    let next: ReferralSnapshot = {
      ...referral,
      stage: advance.stage,
      impliedSteps: [...referral.impliedSteps, ...advance.implied, ...(advance.advanced ? ['account_created' as const] : [])],
      newMemberId: confirmation.newMemberId,
      stuck: false,
      endedAt: null,
    };
    for (const reached of [...advance.implied, ...(advance.advanced ? ['account_created' as const] : [])]) {
      next = withStepTime(next, reached, confirmation.occurredAt);
    }
    if (confirmation.newMemberId === identity.mentorId) {
      await save(
        { ...next, status: 'rejected', endedAt: confirmation.occurredAt },
        {
          type: 'self_referral_rejected',
          idempotencyKey: `rejected:${identity.referralId}:${confirmation.newMemberId}`,
          occurredAt: confirmation.occurredAt,
          detail: { source: confirmation.source },
        },
      );
      return toConversionRecord(referral);
    }
    if (referral.status === 'flagged') {
      // Held for review: the confirmation is recorded and counts once a coordinator approves.
      await save(
        { ...next, confirmedAt: confirmation.occurredAt },
        {
          type: 'confirmation_held_for_review',
          idempotencyKey: `held:${identity.referralId}:${confirmation.newMemberId}`,
          occurredAt: confirmation.occurredAt,
          detail: { source: confirmation.source },
        },
      );
      return toConversionRecord(referral);
    }
    return commitConfirmation(
      { ...next, status: 'confirmed', confirmedAt: confirmation.occurredAt },
      {
        type: referral.status === 'expired' ? 'late_confirmation' : 'confirmed',
        idempotencyKey: `confirmed:${identity.referralId}:${confirmation.newMemberId}`,
        occurredAt: confirmation.occurredAt,
        detail: { source: confirmation.source },
      },
    );
  }

  /** Makes the attribution count, one mentor per member, and tells the referrals it supersedes. */
  async function commitConfirmation(next: ReferralSnapshot, event: ReferralEventInput): Promise<ConversionRecord> {
    const outcome = await store.confirmAttribution({ snapshot: next, event });
    referral = outcome.snapshot;
    timeline.push({ type: event.type, stage: referral.stage, status: referral.status, occurredAt: event.occurredAt, detail: event.detail });
    publishSearchAttributes();
    for (const workflowId of outcome.supersededWorkflowIds) {
      // Best effort: a referral whose run has ended is already superseded in Postgres.
      await getExternalWorkflowHandle(workflowId)
        .signal(supersedeSignal, { byReferralId: identity.referralId, occurredAt: event.occurredAt })
        .catch(() => undefined);
    }
    if (referral.status === 'confirmed') badgeCheckDue = true;
    return outcome.record;
  }

  async function onReview(review: ReviewInput) {
    // An approval only a held confirmation makes sense of; approvals are rare, so the read costs nothing that matters.
    if (review.decision === 'approve' && !referral.confirmedAt && patched('review-reads-stored-confirmation')) await adoptStoredProgress();
    if (referral.status !== 'flagged') return;
    const event: ReferralEventInput = {
      type: review.decision === 'approve' ? 'review_approved' : 'review_rejected',
      idempotencyKey: `review:${identity.referralId}`,
      occurredAt: review.occurredAt,
      detail: { reviewerId: review.reviewerId, flagReason: referral.flagReason },
    };
    if (review.decision === 'reject') {
      await save({ ...referral, status: 'rejected', endedAt: review.occurredAt }, event);
    } else if (referral.confirmedAt && referral.newMemberId) {
      await commitConfirmation({ ...referral, status: 'confirmed' }, event);
    } else {
      await save({ ...referral, status: 'pending' }, event);
    }
  }

  async function onCancel(cancellation: CancelInput) {
    // The API sends a cancellation to the referrals Postgres links to the member: this run not knowing the member means the store is ahead.
    if (!referral.newMemberId && patched('cancel-reads-stored-member')) await adoptStoredProgress();
    const cancellable: readonly AttributionStatus[] = ['pending', 'confirmed', 'flagged'];
    if (referral.newMemberId !== cancellation.newMemberId || !cancellable.includes(referral.status)) return;
    await save(
      { ...referral, status: 'reversed', stuck: false, endedAt: cancellation.occurredAt },
      {
        type: 'reversed',
        idempotencyKey: `reversed:${identity.referralId}:${cancellation.newMemberId}`,
        occurredAt: cancellation.occurredAt,
      },
    );
  }

  async function onSupersede(supersession: SupersedeInput) {
    if (!CONFIRMABLE_STATUSES.includes(referral.status)) return;
    await save(
      { ...referral, status: 'superseded', stuck: false, endedAt: supersession.occurredAt },
      {
        type: 'superseded',
        idempotencyKey: `superseded:${identity.referralId}:${supersession.byReferralId}`,
        occurredAt: supersession.occurredAt,
        detail: { byReferralId: supersession.byReferralId },
      },
    );
  }

  async function onDeadline() {
    const at = now();
    if (referral.status === 'pending' && stageIndex(referral.stage) < stageIndex('account_created')) {
      await save(
        { ...referral, status: 'expired', endedAt: at },
        { type: 'expired', idempotencyKey: `expired:${identity.referralId}:${referral.lastClickAt}`, occurredAt: at },
      );
    } else if (referral.status === 'pending' && !referral.stuck) {
      await save(
        { ...referral, stuck: true },
        {
          type: 'confirmation_overdue',
          idempotencyKey: `overdue:${identity.referralId}:${referral.accountCreatedAt}`,
          occurredAt: at,
        },
      );
    }
  }

  async function awardBadges() {
    const awards = await store.claimBadgeAwards({
      mentorId: identity.mentorId,
      orgId: identity.orgId,
      milestones: settings.badgeMilestones,
      claimedBy: identity.referralId,
    });
    for (const award of awards) await badges.deliverBadgeAward(award);
  }

  /** When the referral next needs attention on its own, or undefined when it only waits for messages. */
  function nextDeadline(): number | undefined {
    if (referral.status === 'pending' && stageIndex(referral.stage) < stageIndex('account_created')) {
      return Date.parse(referral.lastClickAt) + ms(settings.attributionWindowSeconds);
    }
    if (referral.status === 'pending' && !referral.stuck && referral.accountCreatedAt) {
      return Date.parse(referral.accountCreatedAt) + ms(settings.confirmationWindowSeconds);
    }
    if (referral.status === 'confirmed' && referral.confirmedAt) {
      return Date.parse(referral.confirmedAt) + ms(settings.attributionWindowSeconds);
    }
    return undefined;
  }

  function journeyOver(): boolean {
    if (ENDED_STATUSES.includes(referral.status)) return true;
    if (referral.status !== 'confirmed' || !referral.confirmedAt) return false;
    // A confirmed member is followed to first login, for one attribution window at most.
    const followUntil = Date.parse(referral.confirmedAt) + ms(settings.attributionWindowSeconds);
    return referral.stage === 'first_login' || Date.now() >= followUntil;
  }

  const started = serialized(start);
  setHandler(clickSignal, (click) => serialized(() => onClick(click)));
  setHandler(funnelStepSignal, (step) => serialized(() => onFunnelStep(step)));
  setHandler(cancelSignal, (cancellation) => serialized(() => onCancel(cancellation)));
  setHandler(supersedeSignal, (supersession) => serialized(() => onSupersede(supersession)));
  setHandler(reviewSignal, (review) => serialized(() => onReview(review)));
  setHandler(confirmUpdate, (confirmation) => serialized(() => onConfirm(confirmation)), {
    validator: validateConfirmation,
  });
  setHandler(stateQuery, () => ({ referral, countedClicks, duplicateClicks, timeline }));
  await started;

  for (;;) {
    if (badgeCheckDue) {
      badgeCheckDue = false;
      await awardBadges();
      continue;
    }
    if (journeyOver()) {
      // A message that arrived meanwhile may reopen the journey (a click on an expired referral).
      await condition(allHandlersFinished);
      if (journeyOver() && !badgeCheckDue) break;
      continue;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof referralWorkflow>({
        identity,
        settings,
        carried: { snapshot: referral, countedClicks, duplicateClicks },
      });
    }
    const deadline = nextDeadline();
    const seen = changes;
    const changed = () => changes !== seen || badgeCheckDue;
    const woken =
      deadline === undefined ? await condition(changed) : await condition(changed, Math.max(deadline - Date.now(), 1));
    if (!woken) await serialized(onDeadline);
  }
  return toConversionRecord(referral);

  function withStepTime(snapshot: ReferralSnapshot, step: FunnelStep, at: string): ReferralSnapshot {
    const field = ({ installed: 'installedAt', account_created: 'accountCreatedAt', first_login: 'firstLoginAt' } as const)[step];
    return { ...snapshot, [field]: at };
  }
}

function freshSnapshot(identity: ReferralIdentity, at: string): ReferralSnapshot {
  return {
    ...identity,
    ...NEW_REFERRAL,
    impliedSteps: [],
    newMemberId: null,
    clickedAt: at,
    lastClickAt: at,
    installedAt: null,
    accountCreatedAt: null,
    firstLoginAt: null,
    confirmedAt: null,
    endedAt: null,
  };
}
