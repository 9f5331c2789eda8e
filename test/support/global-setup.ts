import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../src/db/migrate';
import { freeLoopbackPort } from '../../src/stack/free-port';
import { startPostgres, type RunningPostgres } from '../../src/stack/postgres';
import { startTemporal, type RunningTemporal } from '../../src/stack/temporal';

export interface TestStack {
  postgres: RunningPostgres;
  temporal: RunningTemporal;
  adminUrl: string;
  database: string;
}

const RUNTIME_LOGIN = 'referral_test_runtime';

/** Real Postgres (DATABASE_URL, else embedded) with a scratch database, and a real Temporal server. */
export default async function globalSetup(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[test stack] ${line}\n`);
  const postgres = await startPostgres({
    databaseUrl: process.env.DATABASE_URL,
    dataDir: mkdtempSync(path.join(tmpdir(), 'referral-test-')),
    port: await freeLoopbackPort(),
    log,
  });
  const database = `referral_test_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: postgres.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  // The tests connect as the service does in production: a login with data-only grants, row-level security forced.
  await admin.query(`DO $$ BEGIN CREATE ROLE ${RUNTIME_LOGIN} LOGIN PASSWORD '${RUNTIME_LOGIN}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await admin.end();
  const ownerUrl = new URL(postgres.databaseUrl);
  ownerUrl.pathname = `/${database}`;
  const url = new URL(ownerUrl);
  url.username = RUNTIME_LOGIN;
  url.password = RUNTIME_LOGIN;
  await migrate(ownerUrl.toString(), undefined, url.toString());

  const temporal = await startTemporal({
    address: process.env.TEMPORAL_ADDRESS,
    namespace: 'default',
    cliPath: process.env.TEMPORAL_CLI_PATH,
    log,
  });
  process.env.TEST_DATABASE_URL = url.toString();
  process.env.TEST_OWNER_DATABASE_URL = ownerUrl.toString();
  process.env.TEST_TEMPORAL_ADDRESS = temporal.address;
  (globalThis as { testStack?: TestStack }).testStack = { postgres, temporal, adminUrl: postgres.databaseUrl, database };
}
