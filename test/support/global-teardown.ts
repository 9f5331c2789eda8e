import { Client } from 'pg';
import type { TestStack } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { testStack?: TestStack }).testStack;
  if (!stack) return;
  await stack.temporal.stop();
  const admin = new Client({ connectionString: stack.adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${stack.database} WITH (FORCE)`);
  await admin.end();
  await stack.postgres.stop();
}
