import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { listenApp, type ListeningApi } from './support/api';
import { createPool } from '../src/db/pool';

let api: ListeningApi;
let base: string;
let routes: string[];
const pool = createPool(process.env.TEST_DATABASE_URL!, () => undefined);
let connection: Connection;
const config = { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'z'.repeat(16) };

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

function registeredRoutes(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) return Object.keys(layer.route.methods).map((method) => `${method} ${layer.route!.path}`);
    return layer.handle?.stack ? registeredRoutes(layer.handle.stack) : [];
  });
}

beforeAll(async () => {
  connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  const app = createApp({
    logger: pino({ level: 'silent' }),
    pool,
    temporal: new Client({ connection }),
    config,
    readiness: { postgres: async () => true, temporal: async () => true },
  });
  routes = registeredRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack);
  api = await listenApp({ pool, temporal: new Client({ connection }), config });
  base = api.url;
});

afterAll(async () => {
  await api.close();
  await connection.close();
  await pool.end();
});

test('/openapi.json documents exactly the routes the app serves, with their zod schemas', async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const document: any = await (await fetch(`${base}/openapi.json`)).json();
  expect(document.openapi).toBe('3.1.0');
  const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
  expect([...documented].sort()).toEqual([...routes].sort());
  const click = document.paths['/api/v1/referral-attributions'].post.requestBody.content['application/json'].schema;
  expect(click.required).toEqual(['code']);
  expect(click.additionalProperties).toBe(false);
  const counts = document.paths['/api/v1/referral-attributions/mentor/{mentorId}/counts'].get;
  expect(counts.parameters).toEqual([{ name: 'mentorId', in: 'path', required: true, schema: expect.objectContaining({ format: 'uuid' }) }]);
});

test('/docs is a readable reference built from the same document', async () => {
  const response = await fetch(`${base}/docs`);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  const page = await response.text();
  expect(page).toContain('<code>GET /api/v1/referral-attributions/mentor/{mentorId}/counts</code>');
  expect(page).toContain('<code>POST /api/v1/webhooks/membership</code>');
});
