import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { listenApp, type ListeningApi } from './support/api';
import { createPool } from '../src/db/pool';
import { launchChromium } from './support/browser';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const SCREENSHOTS = path.resolve(__dirname, '../test-results');

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

test('/docs shows every operation of the same document in an OpenAPI viewer, its scripts from this origin only', async () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const document: any = await (await fetch(`${base}/openapi.json`)).json();
  const operations = Object.values(document.paths as Record<string, Record<string, unknown>>).flatMap((methods) => Object.keys(methods)).length;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('response', (answer) => {
      if (answer.status() >= 400) problems.push(`${answer.status()} ${new URL(answer.url()).pathname}`);
    });
    const response = await page.goto(`${base}/docs`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForSelector('.opblock');
    expect(await page.locator('.opblock').count()).toBe(operations);
    expect(await page.locator('.opblock-summary-path').allInnerTexts()).toContain('/api/v1/referral-attributions/mentor/{mentorId}/counts');
    // Opened, an operation shows its parameters, under the same policy.
    await page.locator('.opblock-summary-path', { hasText: '/api/v1/referral-attributions/mentor/{mentorId}/counts' }).first().click();
    await page.waitForSelector('.opblock-body .parameters');
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'docs.png') });
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
  // The pages for people outside the dashboard still run no script.
  expect((await fetch(`${base}/r/unknown-code`)).headers.get('content-security-policy')).toContain("script-src 'none'");
});
