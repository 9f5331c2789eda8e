import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { Client } from 'pg';

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

/**
 * Applies every pending versioned SQL migration as the tables' owner; safe to call on every start-up. With the URL
 * the service runs on, its login joins `referral_runtime` (the data-only role) unless it is the owner itself.
 */
export async function migrate(ownerUrl: string, log: (line: string) => void = () => undefined, runtimeUrl?: string): Promise<string[]> {
  const applied = await runner({
    databaseUrl: ownerUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    checkOrder: true,
    singleTransaction: true,
    log,
    logger: { debug: () => undefined, info: log, warn: log, error: log },
  });
  if (runtimeUrl) await grantRuntimeRole(ownerUrl, decodeURIComponent(new URL(runtimeUrl).username));
  return applied.map((migration) => migration.name);
}

async function grantRuntimeRole(ownerUrl: string, login: string): Promise<void> {
  const client = new Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string }>('SELECT current_user AS owner');
    if (login && login !== rows[0].owner) await client.query(`GRANT referral_runtime TO ${client.escapeIdentifier(login)}`);
  } finally {
    await client.end();
  }
}

/** Creates `database` on the server `adminUrl` names, unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount === 0) await client.query(`CREATE DATABASE ${database}`);
  } finally {
    await client.end();
  }
}
