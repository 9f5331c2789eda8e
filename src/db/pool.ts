import { Pool, types } from 'pg';

// bigint counts fit comfortably in a JS number for this product's volumes.
types.setTypeParser(types.builtins.INT8, (value) => Number.parseInt(value, 10));

export interface PoolOptions {
  /**
   * A statement prepared under a name on these connections is planned once, for any parameters, not again at every
   * call (for the click's statement, planning was half its time). Only for connections whose statements find their
   * rows by key, whose best plan does not depend on the values.
   */
  genericPlans?: boolean;
}

export function createPool(databaseUrl: string, onIdleError: (error: Error) => void, max = 10, options: PoolOptions = {}): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max, ...(options.genericPlans ? { options: '-c plan_cache_mode=force_generic_plan' } : {}) });
  // An idle connection dropped by the server (a restart, Ctrl-C reaching Postgres first) must not crash us;
  // the next query reconnects.
  pool.on('error', onIdleError);
  return pool;
}

/** Connections for the journey's and the intake's statements, which find their rows by key: each planned once. */
export const createJourneyPool = (databaseUrl: string, onIdleError: (error: Error) => void): Pool =>
  createPool(databaseUrl, onIdleError, 10, { genericPlans: true });

export async function isPostgresReachable(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
