import type { Pool, PoolClient } from 'pg';

/** Runs `work` in one transaction; `begin` may open it with more than a plain BEGIN. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  // A connection lost between two statements (Postgres restarting) is reported on the client, which a
  // checked-out client has no listener for: unheard, it would end the process. The next statement fails
  // instead, and the broken client is dropped on release.
  let lost: Error | undefined;
  const onConnectionLost = (error: Error) => {
    lost = error;
  };
  client.on('error', onConnectionLost);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (!lost) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', onConnectionLost);
    client.release(lost);
  }
}

/** Constant values (never input) as an SQL list: `'a', 'b'`. */
export const sqlList = (values: readonly string[]) => values.map((value) => `'${value.replace(/'/g, "''")}'`).join(', ');
