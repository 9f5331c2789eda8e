import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createReferralTokens } from '../src/api/referral-token';
import { nameBasedUuid, referralWorkflowId } from '../src/services/identifiers';
import type { Config } from '../src/config';
import { listenApp } from './support/api';
import { openHarness, type Harness } from './support/harness';

const SECRETS = { JWT_SECRET: 'auth-test-jwt-secret-0123456789abcdefgh', MEMBERSHIP_WEBHOOK_SECRET: 'auth-webhook-secret', HASH_SALT: 'test-only-hash-salt' };
let harness: Harness;
beforeAll(async () => {
  harness = await openHarness();
});
afterAll(async () => {
  await harness.close();
});

/** GET /api/v1/referral-codes with `token` against an app configured with `config`: the status it answers. */
async function statusWith(config: Partial<Config>, token: string): Promise<number> {
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, config: { ...SECRETS, ...config } });
  try {
    const response = await fetch(`${api.url}/api/v1/referral-codes`, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    return response.status;
  } finally {
    await api.close();
  }
}

const claims = () => ({ role: 'peer_mentor', org_id: randomUUID() });
const hs256 = (build: (jwt: SignJWT) => SignJWT) => build(new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).setSubject(randomUUID())).sign(new TextEncoder().encode(SECRETS.JWT_SECRET));

test('a member token needs exp, and the issuer and audience when they are configured', async () => {
  expect(await statusWith({}, await hs256((jwt) => jwt.setExpirationTime('1h')))).toBe(200);
  expect(await statusWith({}, await hs256((jwt) => jwt))).toBe(401);
  expect(await statusWith({}, await hs256((jwt) => jwt.setExpirationTime(Math.floor(Date.now() / 1000) - 3600)))).toBe(401);
  const configured = { JWT_ISSUER: 'https://id.example.org', JWT_AUDIENCE: 'referrals' };
  expect(await statusWith(configured, await hs256((jwt) => jwt.setExpirationTime('1h').setIssuer('https://id.example.org').setAudience('referrals')))).toBe(200);
  expect(await statusWith(configured, await hs256((jwt) => jwt.setExpirationTime('1h').setIssuer('https://other.example.org').setAudience('referrals')))).toBe(401);
  expect(await statusWith(configured, await hs256((jwt) => jwt.setExpirationTime('1h').setIssuer('https://id.example.org')))).toBe(401);
});

test('referral tokens have a key of their own: one signed with JWT_SECRET itself is refused', async () => {
  const org = await harness.seedOrg();
  const visitorHash = 'v'.repeat(64);
  const referralId = nameBasedUuid(referralWorkflowId(org.codeId, visitorHash));
  const withSecret = (key: Uint8Array) =>
    new SignJWT({ cid: org.codeId, vh: visitorHash }).setProtectedHeader({ alg: 'HS256' }).setSubject(referralId).setAudience('referral-app').setExpirationTime('1h').sign(key);
  const issued = await createReferralTokens(SECRETS.JWT_SECRET).issue({ referralId, referralCodeId: org.codeId, visitorHash });
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, config: SECRETS });
  try {
    const step = async (token: string, key: string) => {
      const response = await fetch(`${api.url}/api/v1/referrals/${referralId}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ type: 'installed', idempotencyKey: key }),
      });
      await response.arrayBuffer();
      return response.status;
    };
    expect(await step(issued, 'issued')).toBe(202);
    expect(await step(await withSecret(new TextEncoder().encode(SECRETS.JWT_SECRET)), 'forged')).toBe(401);
  } finally {
    await api.close();
  }
  // A referral token is no member token either.
  expect(await statusWith({}, issued)).toBe(401);
});

test('the bearer scheme is read in any case, as HTTP has it, for a member token and a referral token alike', async () => {
  const org = await harness.seedOrg();
  const visitorHash = 'w'.repeat(64);
  const referralId = nameBasedUuid(referralWorkflowId(org.codeId, visitorHash));
  const referralToken = await createReferralTokens(SECRETS.JWT_SECRET).issue({ referralId, referralCodeId: org.codeId, visitorHash });
  const memberToken = await hs256((jwt) => jwt.setExpirationTime('1h'));
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, config: SECRETS });
  try {
    const answered = async (path: string, authorization: string, body?: unknown) => {
      const response = await fetch(`${api.url}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { 'content-type': 'application/json', authorization },
        body: body ? JSON.stringify(body) : undefined,
      });
      await response.arrayBuffer();
      return response.status;
    };
    expect([
      await answered('/api/v1/referral-codes', `bearer ${memberToken}`),
      await answered('/api/v1/referral-codes', `BEARER  ${memberToken}`),
      await answered(`/api/v1/referrals/${referralId}/events`, `bearer ${referralToken}`, { type: 'installed', idempotencyKey: 'lower-case-scheme' }),
      await answered('/api/v1/referral-codes', `Basic ${memberToken}`),
    ]).toEqual([200, 200, 202, 401]);
  } finally {
    await api.close();
  }
});

test('keys from a JWKS URL verify RS256 tokens; the keys out of reach answer 503, not 401', async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const JWKS_URL = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks.json`;
  const rs256 = () => new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'key-1' }).setSubject(randomUUID()).setExpirationTime('1h').sign(privateKey);
  expect(await statusWith({ JWKS_URL }, await rs256())).toBe(200);
  expect(await statusWith({ JWKS_URL }, await hs256((jwt) => jwt.setExpirationTime('1h')))).toBe(401);
  await new Promise((resolve) => server.close(resolve));
  expect(await statusWith({ JWKS_URL }, await rs256())).toBe(503);
});

test('a click sent with a member token records no user, refused or taken', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const token = await new SignJWT({ role: 'peer_mentor', org_id: org.orgId }).setProtectedHeader({ alg: 'HS256' }).setSubject(member).setExpirationTime('1h').sign(new TextEncoder().encode(SECRETS.JWT_SECRET));
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, config: SECRETS });
  const click = async (body: unknown) => {
    const response = await fetch(`${api.url}/api/v1/referral-attributions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    return response.status;
  };
  try {
    expect([await click({ code: org.code, unexpected: 1 }), await click({ code: 'nosuchcode1' }), await click({ code: org.code })]).toEqual([400, 404, 201]);
  } finally {
    await api.close();
  }
  expect((await harness.pool.query('SELECT id FROM users WHERE id = $1', [member])).rows).toEqual([]);
});
