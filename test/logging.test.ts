import { Writable } from 'node:stream';
import { request, type Server } from 'node:http';
import { createApp } from '../src/api/app';
import { createLogger } from '../src/logger';
import { openHarness, type Harness } from './support/harness';

let harness: Harness;
beforeAll(async () => {
  harness = await openHarness();
});
afterAll(async () => {
  await harness.close();
});

/** A GET of a path exactly as written: fetch would tidy `//%` into another address. */
function rawStatus(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sent = request(`${base}/`, { path, headers: { 'x-forwarded-for': '203.0.113.77' } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    sent.on('error', reject);
    sent.end();
  });
}

test('a request\'s log lines hold no token, cookie, signature or client address', async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const app = createApp({
    logger: createLogger('info', destination),
    pool: harness.pool,
    temporal: harness.client,
    taskQueue: harness.taskQueue,
    config: { JWT_SECRET: 'logging-test-jwt-secret-0123456789abcd', MEMBERSHIP_WEBHOOK_SECRET: 'logging-webhook-secret', HASH_SALT: 'test-only-hash-salt' },
    readiness: { postgres: async () => true, temporal: async () => true },
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const secrets = {
    authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdG9rZW4ifQ.c2lnbmF0dXJlLXNlY3JldA',
    cookie: 'rv=cookie-secret-value',
    'x-signature': 't=1,v1=signature-secret-value',
    'x-forwarded-for': '203.0.113.77',
  };
  try {
    await (await fetch(`${base}/healthz`, { headers: secrets })).arrayBuffer();
    await (await fetch(`${base}/api/v1/webhooks/membership`, { method: 'POST', headers: { ...secrets, 'content-type': 'application/json' }, body: '{}' })).arrayBuffer();
    await (await fetch(`${base}/api/v1/referral-attributions/mentor/not-a-uuid/counts`, { headers: secrets })).arrayBuffer();
    // Addresses that carry a secret: an unsubscribe link's token, the OpenID provider's authorization code and state.
    await (await fetch(`${base}/unsubscribe/unsubscribe-token-secret`, { headers: secrets })).arrayBuffer();
    await (await fetch(`${base}/dashboard/callback?code=authorization-code-secret&state=state-secret`, { headers: secrets })).arrayBuffer();
    // An address no URL parser takes is logged as it came, and answered as any unknown one.
    expect(await rawStatus(base, '//%')).toBe(404);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const logged = lines.join('\n');
  expect(lines.filter((line) => line.includes('"request completed"') || line.includes('"request errored"'))).toHaveLength(6);
  const urls = lines.map((line) => (JSON.parse(line) as { req?: { url: string } }).req?.url).filter(Boolean);
  expect(urls.slice(-3)).toEqual(['/unsubscribe/redacted', '/dashboard/callback?code=redacted&state=redacted', '//%']);
  const secretsInAddresses = ['unsubscribe-token-secret', 'authorization-code-secret', 'state-secret'];
  for (const secret of ['eyJhbGciOiJIUzI1NiJ9', 'cookie-secret-value', 'signature-secret-value', '203.0.113.77', ...secretsInAddresses]) expect({ secret, logged: logged.includes(secret) }).toEqual({ secret, logged: false });
  // Nor the address of the proxy in front (here loopback, the host header aside).
  for (const line of lines.filter((candidate) => candidate.includes('"req"'))) expect((JSON.parse(line) as { req: { remoteAddress: string } }).req.remoteAddress).toBe('[redacted]');
  // The client is known by a salted hash: the same one for every request from it.
  const clients = new Set(lines.map((line) => (JSON.parse(line) as { client?: string }).client).filter(Boolean));
  expect([...clients]).toEqual([expect.stringMatching(/^[0-9a-f]{16}$/)]);
});
