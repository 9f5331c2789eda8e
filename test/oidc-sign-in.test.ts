/// <reference lib="dom" />
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/browser';
import { listenApp, type ListeningApi } from './support/api';
import { freeLoopbackPort } from '../src/stack/free-port';
import { openHarness, type Harness } from './support/harness';

// The dashboard's sign-in against a real OpenID provider (oidc-provider) in a real browser.
const CLIENT_ID = 'referral-dashboard';
const CLIENT_SECRET = 'oidc-test-client-secret-0123456789';

const orgId = randomUUID();
const coordinator = { id: randomUUID(), claims: { role: 'coordinator', org_id: orgId, name: 'Olu Coordinator' } };
const roleless = { id: randomUUID(), claims: { org_id: orgId, name: 'No Role' } };

let harness: Harness;
let api: ListeningApi;
let provider: ChildProcess;
let issuer: string;
let browser: Browser;

function startProvider(port: number, redirectUri: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, 'support/oidc-provider.mjs')], {
    env: {
      ...process.env,
      PORT: String(port),
      CLIENT_ID,
      CLIENT_SECRET,
      REDIRECT_URI: redirectUri,
      ACCOUNTS: JSON.stringify({ [coordinator.id]: coordinator.claims, [roleless.id]: roleless.claims }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the OpenID provider exited with ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve(child);
    });
  });
}

const appConfig = (issuerUrl: string, base: string) => ({
  JWT_SECRET: 'oidc-test-jwt-secret-0123456789abcdef',
  MEMBERSHIP_WEBHOOK_SECRET: 'oidc-test-webhook-secret',
  HASH_SALT: 'oidc-test-hash-salt-0123',
  PUBLIC_BASE_URL: base,
  OIDC_ISSUER_URL: issuerUrl,
  OIDC_CLIENT_ID: CLIENT_ID,
  OIDC_CLIENT_SECRET: CLIENT_SECRET,
});

beforeAll(async () => {
  harness = await openHarness();
  const [appPort, providerPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const base = `http://127.0.0.1:${appPort}`;
  issuer = `http://127.0.0.1:${providerPort}`;
  provider = await startProvider(providerPort, `${base}/dashboard/callback`);
  api = await listenApp({ pool: harness.pool, temporal: harness.client, config: appConfig(issuer, base) }, appPort);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  provider?.kill();
  await api?.close();
  await harness?.close();
});

async function signInAs(login: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${api.url}/dashboard`);
  await page.click('text=Sign in with your organisation');
  await page.waitForURL(`${issuer}/**`);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password');
  await page.click('button:has-text("Sign-in")');
  await page.click('button:has-text("Continue")');
  return page;
}

test("a coordinator signs in with the organisation's provider (code flow with PKCE) and lands on the dashboard", async () => {
  const page = await signInAs(coordinator.id);
  await page.waitForSelector('[data-figure="clicked"]');
  expect(new URL(page.url()).pathname).toBe('/dashboard');
  expect(await page.locator('#who').innerText()).toBe('Signed in as Olu Coordinator (coordinator)');
  // Cookies are kept per host, not port: the provider's own (_session) sit beside ours.
  const cookies = (await page.context().cookies(api.url)).filter((cookie) => cookie.name.startsWith('dashboard_'));
  // The session cookie holds a random id only; the sign-in's own cookie is gone.
  expect(cookies.map((cookie) => cookie.name)).toEqual(['dashboard_session']);
  expect(cookies[0].value).toMatch(/^[\w-]{43}$/);
  const me = await page.context().request.get(`${api.url}/api/v1/me`);
  expect(await me.json()).toEqual({ userId: coordinator.id, orgId, role: 'coordinator', displayName: 'Olu Coordinator', orgName: null });
  const rows = await harness.pool.query('SELECT user_id, org_id, role FROM dashboard_sessions WHERE user_id = $1', [coordinator.id]);
  expect(rows.rows).toEqual([{ user_id: coordinator.id, org_id: orgId, role: 'coordinator' }]);
  await page.context().close();
});

test('an account without a role is told so on a page, and gets no session', async () => {
  const page = await signInAs(roleless.id);
  await page.waitForSelector('h1:has-text("Sign-in did not work")');
  expect(await page.locator('main p').first().innerText()).toBe('Your account lacks what this service needs (role)');
  expect((await page.context().cookies(api.url)).map((cookie) => cookie.name)).not.toContain('dashboard_session');
  await page.context().close();
});

test('a callback that this browser did not start is refused with a page', async () => {
  const response = await fetch(`${api.url}/dashboard/callback?code=stolen&state=forged`);
  expect(response.status).toBe(401);
  expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(await response.text()).toContain('This sign-in was started too long ago, or in another browser: please start again');
});

test('a provider out of reach answers a page saying so, 503', async () => {
  const base = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const unreachable = await listenApp({ pool: harness.pool, temporal: harness.client, config: appConfig(`http://127.0.0.1:${await freeLoopbackPort()}`, base) });
  try {
    const response = await fetch(`${unreachable.url}/dashboard/sign-in`, { redirect: 'manual' });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain("Your organisation&#39;s sign-in cannot be reached just now.");
  } finally {
    await unreachable.close();
  }
});
