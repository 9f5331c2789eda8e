import { bucketBounds, conversionTimes } from '../../src/domain/conversion-time';

test('the buckets tile each range: the first hour in 36 s steps, each range into a hundred, past 30 days open-ended', () => {
  expect(bucketBounds(0)).toEqual([0, 36]);
  expect(bucketBounds(99)).toEqual([3564, 3600]);
  expect(bucketBounds(100)[0]).toBe(3600);
  expect(bucketBounds(199)[1]).toBeCloseTo(86_400, 6);
  expect(bucketBounds(600)).toEqual([30 * 86_400, 30 * 86_400 * 2 ** (1 / 16)]);
  expect(bucketBounds(699)[1]).toBe(Infinity);
  for (let bucket = 0; bucket < 699; bucket += 1) expect(bucketBounds(bucket)[1]).toBeCloseTo(bucketBounds(bucket + 1)[0], 6);
});

test('the ranges count exactly and the median is read within its bucket', () => {
  expect(conversionTimes([])).toEqual({ medianSeconds: null, ranges: expect.arrayContaining([{ fromSeconds: 0, toSeconds: 3600, confirmed: 0 }]) });
  const times = conversionTimes([
    { bucket: 5, confirmed: 1 },
    { bucket: 250, confirmed: 2 },
    { bucket: 610, confirmed: 1 },
  ]);
  expect(times.ranges.map((range) => range.confirmed)).toEqual([1, 0, 2, 0, 0, 0, 1]);
  // Four confirmations: the median is the second's, halfway into bucket 250 (the first of the two there).
  const [low, high] = bucketBounds(250);
  expect(times.medianSeconds).toBe(Math.round(low + 0.5 * (high - low)));
  expect(times.ranges[6]).toEqual({ fromSeconds: 30 * 86_400, toSeconds: null, confirmed: 1 });
});
