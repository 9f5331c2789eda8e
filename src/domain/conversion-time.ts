/** The lower bounds of the time-to-convert ranges the dashboard shows: an hour, a day, 3 days, a week, 2 weeks, 30 days. */
export const TIME_TO_CONVERT_BOUNDS = [0, 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];

const BUCKETS_PER_RANGE = 100;
/** Within the first hour the buckets are 36 s wide; past 30 days each is 2^(1/16) of the one before. */
const FIRST_RANGE_WIDTH = 36;
const LAST_RANGE_PER_DOUBLING = 16;

/** The seconds a bucket of `conversion_bucket()` (migration 10) holds: [low, high). */
export function bucketBounds(bucket: number): [number, number] {
  const range = Math.floor(bucket / BUCKETS_PER_RANGE);
  const step = bucket % BUCKETS_PER_RANGE;
  const low = TIME_TO_CONVERT_BOUNDS[range];
  if (range === 0) return [step * FIRST_RANGE_WIDTH, (step + 1) * FIRST_RANGE_WIDTH];
  if (range === TIME_TO_CONVERT_BOUNDS.length - 1) {
    return [low * 2 ** (step / LAST_RANGE_PER_DOUBLING), step === BUCKETS_PER_RANGE - 1 ? Infinity : low * 2 ** ((step + 1) / LAST_RANGE_PER_DOUBLING)];
  }
  const ratio = TIME_TO_CONVERT_BOUNDS[range + 1] / low;
  return [low * ratio ** (step / BUCKETS_PER_RANGE), low * ratio ** ((step + 1) / BUCKETS_PER_RANGE)];
}

export interface ConversionTimes {
  medianSeconds: number | null;
  /** Confirmations in each of the dashboard's ranges. */
  ranges: Array<{ fromSeconds: number; toSeconds: number | null; confirmed: number }>;
}

/**
 * The ranges' counts (exact) and the median (read within its bucket, assuming the times spread evenly across it)
 * from the confirmations counted per bucket.
 */
export function conversionTimes(counted: Array<{ bucket: number; confirmed: number }>): ConversionTimes {
  const buckets = counted.filter(({ confirmed }) => confirmed > 0).sort((a, b) => a.bucket - b.bucket);
  const ranges = TIME_TO_CONVERT_BOUNDS.map((fromSeconds, index) => ({
    fromSeconds,
    toSeconds: TIME_TO_CONVERT_BOUNDS[index + 1] ?? null,
    confirmed: buckets.filter(({ bucket }) => Math.floor(bucket / BUCKETS_PER_RANGE) === index).reduce((sum, { confirmed }) => sum + confirmed, 0),
  }));
  const total = buckets.reduce((sum, { confirmed }) => sum + confirmed, 0);
  if (total === 0) return { medianSeconds: null, ranges };
  const half = total / 2;
  let below = 0;
  for (const { bucket, confirmed } of buckets) {
    if (below + confirmed >= half) {
      const [low, high] = bucketBounds(bucket);
      const span = Number.isFinite(high) ? high - low : 0;
      return { medianSeconds: Math.round(low + ((half - below) / confirmed) * span), ranges };
    }
    below += confirmed;
  }
  return { medianSeconds: null, ranges };
}
