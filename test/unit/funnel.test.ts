import { advanceStage, conversionRate } from '../../src/domain/funnel';

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

describe('conversionRate', () => {
  test('is confirmed over clicks', () => {
    expect(conversionRate(2, 10)).toBe(0.2);
  });
  test('is 0.0 with no clicks', () => {
    expect(conversionRate(0, 0)).toBe(0);
  });
});
