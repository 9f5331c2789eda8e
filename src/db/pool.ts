import { Pool, types } from 'pg';

// bigint counts fit comfortably in a JS number for this product's volumes.
types.setTypeParser(types.builtins.INT8, (value) => Number.parseInt(value, 10));

export function createPool(databaseUrl: string, onIdleError: (error: Error) => void, max = 10): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max });
  // An idle connection dropped by the server (a restart, Ctrl-C reaching Postgres first) must not crash us;
  // the next query reconnects.
  pool.on('error', onIdleError);
  return pool;
}

export async function isPostgresReachable(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
