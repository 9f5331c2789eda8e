import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import pino from 'pino';
import { createApp, type AppDependencies } from '../../src/api/app';

export interface ListeningApi {
  url: string;
  close(): Promise<void>;
}

/** The Express app on a free loopback port, quiet, ready unless told otherwise. */
export async function listenApp(
  deps: Omit<AppDependencies, 'logger' | 'readiness'> & Partial<Pick<AppDependencies, 'readiness'>>,
  port = 0,
): Promise<ListeningApi> {
  const app = createApp({
    logger: pino({ level: 'silent' }),
    readiness: { postgres: async () => true, temporal: async () => true },
    // A queue of its own: a click it takes must not reach the workflows of another test's worker (or of npm start's).
    taskQueue: `test-api-${randomUUID()}`,
    ...deps,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
  });
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port free at the moment, for a server that must know its own URL before it listens. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
