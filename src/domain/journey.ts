/**
 * The journey's rules (DESIGN.md section 3), pure: `decide(state, message, settings, now)` answers the next state, the
 * events to record and the effects to run. The workflow feeds it its messages and runs the effects; SQL that needs a
 * list of statuses takes it from `STATUS_RULES`.
 */
import { FUNNEL_STEPS, stageIndex, type AttributionStatus, type FunnelStep } from './funnel';
import { NEW_REFERRAL } from './referral';
import type {
  CancelInput,
  ClickInput,
  ConfirmInput,
  FunnelStepInput,
  OrgSettings,
  ReferralEventInput,
  ReferralIdentity,
  ReferralSnapshot,
  ReviewInput,
  StoredReferral,
  SupersedeInput,
  TimelineEntry,
} from './referral';

interface StatusRule {
  /** A confirmation may still confirm it (an expired one as a late confirmation). */
  confirmable: boolean;
  /** member.cancelled reverses it. */
  cancellable: boolean;
  /** The run ends in it (a later message starts a new run from Postgres). */
  endsRun: boolean;
  /** Decided for good: Postgres never moves it to another status. */
  settled: boolean;
  /** Counted in its mentor's funnel (not when another mentor's referral won, nor a self-referral). */
  inFunnel: boolean;
  /** The member joined through it (a recruit of the mentor, cancelled later or not). */
  recruited: boolean;
  /** The statuses it may move to. */
  next: readonly AttributionStatus[];
}

/** One table of statuses and their transitions. */
export const STATUS_RULES: Record<AttributionStatus, StatusRule> = {
  pending: { confirmable: true, cancellable: true, endsRun: false, settled: false, inFunnel: true, recruited: false, next: ['confirmed', 'flagged', 'expired', 'rejected', 'superseded', 'reversed'] },
  flagged: { confirmable: true, cancellable: true, endsRun: false, settled: false, inFunnel: true, recruited: false, next: ['pending', 'confirmed', 'rejected', 'superseded', 'reversed'] },
  expired: { confirmable: true, cancellable: false, endsRun: true, settled: false, inFunnel: true, recruited: false, next: ['pending', 'confirmed', 'flagged', 'rejected', 'superseded'] },
  confirmed: { confirmable: false, cancellable: true, endsRun: false, settled: false, inFunnel: true, recruited: true, next: ['reversed'] },
  superseded: { confirmable: false, cancellable: false, endsRun: true, settled: true, inFunnel: false, recruited: false, next: [] },
  reversed: { confirmable: false, cancellable: false, endsRun: true, settled: true, inFunnel: true, recruited: true, next: [] },
  rejected: { confirmable: false, cancellable: false, endsRun: true, settled: true, inFunnel: false, recruited: false, next: [] },
};

const statusesWhere = (rule: (status: StatusRule) => boolean) =>
  (Object.keys(STATUS_RULES) as AttributionStatus[]).filter((status) => rule(STATUS_RULES[status]));

export const CONFIRMABLE_STATUSES = statusesWhere((status) => status.confirmable);
export const CANCELLABLE_STATUSES = statusesWhere((status) => status.cancellable);
export const FUNNEL_STATUSES = statusesWhere((status) => status.inFunnel);
export const RECRUITED_STATUSES = statusesWhere((status) => status.recruited);
/** A member's registration already decided on: counted, reversed or refused. The reconciliation leaves these. */
export const DECIDED_FOR_MEMBER: readonly AttributionStatus[] = ['confirmed', 'reversed', 'rejected'];

export const mayMove = (from: AttributionStatus, to: AttributionStatus) => from === to || STATUS_RULES[from].next.includes(to);

/** The events of a journey and their idempotency keys: an event is recorded once per key. */
export const JOURNEY_EVENTS = {
  click: (clickId: string) => `click:${clickId}`,
  step: (referralId: string, stepKey: string) => `step:${referralId}:${stepKey}`,
  direct: (referralId: string) => `direct:${referralId}`,
  confirmed: (referralId: string, memberId: string) => `confirmed:${referralId}:${memberId}`,
  held: (referralId: string, memberId: string) => `held:${referralId}:${memberId}`,
  rejected: (referralId: string, memberId: string) => `rejected:${referralId}:${memberId}`,
  review: (referralId: string) => `review:${referralId}`,
  reversed: (referralId: string, memberId: string) => `reversed:${referralId}:${memberId}`,
  superseded: (referralId: string, byReferralId: string) => `${SUPERSEDED_KEY_PREFIX}:${referralId}:${byReferralId}`,
  expired: (referralId: string, lastClickAt: string) => `expired:${referralId}:${lastClickAt}`,
  overdue: (referralId: string, accountCreatedAt: string) => `overdue:${referralId}:${accountCreatedAt}`,
} as const;
/** Postgres writes the superseded events of a confirmation itself, as `<prefix>:<referral>:<by>`. */
export const SUPERSEDED_KEY_PREFIX = 'superseded';

/** Message ids remembered to recognise a message delivered twice. */
const SEEN_KEPT = 200;

/** What the journey holds between messages. */
export interface JourneyState {
  referral: ReferralSnapshot;
  /** When each counted click happened: the dedupe window is measured from them. */
  countedClickTimes: string[];
  duplicateClicks: number;
  /** Ids of the clicks and steps taken, newest last. */
  seen: string[];
  /** A confirmation stands: the mentor's milestones are to be checked. */
  badgesDue: boolean;
}

export interface StoredClick extends ClickInput {
  duplicate: boolean;
  implicit: boolean;
}

/** What Postgres holds after a write: the write's own status and stage, or those that stood. */
export type StoredProgress = Pick<ReferralSnapshot, 'status' | 'stage'>;

export type JourneyMessage =
  /** A registration with no tracked click: its implicit click is dated at the registration (`at`), if not later than now. */
  | { type: 'direct'; clickId: string; at?: string }
  | { type: 'click'; click: ClickInput }
  /** `flagReason`: what the account's risk assessment found, when the step creates the account. */
  | { type: 'step'; step: FunnelStepInput; flagReason: string | null }
  | { type: 'confirm'; confirmation: ConfirmInput }
  /** `storeRead`: sent again after the run read Postgres, which may know more than its history. */
  | { type: 'review'; review: ReviewInput; storeRead?: boolean }
  | { type: 'cancel'; cancellation: CancelInput; storeRead?: boolean }
  | { type: 'supersede'; supersession: SupersedeInput }
  | { type: 'deadline' }
  /** Postgres answered a write. */
  | { type: 'written'; stored: StoredProgress }
  /** The referral as Postgres holds it: after a confirmation, or when the store was ahead of the run. */
  | { type: 'stored'; referral: ReferralSnapshot };

export type JourneyEffect =
  | { type: 'persist'; event: ReferralEventInput; click?: StoredClick }
  /** Confirms `referral` in Postgres, one mentor per member; answers with a `stored` message. */
  | { type: 'confirmAttribution'; event: ReferralEventInput }
  /** Reads the referral from Postgres, then handles `then`. */
  | { type: 'readStore'; then?: JourneyMessage };

export interface Decision {
  next: JourneyState;
  events: ReferralEventInput[];
  effects: JourneyEffect[];
}

const ms = (seconds: number) => seconds * 1000;
const earliest = (a: string | null, b: string) => (a !== null && Date.parse(a) <= Date.parse(b) ? a : b);
const STEP_TIME = { installed: 'installedAt', account_created: 'accountCreatedAt', first_login: 'firstLoginAt' } as const;

export function newReferral(identity: ReferralIdentity, at: string): ReferralSnapshot {
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

export function newJourney(referral: ReferralSnapshot): JourneyState {
  return { referral, countedClickTimes: [], duplicateClicks: 0, seen: [], badgesDue: false };
}

/**
 * The journey as Postgres holds it. A confirmed one may have been confirmed by an attempt that never completed (its
 * worker killed after claiming a badge): its milestones are checked again, and claiming is idempotent.
 */
export function resumeJourney(stored: StoredReferral): JourneyState {
  return {
    referral: stored.snapshot,
    countedClickTimes: stored.countedClickTimes,
    duplicateClicks: stored.duplicateClicks,
    seen: stored.clickIds.slice(-SEEN_KEPT),
    badgesDue: stored.snapshot.status === 'confirmed',
  };
}

const remember = (state: JourneyState, id: string): JourneyState => ({ ...state, seen: [...state.seen, id].slice(-SEEN_KEPT) });
const unchanged = (next: JourneyState): Decision => ({ next, events: [], effects: [] });
const persisted = (next: JourneyState, event: ReferralEventInput, click?: StoredClick): Decision => ({
  next,
  events: [event],
  effects: [{ type: 'persist', event, ...(click ? { click } : {}) }],
});

/**
 * A step reported (or implied) at `at`: the stage moves forward only; steps passed over are implied, at the earliest
 * time of the steps that imply them, until they are reported; a reported step keeps the earliest time it was reported
 * at. Whatever order steps arrive in, the same steps at the same times give the same referral (rule 10).
 */
export function reachStep(referral: ReferralSnapshot, step: FunnelStep, at: string, implied: boolean): ReferralSnapshot {
  const next = { ...referral };
  const impliedSteps = new Set(referral.impliedSteps);
  for (const candidate of FUNNEL_STEPS.slice(0, FUNNEL_STEPS.indexOf(step) + 1)) {
    const time = STEP_TIME[candidate];
    const reported = referral[time] !== null && !impliedSteps.has(candidate);
    if (candidate === step && !implied) {
      // A reported time replaces an implied one; of reported times the earliest stands.
      next[time] = reported ? earliest(referral[time], at) : at;
      impliedSteps.delete(candidate);
    } else if (!reported) {
      next[time] = earliest(referral[time], at);
      impliedSteps.add(candidate);
    }
  }
  next.impliedSteps = FUNNEL_STEPS.filter((candidate) => impliedSteps.has(candidate));
  if (stageIndex(step) > stageIndex(referral.stage)) next.stage = step;
  return next;
}

const sameJourney = (a: ReferralSnapshot, b: ReferralSnapshot) =>
  a.stage === b.stage &&
  a.newMemberId === b.newMemberId &&
  a.impliedSteps.join() === b.impliedSteps.join() &&
  FUNNEL_STEPS.every((step) => a[STEP_TIME[step]] === b[STEP_TIME[step]]);

/** The confirmation's referral before its status is decided: the account implied, the member linked, waiting no more. */
function withConfirmation(referral: ReferralSnapshot, confirmation: ConfirmInput): ReferralSnapshot {
  return { ...reachStep(referral, 'account_created', confirmation.occurredAt, true), newMemberId: confirmation.newMemberId, stuck: false, endedAt: null };
}

/** A step from the app, before any risk assessment. */
function applyStep(state: JourneyState, step: FunnelStepInput, flagReason: string | null): Decision {
  const { referral } = state;
  const taken = remember(state, step.idempotencyKey);
  // A signal cannot be refused; the API turns away a member id that conflicts before it takes the step.
  if (step.newMemberId && referral.newMemberId && step.newMemberId !== referral.newMemberId) return unchanged(taken);
  let next = reachStep(referral, step.type, step.occurredAt, false);
  if (step.type === 'account_created' && step.newMemberId && !referral.newMemberId) next = { ...next, newMemberId: step.newMemberId };
  if (sameJourney(referral, next)) return unchanged(taken);
  const selfReferral = next.newMemberId === referral.mentorId && STATUS_RULES[next.status].confirmable;
  if (selfReferral) next = { ...next, status: 'rejected', endedAt: step.occurredAt };
  const accountJustCreated = referral.accountCreatedAt === null && next.accountCreatedAt !== null;
  if (!selfReferral && accountJustCreated && next.status === 'pending' && flagReason) next = { ...next, status: 'flagged', flagReason };
  const newlyImplied = next.impliedSteps.filter((implied) => !referral.impliedSteps.includes(implied));
  return persisted(
    { ...taken, referral: next },
    {
      type: selfReferral ? 'self_referral_rejected' : step.type,
      idempotencyKey: JOURNEY_EVENTS.step(referral.referralId, step.idempotencyKey),
      occurredAt: step.occurredAt,
      detail: {
        ...(newlyImplied.length > 0 ? { impliedSteps: newlyImplied } : {}),
        ...(next.status === 'flagged' && referral.status !== 'flagged' ? { flagged: next.flagReason } : {}),
      },
    },
  );
}

/** Whether a step creates the referral's account while it counts: the account's risk is then assessed first. */
export function needsRiskAssessment(state: JourneyState, step: FunnelStepInput): boolean {
  if (state.seen.includes(step.idempotencyKey)) return false;
  const { next } = applyStep(state, step, null);
  return state.referral.accountCreatedAt === null && next.referral.accountCreatedAt !== null && next.referral.status === 'pending';
}

/** Why a confirmation is refused, as a failure type of `JOURNEY_FAILURES`, or null when it is taken. */
export function confirmationRefusal(state: JourneyState, confirmation: ConfirmInput): JourneyFailureType | null {
  if (state.referral.status === 'superseded') return JOURNEY_FAILURES.superseded;
  if (state.referral.newMemberId && state.referral.newMemberId !== confirmation.newMemberId) return JOURNEY_FAILURES.linkedToAnotherMember;
  return null;
}

/** The journey's refusals, as the workflow raises them and the API answers them. */
export const JOURNEY_FAILURES = {
  superseded: 'ReferralSuperseded',
  linkedToAnotherMember: 'ReferralLinkedToAnotherMember',
} as const;
export type JourneyFailureType = (typeof JOURNEY_FAILURES)[keyof typeof JOURNEY_FAILURES];

const REFUSAL_MESSAGES: Record<JourneyFailureType, (referralId: string) => string> = {
  ReferralSuperseded: (referralId) => `referral ${referralId} was superseded by another mentor's referral`,
  ReferralLinkedToAnotherMember: (referralId) => `referral ${referralId} is linked to another member`,
};
export const refusalMessage = (failure: JourneyFailureType, referralId: string) => REFUSAL_MESSAGES[failure](referralId);

function onClick(state: JourneyState, click: ClickInput, settings: OrgSettings): Decision {
  const { referral } = state;
  const at = Date.parse(click.occurredAt);
  // Measured both ways from every counted click, so the clicks count the same whatever order they arrive in.
  const duplicate = state.countedClickTimes.some((counted) => Math.abs(at - Date.parse(counted)) < ms(settings.dedupeWindowSeconds));
  // The click times span every click, duplicates too: the attribution window runs from the visitor's latest.
  const first = state.countedClickTimes.length === 0 && state.duplicateClicks === 0;
  let next: ReferralSnapshot = {
    ...referral,
    clickedAt: first ? click.occurredAt : earliest(referral.clickedAt, click.occurredAt),
    lastClickAt: first || at > Date.parse(referral.lastClickAt) ? click.occurredAt : referral.lastClickAt,
  };
  // A counted click on an expired referral opens a new attribution window.
  if (!duplicate && next.status === 'expired') next = { ...next, status: 'pending', endedAt: null };
  let type = duplicate ? 'duplicate_click' : 'click';
  if (!duplicate && click.selfReferral && STATUS_RULES[next.status].confirmable) {
    next = { ...next, status: 'rejected', endedAt: click.occurredAt };
    type = 'self_referral_rejected';
  } else if (!duplicate && click.burst && next.status === 'pending') {
    next = { ...next, status: 'flagged', flagReason: 'click_burst' };
    type = 'flagged';
  }
  return persisted(
    {
      ...remember(state, click.clickId),
      referral: next,
      countedClickTimes: duplicate ? state.countedClickTimes : [...state.countedClickTimes, click.occurredAt],
      duplicateClicks: state.duplicateClicks + (duplicate ? 1 : 0),
    },
    { type, idempotencyKey: JOURNEY_EVENTS.click(click.clickId), occurredAt: click.occurredAt, detail: type === 'flagged' ? { reason: 'click_burst' } : undefined },
    { ...click, duplicate, implicit: false },
  );
}

function onConfirm(state: JourneyState, confirmation: ConfirmInput): Decision {
  const { referral } = state;
  if (confirmationRefusal(state, confirmation) || !STATUS_RULES[referral.status].confirmable) return unchanged(state);
  const next = withConfirmation(referral, confirmation);
  const { newMemberId: member, occurredAt, source } = confirmation;
  const detail = { source };
  if (member === referral.mentorId) {
    const event = { type: 'self_referral_rejected', idempotencyKey: JOURNEY_EVENTS.rejected(referral.referralId, member), occurredAt, detail };
    return persisted({ ...state, referral: { ...next, status: 'rejected', endedAt: occurredAt } }, event);
  }
  if (referral.status === 'flagged') {
    // Held for review: recorded now, counted once a coordinator approves.
    const event = { type: 'confirmation_held_for_review', idempotencyKey: JOURNEY_EVENTS.held(referral.referralId, member), occurredAt, detail };
    return persisted({ ...state, referral: { ...next, confirmedAt: occurredAt } }, event);
  }
  const event = {
    type: referral.status === 'expired' ? 'late_confirmation' : 'confirmed',
    idempotencyKey: JOURNEY_EVENTS.confirmed(referral.referralId, member),
    occurredAt,
    detail,
  };
  return { next: { ...state, referral: { ...next, status: 'confirmed', confirmedAt: occurredAt } }, events: [event], effects: [{ type: 'confirmAttribution', event }] };
}

function onReview(state: JourneyState, review: ReviewInput, storeRead: boolean): Decision {
  const { referral } = state;
  // Only a held confirmation makes sense of an approval; the run may not have seen it (its update lost with a task).
  if (review.decision === 'approve' && !referral.confirmedAt && !storeRead) {
    return { next: state, events: [], effects: [{ type: 'readStore', then: { type: 'review', review, storeRead: true } }] };
  }
  if (referral.status !== 'flagged') return unchanged(state);
  const event = {
    type: review.decision === 'approve' ? 'review_approved' : 'review_rejected',
    idempotencyKey: JOURNEY_EVENTS.review(referral.referralId),
    occurredAt: review.occurredAt,
    detail: { reviewerId: review.reviewerId, flagReason: referral.flagReason },
  };
  if (review.decision === 'reject') return persisted({ ...state, referral: { ...referral, status: 'rejected', endedAt: review.occurredAt } }, event);
  if (referral.confirmedAt && referral.newMemberId) {
    return { next: { ...state, referral: { ...referral, status: 'confirmed' } }, events: [event], effects: [{ type: 'confirmAttribution', event }] };
  }
  return persisted({ ...state, referral: { ...referral, status: 'pending' } }, event);
}

function onCancel(state: JourneyState, cancellation: CancelInput, storeRead: boolean): Decision {
  const { referral } = state;
  // The API cancels the referrals Postgres links to the member: a run that knows no member is behind the store.
  if (!referral.newMemberId && !storeRead) {
    return { next: state, events: [], effects: [{ type: 'readStore', then: { type: 'cancel', cancellation, storeRead: true } }] };
  }
  if (referral.newMemberId !== cancellation.newMemberId || !STATUS_RULES[referral.status].cancellable) return unchanged(state);
  return persisted(
    { ...state, referral: { ...referral, status: 'reversed', stuck: false, endedAt: cancellation.occurredAt } },
    { type: 'reversed', idempotencyKey: JOURNEY_EVENTS.reversed(referral.referralId, cancellation.newMemberId), occurredAt: cancellation.occurredAt },
  );
}

function onSupersede(state: JourneyState, supersession: SupersedeInput): Decision {
  const { referral } = state;
  if (!STATUS_RULES[referral.status].confirmable) return unchanged(state);
  return persisted(
    { ...state, referral: { ...referral, status: 'superseded', stuck: false, endedAt: supersession.occurredAt } },
    {
      type: 'superseded',
      idempotencyKey: JOURNEY_EVENTS.superseded(referral.referralId, supersession.byReferralId),
      occurredAt: supersession.occurredAt,
      detail: { byReferralId: supersession.byReferralId },
    },
  );
}

const awaitsAccount = (referral: ReferralSnapshot) => referral.status === 'pending' && stageIndex(referral.stage) < stageIndex('account_created');
const awaitsConfirmation = (referral: ReferralSnapshot) => referral.status === 'pending' && !referral.stuck && referral.accountCreatedAt !== null;

function onDeadline(state: JourneyState, at: string): Decision {
  const { referral } = state;
  if (awaitsAccount(referral)) {
    return persisted(
      { ...state, referral: { ...referral, status: 'expired', endedAt: at } },
      { type: 'expired', idempotencyKey: JOURNEY_EVENTS.expired(referral.referralId, referral.lastClickAt), occurredAt: at },
    );
  }
  if (awaitsConfirmation(referral)) {
    return persisted(
      { ...state, referral: { ...referral, stuck: true } },
      { type: 'confirmation_overdue', idempotencyKey: JOURNEY_EVENTS.overdue(referral.referralId, referral.accountCreatedAt!), occurredAt: at },
    );
  }
  return unchanged(state);
}

function onWritten(state: JourneyState, stored: StoredProgress): Decision {
  const { referral } = state;
  // Another referral's confirmation superseded this one meanwhile.
  if (stored.status === 'superseded') return unchanged({ ...state, referral: { ...referral, status: 'superseded' } });
  // Postgres is ahead of this run: an attempt whose task was lost after its writes got further than this history.
  const storeIsAhead = stored.status !== referral.status || stored.stage !== referral.stage;
  return storeIsAhead ? { next: state, events: [], effects: [{ type: 'readStore' }] } : unchanged(state);
}

export function decide(state: JourneyState, message: JourneyMessage, settings: OrgSettings, now: string): Decision {
  switch (message.type) {
    case 'direct': {
      const at = message.at !== undefined && Date.parse(message.at) < Date.parse(now) ? message.at : now;
      const event = { type: 'direct_registration', idempotencyKey: JOURNEY_EVENTS.direct(state.referral.referralId), occurredAt: at };
      const click: StoredClick = { clickId: message.clickId, occurredAt: at, ipHash: null, userAgent: null, metadata: {}, duplicate: false, implicit: true };
      const referral = { ...state.referral, clickedAt: at, lastClickAt: at };
      return persisted({ ...remember(state, message.clickId), referral, countedClickTimes: [at] }, event, click);
    }
    case 'click':
      return state.seen.includes(message.click.clickId) ? unchanged(state) : onClick(state, message.click, settings);
    case 'step':
      return state.seen.includes(message.step.idempotencyKey) ? unchanged(state) : applyStep(state, message.step, message.flagReason);
    case 'confirm':
      return onConfirm(state, message.confirmation);
    case 'review':
      return onReview(state, message.review, message.storeRead ?? false);
    case 'cancel':
      return onCancel(state, message.cancellation, message.storeRead ?? false);
    case 'supersede':
      return onSupersede(state, message.supersession);
    case 'deadline':
      return onDeadline(state, now);
    case 'written':
      return onWritten(state, message.stored);
    case 'stored':
      return unchanged({ ...state, referral: message.referral, badgesDue: state.badgesDue || message.referral.status === 'confirmed' });
  }
}

/** An event as a referral's timeline shows it: with the stage and status the referral stood at after it. */
export const timelineEntry = (event: ReferralEventInput, { stage, status }: ReferralSnapshot): TimelineEntry => ({
  type: event.type,
  stage,
  status,
  occurredAt: event.occurredAt,
  detail: event.detail,
});

/**
 * A referral as the messages taken for it make it before its workflow has run them (a read while they wait in the
 * intake): `decide` over them in the order they were taken. No account's risk has been assessed yet, so a review flag
 * may follow.
 */
export function journeyOfMessages(
  referral: ReferralSnapshot,
  messages: JourneyMessage[],
  settings: OrgSettings,
  now: string,
): { referral: ReferralSnapshot; timeline: TimelineEntry[] } {
  let state = newJourney(referral);
  const timeline: TimelineEntry[] = [];
  for (const message of messages) {
    const decision = decide(state, message, settings, now);
    state = decision.next;
    timeline.push(...decision.events.map((event) => timelineEntry(event, state.referral)));
  }
  return { referral: state.referral, timeline };
}

/** When the referral next needs attention on its own, or undefined when it only waits for messages. */
export function nextDeadline(referral: ReferralSnapshot, settings: OrgSettings): number | undefined {
  if (awaitsAccount(referral)) return Date.parse(referral.lastClickAt) + ms(settings.attributionWindowSeconds);
  if (awaitsConfirmation(referral)) return Date.parse(referral.accountCreatedAt!) + ms(settings.confirmationWindowSeconds);
  if (referral.status === 'confirmed' && referral.confirmedAt) return Date.parse(referral.confirmedAt) + ms(settings.attributionWindowSeconds);
  return undefined;
}

/** Whether the referral's deadline has come: a message handled since its timer fired (an account as the window ended) may have moved it. */
export function deadlinePassed(referral: ReferralSnapshot, settings: OrgSettings, now: number): boolean {
  const deadline = nextDeadline(referral, settings);
  return deadline !== undefined && deadline <= now;
}

/** Whether the run may end: a final status, or a confirmed member followed to first login (one attribution window at most). */
export function journeyOver(referral: ReferralSnapshot, settings: OrgSettings, now: number): boolean {
  if (STATUS_RULES[referral.status].endsRun) return true;
  if (referral.status !== 'confirmed' || !referral.confirmedAt) return false;
  return referral.stage === 'first_login' || now >= Date.parse(referral.confirmedAt) + ms(settings.attributionWindowSeconds);
}
