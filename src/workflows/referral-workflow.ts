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
import type { ReferralActivities } from '../activities';
import {
  confirmationRefusal,
  deadlinePassed,
  decide,
  journeyOver,
  needsRiskAssessment,
  newJourney,
  newReferral,
  nextDeadline,
  refusalMessage,
  resumeJourney,
  timelineEntry,
  type JourneyEffect,
  type JourneyMessage,
  type JourneyState,
} from '../domain/journey';
import {
  toConversionRecord,
  type BadgeAward,
  type ClickInput,
  type ConfirmInput,
  type ConversionRecord,
  type FunnelStepInput,
  type OrgSettings,
  type TakenMessage,
  type ReferralIdentity,
  type TimelineEntry,
} from '../domain/referral';
import { cancelSignal, clickSignal, confirmUpdate, funnelStepSignal, reviewSignal, stateQuery, supersedeSignal, takenSignal } from './messages';
import { searchAttributesOf } from './search-attributes';

/** A referral waiting with no deadline (held for review) and woken by a message is not past a deadline. */
const WAKING_IS_NOT_A_DEADLINE = 'waking-is-not-a-deadline';
/** A deadline whose turn comes after a message that moved it (an account as the window ended) is no longer due. */
const DEADLINE_RECHECKED = 'deadline-rechecked';

const storeOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
} as const;
// Postgres writes run as local activities: a marker in the workflow task that asked for them, not a schedule, a
// task handed out, a completion and another workflow task on the Temporal server, whose store bounds referrals per second.
const store = proxyLocalActivities<ReferralActivities>(storeOptions);
// A badge service that is down for minutes still gets every award: retry without a limit.
const badges = proxyActivities<ReferralActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds' },
});

export interface ReferralWorkflowInput {
  identity: ReferralIdentity;
  settings: OrgSettings;
  /** The journey handed over by continue-as-new; absent, the run loads it from Postgres. */
  carried?: JourneyState;
  /** A direct referral's registration time, which its implicit click takes: a registration back-filled weeks late was not clicked today. */
  registeredAt?: string;
  /** Started by the referral's first message, when Postgres holds nothing of it yet: the run skips loading it. */
  fresh?: boolean;
}

/**
 * One referral's journey. Its rules are `decide` (src/domain/journey.ts); this runs them: handlers feed it messages one
 * at a time, in arrival order, and `perform` runs the effects it asks for. Every run starts from Postgres, so a message
 * that arrives after the referral's workflow has ended starts a new run that carries on where the last one stopped.
 */
export async function referralWorkflow(input: ReferralWorkflowInput): Promise<ConversionRecord> {
  const { identity, settings } = input;
  const now = () => new Date(Date.now()).toISOString();
  let journey: JourneyState = input.carried ?? newJourney(newReferral(identity, now()));
  const timeline: TimelineEntry[] = [];
  let changes = 0;
  /** The awards the last confirmation claimed as it was stored, for the main loop to deliver without claiming. */
  let claimedWithConfirmation: BadgeAward[] | undefined;
  let tail: Promise<unknown> = Promise.resolve();
  /** Handlers run one at a time, in arrival order; `changes` tells the main loop to look at its deadline again. */
  function serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = tail.then(work);
    tail = result.finally(() => (changes += 1)).catch(() => undefined);
    return result;
  }

  /** Feeds one message to `decide` and runs its effects; answers the attribution a confirmation settled on, if any. */
  async function handle(message: JourneyMessage): Promise<ConversionRecord | undefined> {
    let settled: ConversionRecord | undefined;
    const queue = [message];
    for (let next = queue.shift(); next; next = queue.shift()) {
      const decision = decide(journey, next, settings, now());
      journey = decision.next;
      for (const effect of decision.effects) {
        const outcome = await perform(effect);
        if (outcome.record) settled = outcome.record;
        queue.push(...outcome.messages);
      }
      timeline.push(...decision.events.map((event) => timelineEntry(event, journey.referral)));
    }
    publishSearchAttributes();
    return settled;
  }

  async function perform(effect: JourneyEffect): Promise<{ messages: JourneyMessage[]; record?: ConversionRecord }> {
    const { referral } = journey;
    switch (effect.type) {
      case 'persist': {
        const stored = await store.persistReferral({ snapshot: referral, event: effect.event, click: effect.click });
        return { messages: [{ type: 'written', stored }] };
      }
      case 'confirmAttribution': {
        const outcome = await store.confirmAttribution({ snapshot: referral, event: effect.event, badgeMilestones: settings.badgeMilestones });
        // Recorded confirmations of earlier releases claimed nothing: their runs claim in the main loop, as they did.
        claimedWithConfirmation = outcome.awards;
        for (const workflowId of outcome.supersededWorkflowIds) {
          // Best effort: a referral whose run has ended is already superseded in Postgres.
          await getExternalWorkflowHandle(workflowId)
            .signal(supersedeSignal, { byReferralId: identity.referralId, occurredAt: effect.event.occurredAt })
            .catch(() => undefined);
        }
        return { messages: [{ type: 'stored', referral: outcome.snapshot }], record: outcome.record };
      }
      case 'readStore': {
        const stored = await store.loadReferral(identity.referralId);
        return { messages: [...(stored ? [{ type: 'stored' as const, referral: stored.snapshot }] : []), ...(effect.then ? [effect.then] : [])] };
      }
    }
  }

  /** Only what changed: each upsert is a visibility write. */
  function publishSearchAttributes() {
    const current = workflowInfo().typedSearchAttributes;
    const changed = searchAttributesOf(journey.referral).filter(({ key, value }) => current.get(key) !== value);
    if (changed.length > 0) upsertSearchAttributes(changed);
  }

  async function start() {
    if (input.carried) return;
    const stored = input.fresh ? null : await store.loadReferral(identity.referralId);
    if (stored) journey = resumeJourney(stored);
    else if (identity.direct) await handle({ type: 'direct', clickId: uuid4(), at: input.registeredAt });
    publishSearchAttributes();
  }

  const started = serialized(start);
  const take = (message: JourneyMessage) =>
    serialized(async () => {
      await handle(message);
    });
  const takeDeadline = () =>
    serialized(async () => {
      if (!deadlinePassed(journey.referral, settings, Date.now()) && patched(DEADLINE_RECHECKED)) return;
      await handle({ type: 'deadline' });
    });
  const takeClick = (click: ClickInput) => take({ type: 'click', click });
  const takeStep = (step: FunnelStepInput) =>
    serialized(async () => {
      const assessed = needsRiskAssessment(journey, step)
        ? await store.assessAccountRisk({ referralId: identity.referralId, orgId: identity.orgId, mentorId: identity.mentorId, visitorHash: identity.visitorHash })
        : { flagReason: null };
      await handle({ type: 'step', step, flagReason: assessed.flagReason });
    });
  // Each message queues in turn, so they are handled in the order they were taken.
  const takeAll = (messages: TakenMessage[]) => Promise.all(messages.map((taken) => (taken.kind === 'click' ? takeClick(taken.message) : takeStep(taken.message))));
  setHandler(takenSignal, async (messages) => {
    await takeAll(messages);
  });
  // Sent by dispatchers of earlier releases, one message a signal.
  setHandler(clickSignal, takeClick);
  setHandler(funnelStepSignal, takeStep);
  setHandler(cancelSignal, (cancellation) => take({ type: 'cancel', cancellation }));
  setHandler(supersedeSignal, (supersession) => take({ type: 'supersede', supersession }));
  setHandler(reviewSignal, (review) => take({ type: 'review', review }));
  const refuseConfirmation = (confirmation: ConfirmInput) => {
    const failure = confirmationRefusal(journey, confirmation);
    if (failure) throw ApplicationFailure.nonRetryable(refusalMessage(failure, identity.referralId), failure);
  };
  setHandler(
    confirmUpdate,
    (confirmation: ConfirmInput, taken?: TakenMessage[]) => {
      const takes = taken?.length ? takeAll(taken) : undefined;
      return serialized(async () => {
        if (takes) await takes;
        refuseConfirmation(confirmation);
        return (await handle({ type: 'confirm', confirmation })) ?? toConversionRecord(journey.referral);
      });
    },
    // Messages carried with it may change the answer: they are taken, then the confirmation is judged.
    {
      validator: (confirmation: ConfirmInput, taken?: TakenMessage[]) => {
        if (!taken?.length) refuseConfirmation(confirmation);
      },
    },
  );
  setHandler(stateQuery, () => ({
    referral: journey.referral,
    countedClicks: journey.countedClickTimes.length,
    duplicateClicks: journey.duplicateClicks,
    timeline,
  }));
  await started;

  for (;;) {
    if (journey.badgesDue) {
      journey = { ...journey, badgesDue: false };
      const awards =
        claimedWithConfirmation ??
        (await store.claimBadgeAwards({ mentorId: identity.mentorId, orgId: identity.orgId, milestones: settings.badgeMilestones, claimedBy: identity.referralId }));
      claimedWithConfirmation = undefined;
      for (const award of awards) await badges.deliverBadgeAward(award);
      continue;
    }
    if (journeyOver(journey.referral, settings, Date.now())) {
      // A message that arrived meanwhile may reopen the journey (a click on an expired referral).
      await condition(allHandlersFinished);
      if (journeyOver(journey.referral, settings, Date.now()) && !journey.badgesDue) break;
      continue;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof referralWorkflow>({ identity, settings, carried: journey });
    }
    const deadline = nextDeadline(journey.referral, settings);
    const seen = changes;
    const changed = () => changes !== seen || journey.badgesDue;
    if (deadline === undefined) {
      await condition(changed);
      // Runs recorded before this patch took every wake from a wait without a deadline for one.
      if (!patched(WAKING_IS_NOT_A_DEADLINE)) await takeDeadline();
    } else if (!(await condition(changed, Math.max(deadline - Date.now(), 1)))) {
      await takeDeadline();
    }
  }
  return toConversionRecord(journey.referral);
}
