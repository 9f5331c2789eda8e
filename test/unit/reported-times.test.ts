import { notLaterThan, plausibleStepTime } from '../../src/domain/reported-times';

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
  test('is never later than its receipt, even where the start is given later', () => {
    expect(plausibleStepTime('1970-01-01T00:00:00.000Z', '2026-12-03T10:00:00.999Z', received)).toBe('2026-12-03T10:00:00.000Z');
  });
  test('keeps an early time when the start is not known', () => {
    expect(plausibleStepTime('2001-01-01T00:00:00.000Z', undefined, received)).toBe('2001-01-01T00:00:00.000Z');
  });
});

describe('notLaterThan', () => {
  const received = new Date('2026-12-03T10:00:00.000Z');
  test("is the sender's time up to the moment it arrived, and that moment after it or without one", () => {
    expect(notLaterThan('2026-11-20T08:00:00.000Z', received)).toBe('2026-11-20T08:00:00.000Z');
    expect(notLaterThan('2026-12-03T20:00:00.000Z', received)).toBe('2026-12-03T10:00:00.000Z');
    expect(notLaterThan(undefined, received)).toBe('2026-12-03T10:00:00.000Z');
  });
});
