import { advanceStage, conversionRate, plausibleStepTime, reachedMilestones } from '../../src/domain/funnel';

describe('advanceStage', () => {
  test('the next step advances with nothing implied', () => {
    expect(advanceStage('clicked', 'installed')).toEqual({ stage: 'installed', implied: [], advanced: true });
  });
  test('a step that skips ahead records the skipped steps as implied', () => {
    expect(advanceStage('clicked', 'first_login')).toEqual({
      stage: 'first_login',
      implied: ['installed', 'account_created'],
      advanced: true,
    });
  });
  test('a repeated or earlier step changes nothing', () => {
    expect(advanceStage('account_created', 'account_created')).toEqual({ stage: 'account_created', implied: [], advanced: false });
    expect(advanceStage('account_created', 'installed')).toEqual({ stage: 'account_created', implied: [], advanced: false });
  });
});

describe('reachedMilestones', () => {
  test('lists every milestone at or below the count, ascending', () => {
    expect(reachedMilestones(10, [50, 1, 10, 5, 25])).toEqual([1, 5, 10]);
    expect(reachedMilestones(0, [1, 5])).toEqual([]);
  });
});

describe('conversionRate', () => {
  test('is confirmed over clicks', () => {
    expect(conversionRate(2, 10)).toBe(0.2);
  });
  test('is 0.0 with no clicks', () => {
    expect(conversionRate(0, 0)).toBe(0);
  });
});

describe('plausibleStepTime', () => {
  const began = '2026-12-01T10:00:00.000Z';
  const received = new Date('2026-12-03T10:00:00.000Z');
  test("is the app's time when it lies between the referral's start and the step's receipt", () => {
    expect(plausibleStepTime('2026-12-02T08:30:00.000Z', began, received)).toBe('2026-12-02T08:30:00.000Z');
  });
  test('is the receipt for a time in the future or none at all', () => {
    expect(plausibleStepTime('2030-01-01T00:00:00.000Z', began, received)).toBe('2026-12-03T10:00:00.000Z');
    expect(plausibleStepTime(undefined, began, received)).toBe('2026-12-03T10:00:00.000Z');
  });
  test("is the referral's start for a time before it (a phone reset to 1970)", () => {
    expect(plausibleStepTime('1970-01-01T00:00:00.000Z', began, received)).toBe(began);
  });
  test('keeps an early time when the start is not known', () => {
    expect(plausibleStepTime('2001-01-01T00:00:00.000Z', undefined, received)).toBe('2001-01-01T00:00:00.000Z');
  });
});
