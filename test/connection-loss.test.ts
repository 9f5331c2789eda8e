import { createPool } from '../src/db/pool';
import { withTransaction } from '../src/db/transaction';

const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined, 2);
const admin = createPool(process.env.TEST_DATABASE_URL!, () => undefined, 1);
afterAll(async () => {
  await pool.end();
  await admin.end();
});

// Postgres restarting drops every connection, including one a worker holds between two statements of a
// transaction: the fault drill saw that crash the worker process.
test('a connection lost in the middle of a transaction fails that transaction, not the process', async () => {
  const outcome = withTransaction(pool, async (client) => {
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    // Let the server's goodbye reach the client while it runs no query.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.query('SELECT 1');
  });
  await expect(outcome).rejects.toThrow('Client has encountered a connection error and is not queryable');
  expect(pool.totalCount).toBe(0);
  expect((await pool.query('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }]);
});
