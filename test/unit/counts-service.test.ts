import { createCountsService, type RawCounts } from '../../src/services/counts-service';

const ORG = '00000000-0000-4000-8000-000000000001';
const MENTOR = '00000000-0000-4000-8000-000000000002';

function serviceOver(raw: RawCounts | Error, now = () => 0) {
  const calls: string[] = [];
  const service = createCountsService({
    repository: {
      countsFor: async (_orgId, mentorId) => {
        calls.push(mentorId);
        if (raw instanceof Error) throw raw;
        return raw;
      },
    },
    now,
  });
  return { service, calls };
}

test('10 clicks, 3 pending and 2 confirmed give a conversion rate of 0.2', async () => {
  const { service } = serviceOver({ totalClicks: 10, pendingCount: 3, confirmedCount: 2 });
  expect(await service.countsFor(ORG, MENTOR)).toEqual({
    totalClicks: 10,
    pendingAttributions: 3,
    confirmedAttributions: 2,
    conversionRate: 0.2,
  });
});

test('a mentor with no activity gets all zeros', async () => {
  const { service } = serviceOver({ totalClicks: 0, pendingCount: 0, confirmedCount: 0 });
  expect(await service.countsFor(ORG, MENTOR)).toEqual({
    totalClicks: 0,
    pendingAttributions: 0,
    confirmedAttributions: 0,
    conversionRate: 0,
  });
});

test('5 clicks and no attributions give 0.0', async () => {
  const { service } = serviceOver({ totalClicks: 5, pendingCount: 0, confirmedCount: 0 });
  expect((await service.countsFor(ORG, MENTOR)).conversionRate).toBe(0);
});

test('a failing repository propagates its error', async () => {
  const { service } = serviceOver(new Error('connection refused'));
  await expect(service.countsFor(ORG, MENTOR)).rejects.toThrow('connection refused');
});

test('answers are cached for 60 seconds', async () => {
  let clock = 0;
  const { service, calls } = serviceOver({ totalClicks: 1, pendingCount: 0, confirmedCount: 1 }, () => clock);
  await service.countsFor(ORG, MENTOR);
  clock = 59_999;
  await service.countsFor(ORG, MENTOR);
  expect(calls).toHaveLength(1);
  clock = 60_000;
  await service.countsFor(ORG, MENTOR);
  expect(calls).toHaveLength(2);
});
