import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../api/app';
import { loadConfig } from '../config';
import { createPool, isPostgresReachable } from '../db/pool';
import { createIntakeStore } from '../db/intake';
import { createOrgStore } from '../db/orgs';
import { DEMO_ORG, DEMO_SIGN_IN_PATH } from '../domain/demo';
import { embeddedDatabaseUrl } from '../stack/postgres';
import { fillDemo } from './fill';

const JOURNEYS = 300;

/** `npm run demo`: fills the demo organisation of the stack `npm start` runs, through the API's own code. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (config.NODE_ENV === 'production' || config.JWKS_URL) throw new Error('The demo signs its own member tokens: run it in development only.');
  const pool = createPool(config.DATABASE_URL ?? embeddedDatabaseUrl(config.EMBEDDED_POSTGRES_PORT), () => undefined, 4);
  const temporalAddress = config.TEMPORAL_ADDRESS ?? `localhost:${config.TEMPORAL_PORT}`;
  let connection: Connection;
  try {
    await isPostgresReachable(pool).then((reachable) => {
      if (!reachable) throw new Error('Postgres is not reachable');
    });
    connection = await Connection.connect({ address: temporalAddress, connectTimeout: 3000 });
  } catch {
    await pool.end();
    throw new Error('The service is not running here: start it with npm start, then run npm run demo in another terminal.');
  }
  const dashboard = `http://localhost:${config.PORT}`;
  try {
    const filled = await createOrgStore(pool).referralCount(DEMO_ORG.id);
    if (filled > 0) {
      console.log(`The demo organisation already holds ${filled} referrals. Sign in: ${dashboard}${DEMO_SIGN_IN_PATH}`);
      return;
    }
    let clock = new Date();
    const app = createApp({
      logger: pino({ level: 'silent' }),
      readiness: { postgres: async () => true, temporal: async () => true },
      pool,
      temporal: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }),
      config,
      clock: () => clock,
    });
    const server: Server = await new Promise((resolve) => {
      const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const address = server.address();
    try {
      console.log(`Filling the demo organisation with ${JOURNEYS} journeys over the last six weeks…`);
      const summary = await fillDemo({
        apiUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
        setClock: (at) => {
          clock = at;
        },
        jwtSecret: config.JWT_SECRET,
        webhookSecret: config.MEMBERSHIP_WEBHOOK_SECRET,
        journeys: JOURNEYS,
        now: new Date(),
      });
      const intake = createIntakeStore(pool);
      for (let waited = 0; (await intake.backlog()).undelivered > 0 && waited < 120; waited += 1) await new Promise((resolve) => setTimeout(resolve, 1000));
      console.log(
        `${summary.journeys} journeys, ${summary.accounts} accounts, ${summary.confirmations} confirmed, ${summary.heldForReview} held for review, for ${summary.mentors} mentors.\n` +
          `Sign in as the demo admin: ${dashboard}${DEMO_SIGN_IN_PATH}  (the counts settle within a minute)`,
      );
    } finally {
      server.close();
    }
  } finally {
    await connection.close();
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
