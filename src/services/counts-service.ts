import { conversionRate } from '../domain/funnel';
import { createExpiringCache } from './expiring-cache';

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
  const cache = createExpiringCache<AttributionCounts>({ ttlMs: options.ttlMs ?? 60_000, limit: CACHE_LIMIT, now: options.now ?? Date.now });
  return {
    countsFor: (orgId: string, mentorId: string): Promise<AttributionCounts> =>
      cache.get(mentorId, async () => {
        const raw = await options.repository.countsFor(orgId, mentorId);
        return {
          totalClicks: raw.totalClicks,
          pendingAttributions: raw.pendingCount,
          confirmedAttributions: raw.confirmedCount,
          conversionRate: conversionRate(raw.confirmedCount, raw.totalClicks),
        };
      }),
  };
}

export type CountsService = ReturnType<typeof createCountsService>;
