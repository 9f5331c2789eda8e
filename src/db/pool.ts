import { Pool, types } from 'pg';

// bigint counts fit comfortably in a JS number for this product's volumes.
types.setTypeParser(types.builtins.INT8, (value) => Number.parseInt(value, 10));

export function createPool(databaseUrl: string, max = 10): Pool {
  return new Pool({ connectionString: databaseUrl, max });
}

export async function isPostgresReachable(pool: Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
