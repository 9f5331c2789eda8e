import type { Pool } from 'pg';
import { createRewardStore } from '../db/rewards';
import { startPollLoop, type PollLoop } from './poll-loop';

const BATCH = 500;

export interface RewardSettler extends PollLoop {
  /** Confirms every entry whose hold has passed by now (the loop runs these; tests may call it directly). */
  round(): Promise<number>;
}

/**
 * Each reward entry's timer: its hold's end is a column in Postgres, and this loop confirms the entries whose end has
 * passed, in batches, several settlers at once without doubling (SKIP LOCKED). A cancellation or a rejection that
 * comes first leaves nothing for it to confirm.
 */
export function startRewardSettler(options: { pool: Pool; pollMs: number; clock?: () => Date; onError?: (error: unknown) => void }): RewardSettler {
  const store = createRewardStore(options.pool);
  const now = options.clock ?? (() => new Date());
  async function round(): Promise<number> {
    let settled = 0;
    let batch: number;
    do {
      batch = await store.settleDue(now(), BATCH);
      settled += batch;
    } while (batch === BATCH);
    return settled;
  }
  return { round, ...startPollLoop({ pollMs: options.pollMs, round, onError: options.onError }) };
}
