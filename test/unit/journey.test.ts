import fc from 'fast-check';
import { ATTRIBUTION_STATUSES } from '../../src/domain/funnel';
import {
  confirmationRefusal,
  deadlinePassed,
  decide,
  JOURNEY_FAILURES,
  journeyOfMessages,
  mayMove,
  needsRiskAssessment,
  newJourney,
  newReferral,
  STATUS_RULES,
  type Decision,
  type JourneyMessage,
  type JourneyState,
} from '../../src/domain/journey';
import { DEFAULT_ORG_SETTINGS, type ClickInput, type FunnelStepInput, type OrgSettings, type ReferralSnapshot } from '../../src/domain/referral';

const MENTOR = '00000000-0000-4000-8000-00000000000a';
const MEMBER = '00000000-0000-4000-8000-00000000000b';
const OTHER_MEMBER = '00000000-0000-4000-8000-00000000000c';
const REFERRAL = '00000000-0000-4000-8000-0000000000aa';
const T0 = Date.parse('2026-11-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const settings: OrgSettings = { ...DEFAULT_ORG_SETTINGS, dedupeWindowSeconds: 1000 };

const identity = {
  referralId: REFERRAL,
  workflowId: 'referral-code-visitor',
  orgId: '00000000-0000-4000-8000-0000000000bb',
  mentorId: MENTOR,
  referralCodeId: '00000000-0000-4000-8000-0000000000cc',
  code: 'abcdef123',
  visitorHash: 'visitor-hash',
  direct: false,
};

const fresh = (): JourneyState => newJourney(newReferral(identity, at(0)));
const withReferral = (changes: Partial<ReferralSnapshot>, state = fresh()): JourneyState => ({ ...state, referral: { ...state.referral, ...changes } });
const click = (seconds: number, extra: Partial<ClickInput> = {}): JourneyMessage => ({
  type: 'click',
  click: { clickId: `click-${seconds}`, occurredAt: at(seconds), ipHash: null, userAgent: null, metadata: {}, ...extra },
});
const step = (type: FunnelStepInput['type'], seconds: number, extra: Partial<FunnelStepInput> = {}, flagReason: string | null = null): JourneyMessage => ({
  type: 'step',
  step: { type, occurredAt: at(seconds), idempotencyKey: `${type}-${seconds}`, ...extra },
  flagReason,
});
const confirm = (seconds: number, newMemberId = MEMBER): JourneyMessage => ({ type: 'confirm', confirmation: { newMemberId, occurredAt: at(seconds), source: 'webhook' } });
const run = (message: JourneyMessage, state = fresh()) => decide(state, message, settings, at(5000));
const eventTypes = (decision: Decision) => decision.events.map((event) => event.type);
const effectTypes = (decision: Decision) => decision.effects.map((effect) => effect.type);

describe('clicks', () => {
  test('the first click is counted and sets the click times', () => {
    const decision = run(click(10));
    expect(decision.next.referral).toMatchObject({ clickedAt: at(10), lastClickAt: at(10), status: 'pending' });
    expect(decision.next.countedClickTimes).toEqual([at(10)]);
    expect(eventTypes(decision)).toEqual(['click']);
    expect(decision.effects).toEqual([{ type: 'persist', event: decision.events[0], click: expect.objectContaining({ clickId: 'click-10', duplicate: false, implicit: false }) }]);
    expect(decision.events[0].idempotencyKey).toBe('click:click-10');
  });

  test.each([
    ['within the window after', 900, true],
    ['within the window before', -900, true],
    ['at the window after', 1000, false],
    ['past the window before', -1000, false],
  ])('a second click %s the counted one is a duplicate: %s', (_label, offset, duplicate) => {
    const after = run(click(2000 + offset), run(click(2000)).next);
    expect(eventTypes(after)).toEqual([duplicate ? 'duplicate_click' : 'click']);
    expect(after.next.countedClickTimes).toHaveLength(duplicate ? 1 : 2);
    expect(after.next.duplicateClicks).toBe(duplicate ? 1 : 0);
    // The window of attribution runs from the latest click, duplicate or not.
    expect(after.next.referral.lastClickAt).toBe(at(Math.max(2000, 2000 + offset)));
    expect(after.next.referral.clickedAt).toBe(at(Math.min(2000, 2000 + offset)));
  });

  test('a click delivered twice changes nothing the second time', () => {
    const once = run(click(10)).next;
    const twice = run(click(10), once);
    expect(twice).toEqual({ next: once, events: [], effects: [] });
  });

  test.each([
    ['the mentor\'s own device', { selfReferral: true }, 'rejected', 'self_referral_rejected'],
    ['a burst on the code', { burst: true }, 'flagged', 'flagged'],
  ] as const)('a click from %s makes the referral %s', (_label, flags, status, event) => {
    const decision = run(click(10, flags));
    expect(decision.next.referral.status).toBe(status);
    expect(eventTypes(decision)).toEqual([event]);
  });

  test('a counted click on an expired referral opens a new window; a duplicate does not', () => {
    const expired = withReferral({ status: 'expired', endedAt: at(100) }, run(click(10)).next);
    expect(run(click(5000), expired).next.referral).toMatchObject({ status: 'pending', endedAt: null });
    expect(run(click(500), expired).next.referral).toMatchObject({ status: 'expired' });
  });
});

describe('direct registrations', () => {
  test("the implicit click is dated at the registration, so a late one's time to convert is not negative", () => {
    const decision = run({ type: 'direct', clickId: 'implicit', at: at(-864_000) });
    expect(decision.next.referral).toMatchObject({ clickedAt: at(-864_000), lastClickAt: at(-864_000) });
    expect(decision.next.countedClickTimes).toEqual([at(-864_000)]);
    expect(decision.events).toEqual([{ type: 'direct_registration', idempotencyKey: `direct:${REFERRAL}`, occurredAt: at(-864_000) }]);
    expect(decision.effects).toEqual([{ type: 'persist', event: decision.events[0], click: expect.objectContaining({ clickId: 'implicit', occurredAt: at(-864_000), implicit: true }) }]);
  });
  test('a registration time later than now, or none, dates it now', () => {
    for (const registeredAt of [at(6000), undefined]) {
      const decision = run({ type: 'direct', clickId: 'implicit', at: registeredAt });
      expect([decision.next.referral.clickedAt, decision.events[0].occurredAt]).toEqual([at(5000), at(5000)]);
    }
  });
});

describe('funnel steps', () => {
  const clicked = () => run(click(0)).next;

  test('a step ahead of the next one implies those skipped', () => {
    const decision = run(step('account_created', 50, { newMemberId: MEMBER }), clicked());
    expect(decision.next.referral).toMatchObject({
      stage: 'account_created',
      impliedSteps: ['installed'],
      installedAt: at(50),
      accountCreatedAt: at(50),
      newMemberId: MEMBER,
    });
    expect(decision.events[0]).toMatchObject({ type: 'account_created', idempotencyKey: `step:${REFERRAL}:account_created-50`, detail: { impliedSteps: ['installed'] } });
  });

  test('an implied step reported later records its own time and is implied no more', () => {
    const ahead = run(step('account_created', 50), clicked()).next;
    const decision = run(step('installed', 30), ahead);
    expect(decision.next.referral).toMatchObject({ stage: 'account_created', impliedSteps: [], installedAt: at(30), accountCreatedAt: at(50) });
    expect(eventTypes(decision)).toEqual(['installed']);
  });

  test.each([
    ['the same step again', step('installed', 20, { idempotencyKey: 'installed-20' })],
    ['the same step reported later under another key', step('installed', 40, { idempotencyKey: 'another' })],
    ['another member than the one linked', step('account_created', 60, { newMemberId: OTHER_MEMBER })],
  ])('%s changes nothing', (_label, message) => {
    const installed = run(step('account_created', 50, { newMemberId: MEMBER }), run(step('installed', 20), clicked()).next).next;
    const decision = run(message, installed);
    expect(decision.next.referral).toEqual(installed.referral);
    expect(decision.effects).toEqual([]);
  });

  test('the mentor creating the account is a self-referral, rejected', () => {
    expect(run(step('account_created', 50, { newMemberId: MENTOR }), clicked()).next.referral).toMatchObject({ status: 'rejected', endedAt: at(50) });
  });

  test('the account is assessed when a step creates it while pending, and held for review when it looks farmed', () => {
    expect(needsRiskAssessment(clicked(), { type: 'installed', occurredAt: at(10), idempotencyKey: 'i' })).toBe(false);
    expect(needsRiskAssessment(clicked(), { type: 'first_login', occurredAt: at(10), idempotencyKey: 'l' })).toBe(true);
    expect(needsRiskAssessment(withReferral({ status: 'flagged' }, clicked()), { type: 'account_created', occurredAt: at(10), idempotencyKey: 'a' })).toBe(false);
    const flagged = run(step('account_created', 50, {}, 'many_accounts_from_one_device_or_ip'), clicked());
    expect(flagged.next.referral).toMatchObject({ status: 'flagged', flagReason: 'many_accounts_from_one_device_or_ip' });
    expect(flagged.events[0].detail).toEqual({ impliedSteps: ['installed'], flagged: 'many_accounts_from_one_device_or_ip' });
  });
});

describe('confirmations', () => {
  const clicked = () => run(click(0)).next;

  test.each([
    ['pending', 'confirmed', 'confirmed', 'confirmAttribution'],
    ['expired', 'confirmed', 'late_confirmation', 'confirmAttribution'],
    ['flagged', 'flagged', 'confirmation_held_for_review', 'persist'],
  ] as const)('a %s referral becomes %s (%s)', (status, next, event, effect) => {
    const decision = run(confirm(100), withReferral({ status }, clicked()));
    expect(decision.next.referral).toMatchObject({ status: next, newMemberId: MEMBER, confirmedAt: at(100), stage: 'account_created', impliedSteps: ['installed', 'account_created'] });
    expect(eventTypes(decision)).toEqual([event]);
    expect(effectTypes(decision)).toEqual([effect]);
  });

  test('the mentor confirming their own link is rejected', () => {
    const decision = run(confirm(100, MENTOR), clicked());
    expect(decision.next.referral.status).toBe('rejected');
    expect(decision.events[0].idempotencyKey).toBe(`rejected:${REFERRAL}:${MENTOR}`);
  });

  test.each(['confirmed', 'superseded', 'reversed', 'rejected'] as const)('a %s referral is not confirmed again', (status) => {
    const state = withReferral({ status }, clicked());
    expect(run(confirm(100), state)).toEqual({ next: state, events: [], effects: [] });
  });

  test('a superseded referral and one linked to another member refuse the confirmation', () => {
    expect(confirmationRefusal(withReferral({ status: 'superseded' }), { newMemberId: MEMBER, occurredAt: at(1), source: 'app' })).toBe(JOURNEY_FAILURES.superseded);
    expect(confirmationRefusal(withReferral({ newMemberId: OTHER_MEMBER }), { newMemberId: MEMBER, occurredAt: at(1), source: 'app' })).toBe(JOURNEY_FAILURES.linkedToAnotherMember);
    expect(confirmationRefusal(withReferral({ newMemberId: MEMBER }), { newMemberId: MEMBER, occurredAt: at(1), source: 'app' })).toBeNull();
  });
});

describe('reviews, cancellations, supersessions, deadlines and what the store answers', () => {
  const review = (decision: 'approve' | 'reject', storeRead?: boolean): JourneyMessage => ({ type: 'review', review: { decision, reviewerId: MENTOR, occurredAt: at(300) }, storeRead });
  const cancel = (newMemberId = MEMBER, storeRead?: boolean): JourneyMessage => ({ type: 'cancel', cancellation: { newMemberId, occurredAt: at(400) }, storeRead });

  test('an approval with no held confirmation reads the store first, then sets the referral pending', () => {
    const flagged = withReferral({ status: 'flagged', flagReason: 'click_burst' });
    expect(run(review('approve'), flagged).effects).toEqual([{ type: 'readStore', then: review('approve', true) }]);
    expect(run(review('approve', true), flagged).next.referral.status).toBe('pending');
  });

  test('an approval of a held confirmation confirms it; a rejection rejects', () => {
    const held = withReferral({ status: 'flagged', confirmedAt: at(200), newMemberId: MEMBER });
    expect(effectTypes(run(review('approve'), held))).toEqual(['confirmAttribution']);
    expect(run(review('approve'), held).next.referral.status).toBe('confirmed');
    expect(run(review('reject'), held).next.referral).toMatchObject({ status: 'rejected', endedAt: at(300) });
    expect(run(review('reject'), withReferral({ status: 'pending' })).effects).toEqual([]);
  });

  test('a cancellation reverses the member\'s referral; one that knows no member reads the store first', () => {
    expect(run(cancel(), withReferral({ status: 'confirmed', newMemberId: MEMBER })).next.referral).toMatchObject({ status: 'reversed', endedAt: at(400) });
    expect(run(cancel(OTHER_MEMBER), withReferral({ status: 'confirmed', newMemberId: MEMBER })).effects).toEqual([]);
    expect(run(cancel()).effects).toEqual([{ type: 'readStore', then: cancel(MEMBER, true) }]);
    expect(run(cancel(MEMBER, true)).effects).toEqual([]);
  });

  test('a supersession ends only a referral that could still be confirmed', () => {
    const supersede: JourneyMessage = { type: 'supersede', supersession: { byReferralId: 'other', occurredAt: at(10) } };
    expect(run(supersede).next.referral.status).toBe('superseded');
    expect(run(supersede).events[0].idempotencyKey).toBe(`superseded:${REFERRAL}:other`);
    expect(run(supersede, withReferral({ status: 'confirmed' })).effects).toEqual([]);
  });

  test('the deadline expires a referral with no account and marks an unconfirmed account stuck', () => {
    expect(run({ type: 'deadline' }).next.referral).toMatchObject({ status: 'expired', endedAt: at(5000) });
    const account = withReferral({ stage: 'account_created', accountCreatedAt: at(10) });
    expect(run({ type: 'deadline' }, account).next.referral).toMatchObject({ status: 'pending', stuck: true });
    expect(eventTypes(run({ type: 'deadline' }, account))).toEqual(['confirmation_overdue']);
    expect(run({ type: 'deadline' }, withReferral({ stuck: true }, account)).effects).toEqual([]);
  });

  test('a deadline has come only while it stands: an account or a click since the timer moved it', () => {
    const window = settings.attributionWindowSeconds;
    const clicked = withReferral({ lastClickAt: at(10) });
    expect(deadlinePassed(clicked.referral, settings, Date.parse(at(10 + window)))).toBe(true);
    expect(deadlinePassed(clicked.referral, settings, Date.parse(at(10 + window)) - 1)).toBe(false);
    const accountAtTheEnd = withReferral({ stage: 'account_created', accountCreatedAt: at(10 + window) }, clicked);
    expect(deadlinePassed(accountAtTheEnd.referral, settings, Date.parse(at(10 + window)))).toBe(false);
    expect(deadlinePassed(withReferral({ status: 'flagged' }).referral, settings, Date.parse(at(10 + window)))).toBe(false);
  });

  test('a write answered with another status or stage means the store is ahead: the run reads it', () => {
    expect(run({ type: 'written', stored: { status: 'pending', stage: 'clicked' } }).effects).toEqual([]);
    expect(run({ type: 'written', stored: { status: 'superseded', stage: 'clicked' } }).next.referral.status).toBe('superseded');
    expect(run({ type: 'written', stored: { status: 'confirmed', stage: 'account_created' } }).effects).toEqual([{ type: 'readStore' }]);
    const stored = { ...fresh().referral, status: 'confirmed' as const };
    expect(run({ type: 'stored', referral: stored }).next).toMatchObject({ referral: stored, badgesDue: true });
  });
});

describe('a referral read while its messages wait in the intake', () => {
  test('is what its messages make of it, with each event at the stage and status it left', () => {
    const read = journeyOfMessages(fresh().referral, [click(10), click(20), step('account_created', 30, { newMemberId: MEMBER })], settings, at(5000));
    expect(read.referral).toMatchObject({ stage: 'account_created', status: 'pending', clickedAt: at(10), lastClickAt: at(20), accountCreatedAt: at(30), newMemberId: MEMBER });
    expect(read.referral.impliedSteps).toEqual(['installed']);
    expect(read.timeline.map(({ type, stage, status, occurredAt }) => [type, stage, status, occurredAt])).toEqual([
      ['click', 'clicked', 'pending', at(10)],
      ['duplicate_click', 'clicked', 'pending', at(20)],
      ['account_created', 'account_created', 'pending', at(30)],
    ]);
  });
});

// ---- properties ----

/** Runs a decision's effects as a store in step with the run would answer them, and the messages they lead to. */
function apply(state: JourneyState, message: JourneyMessage): JourneyState {
  const queue = [message];
  let current = state;
  for (let next = queue.shift(); next; next = queue.shift()) {
    const decision = decide(current, next, settings, at(9000));
    expect(mayMove(current.referral.status, decision.next.referral.status)).toBe(true);
    current = decision.next;
    for (const effect of decision.effects) {
      if (effect.type === 'persist') queue.push({ type: 'written', stored: { status: current.referral.status, stage: current.referral.stage } });
      if (effect.type === 'confirmAttribution') queue.push({ type: 'stored', referral: current.referral });
      if (effect.type === 'readStore' && effect.then) queue.push(effect.then);
    }
  }
  return current;
}

const outcome = (state: JourneyState) => ({
  referral: { ...state.referral, flagReason: state.referral.flagReason ?? null },
  countedClicks: state.countedClickTimes.length,
  duplicateClicks: state.duplicateClicks,
});

/**
 * A journey's messages as the app and the membership system send them: clicks in sessions (the same visitor tapping
 * the link again within the dedupe window, sessions more than two windows apart), funnel steps, and a confirmation.
 */
const journeyMessages = fc
  .record({
    sessions: fc.array(fc.array(fc.integer({ min: 0, max: 499 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
    steps: fc.subarray(['installed', 'account_created', 'first_login'] as const),
    stepTimes: fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 3, maxLength: 3 }),
    accountCarriesMember: fc.boolean(),
    confirmedAt: fc.option(fc.integer({ min: 1, max: 9000 }), { nil: undefined }),
  })
  .map(({ sessions, steps, stepTimes, accountCarriesMember, confirmedAt }) => {
    const clicks = sessions.flatMap((offsets, session) => [...new Set(offsets)].map((offset) => click(session * 2500 + offset)));
    const funnel = steps.map((type, index) => step(type, stepTimes[index], type === 'account_created' && accountCarriesMember ? { newMemberId: MEMBER } : {}));
    return { messages: [...clicks, ...funnel, ...(confirmedAt === undefined ? [] : [confirm(confirmedAt)])], sessions: sessions.map((offsets) => new Set(offsets).size) };
  });

test('rule 10: whatever order a journey\'s messages arrive in, and however often, it ends in the same state and counts', () => {
  fc.assert(
    fc.property(
      journeyMessages.chain(({ messages, sessions }) =>
        fc.record({
          messages: fc.constant(messages),
          sessions: fc.constant(sessions),
          arrival: fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
          repeats: fc.array(fc.nat(messages.length - 1), { maxLength: 4 }),
        }),
      ),
      ({ messages, sessions, arrival, repeats }) => {
        const inOrder = messages.reduce(apply, fresh());
        const delivered = [...arrival];
        for (const repeat of repeats) delivered.splice(repeat, 0, messages[repeat]);
        const anyOrder = delivered.reduce(apply, fresh());
        expect(outcome(anyOrder)).toEqual(outcome(inOrder));
        expect(outcome(inOrder).countedClicks).toBe(sessions.length);
        expect(outcome(inOrder).duplicateClicks).toBe(sessions.reduce((sum, size) => sum + size - 1, 0));
      },
    ),
    { numRuns: 500 },
  );
});

test('a referral read from its taken clicks and steps is the referral its run makes of them', () => {
  fc.assert(
    fc.property(journeyMessages, ({ messages }) => {
      const taken = messages.filter((message) => message.type === 'click' || message.type === 'step');
      expect(journeyOfMessages(fresh().referral, taken, settings, at(9000)).referral).toEqual(taken.reduce(apply, fresh()).referral);
    }),
    { numRuns: 300 },
  );
});

test('every status moves only as the status table allows, and the settled ones never move', () => {
  for (const status of ATTRIBUTION_STATUSES) {
    expect(STATUS_RULES[status].next).not.toContain(status);
    if (STATUS_RULES[status].settled) expect(STATUS_RULES[status].next).toEqual([]);
  }
  const anyMessage = fc.oneof(
    fc.integer({ min: 0, max: 9000 }).map((seconds) => click(seconds)),
    fc.integer({ min: 0, max: 9000 }).map((seconds) => click(seconds, { selfReferral: true })),
    fc.integer({ min: 0, max: 9000 }).map((seconds) => click(seconds, { burst: true })),
    fc.tuple(fc.constantFrom('installed', 'account_created', 'first_login' as const), fc.integer({ min: 0, max: 9000 }), fc.constantFrom(MEMBER, MENTOR, undefined)).map(([type, seconds, member]) =>
      step(type, seconds, member ? { newMemberId: member } : {}),
    ),
    fc.constantFrom(MEMBER, MENTOR, OTHER_MEMBER).map((member) => confirm(100, member)),
    fc.constantFrom('approve', 'reject' as const).map((decision): JourneyMessage => ({ type: 'review', review: { decision, reviewerId: MENTOR, occurredAt: at(50) } })),
    fc.constantFrom(MEMBER, OTHER_MEMBER).map((member): JourneyMessage => ({ type: 'cancel', cancellation: { newMemberId: member, occurredAt: at(60) } })),
    fc.constant<JourneyMessage>({ type: 'supersede', supersession: { byReferralId: 'other', occurredAt: at(70) } }),
    fc.constant<JourneyMessage>({ type: 'deadline' }),
  );
  fc.assert(
    fc.property(fc.array(anyMessage, { maxLength: 12 }), (messages) => {
      messages.reduce(apply, fresh());
    }),
    { numRuns: 500 },
  );
});
