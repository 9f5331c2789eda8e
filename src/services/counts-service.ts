import { conversionRate } from '../domain/funnel';

export interface AttributionCounts {
  totalClicks: number;
  pendingAttributions: number;
  confirmedAttributions: number;
  conversionRate: number;
}

export interface RawCounts {
  totalClicks: number;
  pendingCount: number;
  confirmedCount: number;
}

export interface CountsRepository {
  countsFor(orgId: string, mentorId: string): Promise<RawCounts>;
}

const CACHE_LIMIT = 10_000;

/** AttributionCounts for one mentor, from one SQL round trip, cached for `ttlMs` (60 s by default). */
export function createCountsService(options: { repository: CountsRepository; ttlMs?: number; now?: () => number }) {
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; counts: AttributionCounts }>();
  return {
    async countsFor(orgId: string, mentorId: string): Promise<AttributionCounts> {
      const cached = cache.get(mentorId);
      if (cached && now() - cached.at < ttlMs) return cached.counts;
      const raw = await options.repository.countsFor(orgId, mentorId);
      const counts: AttributionCounts = {
        totalClicks: raw.totalClicks,
        pendingAttributions: raw.pendingCount,
        confirmedAttributions: raw.confirmedCount,
        conversionRate: conversionRate(raw.confirmedCount, raw.totalClicks),
      };
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
      cache.set(mentorId, { at: now(), counts });
      return counts;
    },
  };
}

export type CountsService = ReturnType<typeof createCountsService>;
