import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { createReferralTokens } from '../src/api/referral-token';
import { signPayload } from '../src/api/webhook-signature';
import { listenApp, type ListeningApi } from './support/api';
import { openHarness, type Harness, type SeededOrg } from './support/harness';

const secrets = { JWT_SECRET: 'property-test-jwt-secret-0123456789ab', MEMBERSHIP_WEBHOOK_SECRET: 'property-webhook-secret', HASH_SALT: 'test-only-hash-salt' };
let harness: Harness;
let api: ListeningApi;
let base: string;
let org: SeededOrg;
let adminToken: string;
let referralToken: string;
let referralId: string;
let coordinatorId: string;

beforeAll(async () => {
  harness = await openHarness();
  api = await listenApp({ pool: harness.pool, temporal: harness.client, config: secrets, taskQueue: harness.taskQueue });
  base = api.url;
  org = await harness.seedOrg();
  const adminId = randomUUID();
  coordinatorId = randomUUID();
  await harness.pool.query(
    "INSERT INTO users (id, org_id, role) VALUES ($1, $3, 'org_admin'), ($2, $3, 'coordinator')",
    [adminId, coordinatorId, org.orgId],
  );
  adminToken = await new SignJWT({ role: 'org_admin', org_id: org.orgId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(adminId)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secrets.JWT_SECRET));
  referralId = randomUUID();
  referralToken = await createReferralTokens(secrets.JWT_SECRET).issue({ referralId, referralCodeId: org.codeId, visitorHash: 'v'.repeat(64) });
});

afterAll(async () => {
  await api.close();
  await harness.close();
});

/** Every row the write endpoints could touch, as one comparable value. */
async function databaseState(): Promise<string> {
  const result = await harness.pool.query(`
    SELECT (SELECT count(*) FROM referrals) AS referrals, (SELECT count(*) FROM click_events) AS clicks,
      (SELECT count(*) FROM referral_events) AS events, (SELECT count(*) FROM badge_awards) AS awards,
      (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM referral_codes) AS codes, (SELECT count(*) FROM intake) AS intake,
      (SELECT md5(string_agg(id::text || attribution_window_seconds || confirmation_window_seconds || dedupe_window_seconds || badge_milestones::text, ',' ORDER BY id)) FROM organisations) AS settings,
      (SELECT md5(coalesce(string_agg(coordinator_id::text || mentor_id::text, ',' ORDER BY coordinator_id, mentor_id), '')) FROM coordinator_assignments) AS assignments`);
  return JSON.stringify(result.rows[0]);
}

interface WriteEndpoint {
  name: string;
  method: string;
  path: () => string;
  headers: (raw: string) => Record<string, string>;
}

const signedHeaders = (raw: string) => {
  const at = Math.floor(Date.now() / 1000);
  return { 'x-signature': `t=${at},v1=${signPayload(secrets.MEMBERSHIP_WEBHOOK_SECRET, at, raw)}` };
};

const endpoints: WriteEndpoint[] = [
  { name: 'record click', method: 'POST', path: () => '/api/v1/referral-attributions', headers: () => ({}) },
  { name: 'funnel step', method: 'POST', path: () => `/api/v1/referrals/${referralId}/events`, headers: () => ({ authorization: `Bearer ${referralToken}` }) },
  { name: 'membership webhook', method: 'POST', path: () => '/api/v1/webhooks/membership', headers: signedHeaders },
  { name: 'confirm referral', method: 'PUT', path: () => `/api/v1/referral-attributions/${referralId}`, headers: signedHeaders },
  { name: 'org settings', method: 'PUT', path: () => `/api/v1/orgs/${org.orgId}/settings`, headers: () => ({ authorization: `Bearer ${adminToken}` }) },
  { name: 'coordinator mentors', method: 'PUT', path: () => `/api/v1/coordinators/${coordinatorId}/mentors`, headers: () => ({ authorization: `Bearer ${adminToken}` }) },
];

// Bodies that are wrong in the ways clients get them wrong: any JSON value, wrong types in
// plausible fields, unknown fields, huge strings, absurd dates and numbers, and broken JSON.
const absurd = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constant('x'.repeat(10_000)),
  fc.constant('9999-12-31T23:59:59Z'),
  fc.integer({ min: -1_000_000_000, max: -1 }),
  fc.double(),
  fc.constant(null),
  // Arrays of short strings: never a list of UUIDs or milestones, which would make a valid body by chance.
  fc.array(fc.string({ maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  fc.boolean(),
);
const plausibleKeys = ['code', 'visitorId', 'metadata', 'type', 'idempotencyKey', 'newMemberId', 'occurredAt', 'event', 'referralCode', 'deliveryId', 'attributionWindow', 'confirmationWindow', 'dedupeWindow', 'badgeMilestones', 'mentorIds', 'unexpected'];
const rawBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.dictionary(fc.constantFrom(...plausibleKeys), absurd, { minKeys: 1, maxKeys: 6 }).map((body) => JSON.stringify(body)),
  fc.string({ maxLength: 40 }).map((text) => `{${text}`),
);

test.each(endpoints)('$name answers any malformed body with a 4xx and writes nothing', async (endpoint) => {
  const before = await databaseState();
  await fc.assert(
    fc.asyncProperty(rawBody, async (raw) => {
      const response = await fetch(`${base}${endpoint.path()}`, {
        method: endpoint.method,
        headers: { 'content-type': 'application/json', ...endpoint.headers(raw) },
        body: raw,
      });
      const body = (await response.json()) as { error?: { code: string } };
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(typeof body.error?.code).toBe('string');
    }),
    { numRuns: 60 },
  );
  expect(await databaseState()).toBe(before);
});

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
// Query values that are wrong in the ways clients and attackers get them wrong, crafted cursors among them.
const queryValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('1', '-1', '0', '1e309', 'NaN', '2026-11-01', '2026-13-45T99:99:99Z', '9999-12-31T23:59:59Z', 'day', 'x'.repeat(600), ''),
  fc.record({ createdAt: fc.oneof(fc.string({ maxLength: 12 }), fc.constant('1'), fc.constant('2026-01-01T00:00:00Z')), id: fc.oneof(fc.uuid(), fc.string({ maxLength: 8 })) }).map(cursorOf),
  fc.json({ maxDepth: 1 }).map((json) => Buffer.from(json).toString('base64url')),
);
const queryKeys = ['cursor', 'limit', 'status', 'stage', 'from', 'to', 'mentorId', 'granularity', 'ch', 'unexpected'];
const queryString = fc.dictionary(fc.constantFrom(...queryKeys), queryValue, { maxKeys: 5 }).map((query) => new URLSearchParams(query).toString());

const readPaths = () => [
  '/api/v1/referral-attributions',
  `/api/v1/referral-attributions/mentor/${org.mentorId}`,
  `/api/v1/referral-attributions/mentor/${org.mentorId}/counts`,
  `/api/v1/mentors/${org.mentorId}/stats`,
  `/api/v1/mentors/${org.mentorId}/recruits`,
  `/api/v1/coordinators/${coordinatorId}/aggregate`,
  `/api/v1/orgs/${org.orgId}/recruitment-dashboard`,
  '/api/v1/referral-codes',
  `/api/v1/referral-codes/${org.codeId}/qr.svg`,
];

test('every read endpoint answers any query string with 200 or a 4xx, never a 500', async () => {
  for (const path of readPaths()) {
    await fc.assert(
      fc.asyncProperty(queryString, async (query) => {
        const response = await fetch(`${base}${path}?${query}`, { headers: { authorization: `Bearer ${adminToken}` } });
        await response.arrayBuffer();
        expect({ path, query, status: response.status < 500 }).toEqual({ path, query, status: true });
      }),
      { numRuns: 40 },
    );
  }
});

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
// Where a person's browser may be sent: an address cut short, run on, mistyped or mangled on the way.
const pageSegment = fc.oneof(fc.webSegment(), fc.string({ maxLength: 12 }).map(encodeURIComponent), fc.constantFrom('%', '%E0%A4%A', '%ZZ', '%2F', '', 'r'));
const pagePath = fc
  .tuple(fc.constantFrom('', 'r', 'dashboard', 'docs', 'unsubscribe', 'r/abcdefgh'), fc.array(pageSegment, { maxLength: 3 }))
  .map(([head, rest]) => `/${[head, ...rest].join('/')}`)
  .filter((path) => !/^\/(api|healthz|readyz|metrics|openapi\.json)(\/|$)/.test(path));

test('any address outside the API that a browser opens answers a page, never JSON and never a 5xx', async () => {
  await fc.assert(
    fc.asyncProperty(pagePath, async (path) => {
      const response = await fetch(`${base}${path}`, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
      await response.arrayBuffer();
      const type = response.headers.get('content-type') ?? '';
      expect({ path, status: response.status, page: response.status < 400 || type.startsWith('text/html') }).toEqual({ path, status: expect.any(Number), page: true });
      expect(response.status).toBeLessThan(500);
    }),
    { numRuns: 80 },
  );
});

test('a crafted cursor is a 400, not a query Postgres refuses', async () => {
  for (const cursor of [cursorOf({ createdAt: '2026-01-01T00:00:00Z', id: 'x' }), cursorOf({ createdAt: '1', id: randomUUID() })]) {
    const response = await fetch(`${base}/api/v1/referral-attributions?cursor=${cursor}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  }
});
