/// <reference lib="dom" />
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { Browser, Locator, Page } from 'playwright-core';
import type { Role } from '../src/domain/access';
import { DEMO_ADMIN, DEMO_ORG, DEMO_SIGN_IN_PATH } from '../src/domain/demo';
import { launchChromium } from './support/browser';
import { listenApp, registerMember, reportAccount, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';
import { startSmtpServer, type TestSmtpServer } from './support/smtp';

// The dashboard in a real browser against the real API, Postgres and Temporal.
const JWT_SECRET = 'dashboard-test-jwt-secret-0123456789abcdef';
const WEBHOOK_SECRET = 'dashboard-test-webhook-secret';
const SCREENSHOTS = path.resolve(__dirname, '../test-results');

let harness: Harness;
let api: ListeningApi;
let browser: Browser;
let smtp: TestSmtpServer;

const orgId = randomUUID();
const person = (role: Role, name: string) => ({ id: randomUUID(), role, name });
const admin = person('org_admin', 'Ada Admin');
const coordinator = person('coordinator', 'Cora Coordinator');
const maria = person('peer_mentor', 'Maria Mentor');
const sam = person('peer_mentor', 'Sam Sharer');

const token = (who: { id: string; role: Role; name: string }) =>
  new SignJWT({ role: who.role, org_id: orgId, name: who.name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function call(who: typeof admin | undefined, route: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const raw = init.body === undefined ? undefined : JSON.stringify(init.body);
  const response = await fetch(`${api.url}${route}`, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(who ? { authorization: `Bearer ${await token(who)}` } : {}), ...init.headers },
    body: raw,
  });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text, headers: response.headers };
}

/** A journey through the API as the app and the membership system drive it; `confirm` ends it confirmed. */
async function journey(code: string, confirm: boolean): Promise<string> {
  const click = await call(undefined, '/api/v1/referral-attributions', { method: 'POST', body: { code, visitorId: randomUUID(), metadata: { shareChannel: 'whatsapp' } } });
  expect(click.status).toBe(201);
  if (!confirm) return click.body.referralId;
  const newMemberId = randomUUID();
  expect((await reportAccount(api.url, click.body, newMemberId)).status).toBe(202);
  expect((await registerMember(api.url, WEBHOOK_SECRET, { code, newMemberId })).status).toBe(200);
  return click.body.referralId;
}

/** A POST with headers fetch will not send (Host), as a proxy passes them on. */
function rawPost(route: string, headers: Record<string, string>, body: unknown): Promise<number> {
  const raw = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const sent = request(`${api.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw), ...headers } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    sent.on('error', reject);
    sent.end(raw);
  });
}

const referralStatus = async (id: string) => (await harness.pool.query<{ status: string }>('SELECT status FROM referrals WHERE id = $1', [id])).rows[0]?.status;

async function openDashboard(who: typeof admin, width: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${api.url}/dashboard#token=${await token(who)}`);
  await page.waitForSelector('[data-figure="clicked"]');
  return page;
}

/** A page a person opens without signing in, at a phone's width and with a phone's browser. */
async function openPage(route: string, ready?: string): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
  });
  const page = await context.newPage();
  await page.goto(`${api.url}${route}`);
  if (ready) await page.waitForSelector(ready);
  return page;
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The accessibility rules axe-core finds broken on the page, its folded sections opened: each rule with where. */
async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(() => document.querySelectorAll('details').forEach((details) => (details.open = true)));
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const { axe } = window as unknown as { axe: typeof import('axe-core') };
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations.map((rule) => `${rule.id}: ${rule.nodes.map((node) => node.target.join(' ')).join(', ')}`);
  });
}

/** The cells of a table's body rows, as text (a table inside a closed details element included). */
const rowsOf = (page: Page, selector: string) =>
  page.locator(`${selector} tbody tr`).evaluateAll((rows) => rows.map((row) => Array.from(row.children).map((cell) => cell.textContent?.trim() ?? '')));

/** The first cell of the table row that has the keyboard's focus, if a row has it. */
const focusedRowHeader = (page: Page) => page.evaluate(() => (document.activeElement?.matches('tbody tr') ? document.activeElement.children[0].textContent?.trim() : undefined));

/** Clicks `button`, says yes to the question it asks, and answers that question once the page's status starts with `done`. */
async function acceptAndWait(page: Page, button: Locator, done: string): Promise<string> {
  let asked = '';
  page.once('dialog', (dialog) => {
    asked = dialog.message();
    void dialog.accept();
  });
  await button.click();
  await page.waitForFunction((prefix) => document.getElementById('status')?.textContent?.startsWith(prefix), done);
  return asked;
}

const figure = (page: Page, name: string) => page.locator(`[data-figure="${name}"]`).innerText();

let flagged: string[];

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  harness = await openHarness();
  smtp = await startSmtpServer();
  api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    // A code's third click within a minute is held for review: the "viral" code gives the review queue its rows.
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT: 'dashboard-test-hash-salt', BURST_CLICKS_PER_MINUTE: 3 },
    taskQueue: harness.taskQueue,
  });
  await harness.startWorker({ smtpUrl: smtp.url, publicBaseUrl: api.url });
  for (const who of [admin, coordinator, maria, sam]) expect((await call(who, '/api/v1/me')).status).toBe(200);
  // In cents: Maria's second recruit brings her milestone bonus, and that passes the approval line.
  const rules = {
    unit: 'EUR',
    perConfirmedRecruit: 500,
    milestoneBonuses: [{ milestone: 2, amount: 1000 }],
    campaigns: [],
    welcomeReward: { description: 'a free first month' },
    holdingPeriod: 'P14D',
    approvalAbove: 1000,
  };
  expect((await call(admin, `/api/v1/orgs/${orgId}/rewards`, { method: 'PUT', body: rules })).status).toBe(200);
  const codeOf = async (mentorId: string, campaign?: string) =>
    (await call(admin, '/api/v1/referral-codes', { method: 'POST', body: { mentorId, ...(campaign ? { campaign } : {}) } })).body.code as string;
  const mariaCode = await codeOf(maria.id, 'spring');
  const samCode = await codeOf(sam.id);
  await journey(mariaCode, true);
  await journey(mariaCode, true);
  await journey(samCode, true);
  const viral = await codeOf(sam.id, 'viral');
  const viralClicks: string[] = [];
  for (let click = 0; click < 5; click += 1) viralClicks.push(await journey(viral, false));
  await eventually(async () => ((await harness.pool.query("SELECT count(*)::int AS n FROM referrals WHERE org_id = $1 AND status = 'confirmed'", [orgId])).rows[0].n === 3 ? true : undefined));
  await eventually(async () => ((await Promise.all(viralClicks.map(referralStatus))).filter((status) => status !== undefined).length === 5 ? true : undefined));
  flagged = (await Promise.all(viralClicks.map(async (id) => ((await referralStatus(id)) === 'flagged' ? id : undefined)))).filter((id): id is string => id !== undefined);
  expect(flagged.length).toBe(2);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await harness?.close();
  await smtp?.close();
});

test("an org admin signs in with a portal's link and sees the API's figures, by mentor name, with nothing computed of its own", async () => {
  const page = await openDashboard(admin, 1280);
  expect(new URL(page.url()).hash).toBe('');
  const cookies = await page.context().cookies();
  expect(cookies.map(({ name, httpOnly, sameSite }) => ({ name, httpOnly, sameSite }))).toEqual([{ name: 'dashboard_session', httpOnly: true, sameSite: 'Lax' }]);

  const dashboard = (await call(admin, `/api/v1/orgs/${orgId}/recruitment-dashboard`)).body;
  expect(dashboard.funnel).toEqual({ clicked: 8, installed: 3, account_created: 3, first_login: 0, confirmed: 3 });
  expect(await figure(page, 'clicked')).toBe(String(dashboard.funnel.clicked));
  expect(await figure(page, 'confirmed')).toBe(String(dashboard.funnel.confirmed));
  expect(await figure(page, 'conversion')).toBe('37.5%');
  // The figures and the funnel follow the period's first clicks; the trend and the top mentors count its events.
  expect(await page.locator('#figures-scope').innerText()).toBe(
    "The figures above, the funnel and the campaigns follow the people who first clicked in the period, as far as each has come since; the trend, the time to convert, the top mentors' confirmations and the channels count what happened in the period.",
  );
  await expect(page.locator('#who').innerText()).resolves.toBe('Signed in as Ada Admin (org admin)');

  expect(await rowsOf(page, '#mentors-title + table')).toEqual([
    ['Maria Mentor', '2', '2', '100%'],
    ['Sam Sharer', '1', '6', '16.7%'],
  ]);
  expect(await rowsOf(page, 'section[aria-label="Funnel"] table')).toEqual([
    ['Clicked', '8', '100%'],
    ['Installed', '3', '37.5%'],
    ['Account created', '3', '37.5%'],
    ['First login', '0', '0%'],
    ['Confirmed', '3', '37.5%'],
  ]);
  // Every chart says its figures in words.
  const labels = await page.locator('canvas').evaluateAll((canvases) => canvases.map((canvas) => canvas.getAttribute('aria-label')));
  expect(labels[0]).toBe('Funnel: Clicked 8, Installed 3, Account created 3, First login 0, Confirmed 3');
  expect(labels).toHaveLength(3);
  expect((await rowsOf(page, '.pair table:last-of-type')).map((row) => row[0]).sort()).toEqual(['No campaign', 'spring', 'viral']);
  expect(await page.locator('img[alt^="QR code for"]').count()).toBe(3);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-admin-desktop.png'), fullPage: true });

  // The CSV is the same figures, downloaded with the session.
  const csvLink = await page.locator('a[download]', { hasText: 'CSV' }).getAttribute('href');
  const csv = await page.context().request.get(`${api.url}${csvLink}`);
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain('funnel,clicked,referrals,8\n');
  await page.context().close();
});

test('a coordinator approves a held referral with the keyboard; at a phone width nothing runs off the screen', async () => {
  const page = await openDashboard(coordinator, 390);
  const reviewRows = page.locator('#review-title + table tbody tr');
  expect(await reviewRows.count()).toBe(2);
  expect(await reviewRows.first().innerText()).toContain('A burst of clicks on one link');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBe(0);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-coordinator-phone.png'), fullPage: true });

  let tabs = 0;
  while ((await page.evaluate(() => document.activeElement?.textContent)) !== 'Approve' && tabs < 80) {
    await page.keyboard.press('Tab');
    tabs += 1;
  }
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Approve');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Approved'));
  expect(await page.locator('#status').innerText()).toBe('Approved: the referral by Sam Sharer. The figures update within a minute.');
  await eventually(async () => ((await Promise.all(flagged.map(referralStatus))).filter((status) => status === 'flagged').length === 1 ? true : undefined));
  await page.context().close();
});

test('an org admin sees the rewards programme and approves a high-value reward from the page', async () => {
  const page = await openDashboard(admin, 1280);
  expect(await page.locator('#programme-title ~ ul.rules li').allInnerTexts()).toEqual([
    '€5.00 per confirmed recruit, held for 14 days before it is confirmed.',
    'A bonus of €10.00 at 2 confirmed recruits.',
    'New members are offered: a free first month.',
    "A mentor's rewards above €10.00 in 30 days wait for a coordinator's approval.",
  ]);
  expect(await figure(page, 'reward-pending')).toBe('€25.00');
  const [awaiting] = await rowsOf(page, '#reward-approvals');
  expect(awaiting.slice(0, 4)).toEqual([expect.stringMatching(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}/), 'Maria Mentor', 'Milestone bonus: 2 recruits', '€10.00']);
  expect(await rowsOf(page, '#reward-mentors')).toEqual([
    ['Maria Mentor', '€20.00', '€0.00', '€0.00'],
    ['Sam Sharer', '€5.00', '€0.00', '€0.00'],
  ]);
  // A double click approves once: the second finds the row's buttons waiting for the first's answer.
  const reviews: string[] = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith('/review')) reviews.push(request.url());
  });
  await page.locator('#reward-approvals').getByRole('button', { name: 'Approve' }).dblclick();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Approved'));
  expect(reviews).toHaveLength(1);
  expect(await page.locator('#status').innerText()).toBe('Approved: €10.00 for Maria Mentor.');
  expect((await call(admin, `/api/v1/orgs/${orgId}/rewards/summary`)).body.awaitingApproval).toEqual([]);

  // The admin changes the rules in the page: amounts in euros, the hold in days, a bonus and a campaign per line.
  await page.click('text=Change the rules');
  expect(await page.inputValue('input[name="perConfirmedRecruit"]')).toBe('5');
  expect(await page.inputValue('textarea[name="milestoneBonuses"]')).toBe('2: 10');
  await page.fill('input[name="unit"]', 'EURO');
  await page.getByRole('button', { name: 'Save the rules' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Could not save'));
  expect(await page.locator('#status').innerText()).toBe('Could not save the rules: The request is not valid: unit must be "points" or an ISO 4217 currency code such as "EUR"');
  await page.fill('input[name="unit"]', 'EUR');
  await page.fill('input[name="perConfirmedRecruit"]', '6.5');
  await page.fill('input[name="holdingDays"]', '7');
  await page.fill('textarea[name="milestoneBonuses"]', '2: 10\n5: 25');
  await page.fill('textarea[name="campaigns"]', 'spring, 2026-12-01, 2026-12-31, 1.5');
  await page.locator('.rules-editor').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-rules-editor.png') });
  await page.getByRole('button', { name: 'Save the rules' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Saved'));
  expect(await page.locator('#status').innerText()).toBe('Saved: the rules (version 2) apply to confirmations from now on.');
  expect((await call(admin, `/api/v1/orgs/${orgId}/rewards`)).body).toMatchObject({
    version: 2,
    rules: {
      unit: 'EUR',
      perConfirmedRecruit: 650,
      holdingPeriod: 604_800,
      milestoneBonuses: [{ milestone: 2, amount: 1000 }, { milestone: 5, amount: 2500 }],
      campaigns: [{ campaign: 'spring', from: '2026-12-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z', multiplier: 1.5 }],
      welcomeReward: { description: 'a free first month' },
      approvalAbove: 1000,
    },
  });
  expect(await page.locator('#programme-title ~ ul.rules li').allInnerTexts()).toEqual([
    '€6.50 per confirmed recruit, held for 7 days before it is confirmed.',
    'A bonus of €10.00 at 2 confirmed recruits.',
    'A bonus of €25.00 at 5 confirmed recruits.',
    'Campaign spring: ×1.5 from Dec 1, 2026 to Dec 31, 2026 (UTC).',
    'New members are offered: a free first month.',
    "A mentor's rewards above €10.00 in 30 days wait for a coordinator's approval.",
  ]);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-rewards-desktop.png'), fullPage: true });
  await page.context().close();
});

test("an org admin reads the organisation's settings in words and changes them in the page; a coordinator only reads them", async () => {
  const page = await openDashboard(admin, 1280);
  const inWords = () => page.locator('#settings-in-words li').allInnerTexts();
  expect(await inWords()).toEqual([
    "A referral counts for 30 days after the person's last click on the link, for their account to be created.",
    'An account whose membership is not confirmed within 14 days is shown as stuck.',
    'Clicks by one person on one link within 1 day count as one.',
    'Mentors earn badges at 1, 5, 10, 25, 50 confirmed recruits.',
  ]);
  await page.click('text=Change the settings');
  expect(await page.inputValue('input[name="attributionDays"]')).toBe('30');
  await page.fill('input[name="badgeMilestones"]', '5, 1');
  await page.getByRole('button', { name: 'Save the settings' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Could not save'));
  expect(await page.locator('#status').innerText()).toBe('Could not save the settings: The request is not valid: badgeMilestones must be strictly ascending');
  await page.fill('input[name="attributionDays"]', '45');
  await page.fill('input[name="confirmationDays"]', '7');
  await page.fill('input[name="dedupeHours"]', '12');
  await page.fill('input[name="badgeMilestones"]', '1, 3 10');
  await page.getByRole('button', { name: 'Save the settings' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Saved'));
  expect(await page.locator('#status').innerText()).toBe('Saved: the settings apply to referrals that start from now on.');
  const saved = { attributionWindowSeconds: 3_888_000, confirmationWindowSeconds: 604_800, dedupeWindowSeconds: 43_200, badgeMilestones: [1, 3, 10] };
  expect((await call(admin, `/api/v1/orgs/${orgId}/settings`)).body).toMatchObject(saved);
  expect(await inWords()).toEqual([
    "A referral counts for 45 days after the person's last click on the link, for their account to be created.",
    'An account whose membership is not confirmed within 7 days is shown as stuck.',
    'Clicks by one person on one link within 12 hours count as one.',
    'Mentors earn badges at 1, 3, 10 confirmed recruits.',
  ]);
  await page.click('text=Change the settings');
  await page.locator('section[aria-labelledby="settings-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-settings.png') });
  await page.context().close();

  const coordinatorPage = await openDashboard(coordinator, 1280);
  expect(await coordinatorPage.locator('#settings-in-words li').last().innerText()).toBe('Mentors earn badges at 1, 3, 10 confirmed recruits.');
  expect(await coordinatorPage.locator('text=Change the settings').count()).toBe(0);
  await coordinatorPage.context().close();
  // The later tests' journeys start under the usual settings.
  const usual = { attributionWindow: 'P30D', confirmationWindow: 'P14D', dedupeWindow: 'PT24H', badgeMilestones: [1, 5, 10, 25, 50] };
  expect((await call(admin, `/api/v1/orgs/${orgId}/settings`, { method: 'PUT', body: usual })).status).toBe(200);
});

test('a mentor sees their own links, makes one, and sees their funnel and badges; they cannot read the org dashboard', async () => {
  await harness.pool.query(
    `INSERT INTO badge_awards (id, mentor_id, org_id, badge_key, milestone, confirmed_count, awarded_at) VALUES ($1, $2, $3, 'recruiter-2', 2, 2, now())`,
    [randomUUID(), maria.id, orgId],
  );
  const page = await openDashboard(maria, 390);
  expect(await figure(page, 'confirmed')).toBe('2');
  expect(await figure(page, 'clicked')).toBe('2');
  // The first milestone was awarded by the journey itself; the second was put there by this test.
  expect(await page.locator('.badges li').allInnerTexts()).toEqual([expect.stringMatching(/^2 recruits · /), expect.stringMatching(/^1 recruit · /)]);
  // Statuses in words, not the API's values.
  expect((await rowsOf(page, '#recruits')).map((row) => row[2])).toEqual(['Confirmed', 'Confirmed']);
  expect([await figure(page, 'reward-pending'), await figure(page, 'reward-confirmed'), await figure(page, 'reward-reversed')]).toEqual(['€20.00', '€0.00', '€0.00']);
  // The rules as the admin's test above left them, in words.
  expect(await page.locator('#rewards-title ~ ul.rules li').first().innerText()).toBe('€6.50 per confirmed recruit, held for 7 days before it is confirmed.');
  expect((await rowsOf(page, '#reward-entries')).map((row) => row.slice(1))).toEqual([
    // Approved by the admin's test above: held like the others now.
    ['Milestone bonus: 2 recruits', '€10.00', expect.stringMatching(/^held until /)],
    ['Confirmed recruit', '€5.00', expect.stringMatching(/^held until /)],
    ['Confirmed recruit', '€5.00', expect.stringMatching(/^held until /)],
  ]);
  const statement = await page.context().request.get(`${api.url}${await page.locator('#rewards-title ~ p a').getAttribute('href')}`);
  expect(statement.status()).toBe(200);
  expect((await statement.text()).trim().split('\n')).toHaveLength(4);
  const links = page.locator('#links-title ~ table tbody tr');
  expect(await links.count()).toBe(1);
  await page.fill('input[name="campaign"]', 'autumn');
  // A double tap makes one link: the button waits for the answer.
  await page.dblclick('text=Create an invite link');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Created'));
  await page.waitForLoadState('networkidle');
  expect(await links.count()).toBe(2);
  // Sharing on WhatsApp writes the invitation with the link on its channel.
  const whatsapp = new URL((await page.locator('#links-title ~ table a', { hasText: 'WhatsApp' }).first().getAttribute('href'))!);
  expect(whatsapp.origin).toBe('https://wa.me');
  expect(whatsapp.searchParams.get('text')).toMatch(/^Join us: here is my invitation http:\/\/localhost:3000\/r\/\w+\?ch=whatsapp$/);
  expect((await call(maria, '/api/v1/referral-codes')).body.items.map((code: { campaign: string | null }) => code.campaign).sort()).toEqual(['autumn', 'spring']);
  // A link that has ended is listed with nothing to copy, scan or share: one revoked here, one past its expiry.
  page.once('dialog', (dialog) => dialog.accept());
  await links.filter({ hasText: 'autumn' }).getByRole('button', { name: 'Revoke' }).click();
  await eventually(async () => ((await links.filter({ hasText: 'autumn' }).innerText()).includes('revoked') ? true : undefined));
  const winter = (await call(maria, '/api/v1/referral-codes', { method: 'POST', body: { campaign: 'winter', expiresAt: new Date(Date.now() + 3_600_000).toISOString() } })).body;
  await harness.pool.query("UPDATE referral_codes SET expires_at = now() - interval '1 hour' WHERE id = $1", [winter.id]);
  await page.reload();
  await page.waitForSelector('[data-figure="clicked"]');
  const ended = async (campaign: string) => (await rowsOf(page, '#links-title ~ table')).filter((row) => row[1] === campaign);
  expect(await ended('autumn')).toEqual([[expect.any(String), 'autumn', '–', expect.stringMatching(/^revoked /), '–', '']]);
  expect(await ended('winter')).toEqual([[winter.code, 'winter', '–', expect.stringMatching(/^expired /), '–', '']]);
  expect(await links.filter({ hasText: 'spring' }).getByRole('button', { name: 'Copy link' }).count()).toBe(1);
  // An invitation by email from the page, and the choice of emails about recruits.
  await page.fill('input[name="email"]', 'friend@example.org');
  await page.fill('input[name="name"]', 'Frida');
  await page.dblclick('text=Send the invitation');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Invitation sent'));
  await page.waitForLoadState('networkidle');
  expect(await page.locator('#status').innerText()).toBe('Invitation sent to friend@example.org.');
  expect((await call(maria, '/api/v1/invitations')).body.items.map((invitation: { email: string }) => invitation.email)).toEqual(['friend@example.org']);
  expect((await rowsOf(page, '#invitations-title ~ div table'))[0].slice(0, 2)).toEqual(['friend@example.org', expect.stringMatching(/^(sending|sent)$/)]);
  await page.selectOption('select[name="delivery"]', 'weekly_digest');
  await page.click('#emails-title ~ form button');
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Saved'));
  expect((await call(maria, `/api/v1/mentors/${maria.id}/notification-preferences`)).body).toEqual({ mentorId: maria.id, delivery: 'weekly_digest' });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'dashboard-mentor-phone.png'), fullPage: true });
  const orgRead = await page.context().request.get(`${api.url}/api/v1/orgs/${orgId}/recruitment-dashboard`);
  expect(orgRead.status()).toBe(403);
  await page.context().close();
});

test('a session changes nothing from another site, and signing out ends it', async () => {
  const page = await openDashboard(admin, 1280);
  const [session] = await page.context().cookies();
  const cookie = `dashboard_session=${session.value}`;
  const fromElsewhere = await call(undefined, `/api/v1/referral-attributions/${flagged[0]}/review`, {
    method: 'POST',
    body: { decision: 'reject' },
    headers: { cookie, origin: 'https://elsewhere.example' },
  });
  expect(fromElsewhere.status).toBe(403);
  expect((await call(undefined, '/api/v1/me', { headers: { cookie } })).status).toBe(200);
  // Behind a proxy that passes on another Host, the service's own address (PUBLIC_BASE_URL) is its origin.
  const viaProxy = (origin: string) => rawPost('/api/v1/referral-codes', { cookie, origin, host: 'api.internal:8080' }, { mentorId: maria.id });
  expect(await viaProxy('http://localhost:3000')).toBe(201);
  expect(await viaProxy('http://api.internal.example')).toBe(403);
  await page.click('text=Sign out');
  await page.waitForSelector('#sign-in:not([hidden])');
  expect(await page.locator('#status').innerText()).toBe('You are not signed in.');
  expect((await call(undefined, '/api/v1/me', { headers: { cookie } })).status).toBe(401);
  expect(await referralStatus(flagged[0])).not.toBe('rejected');
  await page.context().close();
});

test('a stale sign-in link says so on the page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${api.url}/dashboard#token=not-a-token`);
  await page.waitForSelector('#sign-in:not([hidden])');
  expect(await page.locator('#status').innerText()).toBe('That sign-in link is not valid any more: open the dashboard from your portal again.');
  expect(new URL(page.url()).hash).toBe('');
  await context.close();
});

test("the service's own address opens the dashboard", async () => {
  const root = await fetch(`${api.url}/`, { redirect: 'manual', headers: { accept: 'text/html' } });
  expect({ status: root.status, location: root.headers.get('location') }).toEqual({ status: 302, location: '/dashboard' });
});

test("development's demo sign-in opens the demo admin's dashboard; production has no such path", async () => {
  const signIn = await fetch(`${api.url}${DEMO_SIGN_IN_PATH}`, { redirect: 'manual' });
  expect(signIn.status).toBe(303);
  expect(signIn.headers.get('location')).toBe('/dashboard');
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0];
  // The organisation's name is the demo's to set (test/demo.test.ts may have filled it).
  expect((await call(undefined, '/api/v1/me', { headers: { cookie } })).body).toMatchObject({
    userId: DEMO_ADMIN.caller.userId,
    orgId: DEMO_ORG.id,
    role: 'org_admin',
    displayName: 'Demo Admin',
  });
  // Opened directly, the page offers it in development only.
  const demoLink = `<a href="${DEMO_SIGN_IN_PATH}">sign in as the demo organisation's admin</a>`;
  expect((await (await fetch(`${api.url}/dashboard`)).text()).includes(demoLink)).toBe(true);
  const production = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: { NODE_ENV: 'production', JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT: 'dashboard-test-hash-salt', PUBLIC_BASE_URL: 'https://referrals.example' },
  });
  try {
    expect((await fetch(`${production.url}${DEMO_SIGN_IN_PATH}`, { redirect: 'manual' })).status).toBe(404);
    expect((await (await fetch(`${production.url}/dashboard`)).text()).includes(demoLink)).toBe(false);
  } finally {
    await production.close();
  }
});

test("an org admin chooses a coordinator's mentors in the page; the coordinator sees theirs with the API's figures", async () => {
  const page = await openDashboard(coordinator, 1280);
  expect(await page.locator('#your-mentors-title + table tbody').innerText()).toBe('No mentors are assigned to you yet: an org admin assigns them.');
  expect(await page.locator('#coordinators-title').count()).toBe(0);
  await page.context().close();
  expect((await call(coordinator, `/api/v1/orgs/${orgId}/coordinators`)).status).toBe(403);
  expect((await call(admin, `/api/v1/orgs/${orgId}/coordinators`)).body).toEqual({ items: [{ id: coordinator.id, displayName: 'Cora Coordinator', mentorIds: [] }] });

  const adminPage = await openDashboard(admin, 1280);
  expect(await adminPage.locator('#your-mentors-title').count()).toBe(0);
  await adminPage.locator('summary', { hasText: 'Cora Coordinator: 0 mentors' }).click();
  const cora = adminPage.locator('form[aria-label="Mentors Cora Coordinator follows"]');
  await cora.getByLabel('Sam Sharer').check();
  await cora.getByRole('button', { name: 'Save' }).click();
  await adminPage.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Saved'));
  expect(await adminPage.locator('#status').innerText()).toBe('Saved: Cora Coordinator follows 1 mentor.');
  expect(await adminPage.locator('#coordinators-title ~ details summary').allInnerTexts()).toEqual(['Cora Coordinator: 1 mentor']);
  await adminPage.locator('#coordinators-title ~ details summary').click();
  expect(await adminPage.locator('form[aria-label="Mentors Cora Coordinator follows"] input:checked').evaluateAll((boxes) => boxes.map((box) => box.parentElement?.textContent))).toEqual(['Sam Sharer']);
  await adminPage.locator('section[aria-labelledby="coordinators-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-coordinators.png') });
  await adminPage.context().close();
  expect((await call(admin, `/api/v1/orgs/${orgId}/coordinators`)).body).toEqual({ items: [{ id: coordinator.id, displayName: 'Cora Coordinator', mentorIds: [sam.id] }] });

  const [samFigures] = (await call(coordinator, `/api/v1/coordinators/${coordinator.id}/aggregate`)).body.mentors;
  expect(samFigures).toMatchObject({ displayName: 'Sam Sharer', totalClicks: 6, pendingAttributions: 0, confirmedAttributions: 1 });
  const assigned = await openDashboard(coordinator, 1280);
  expect(await rowsOf(assigned, '#your-mentors-title + table')).toEqual([['Sam Sharer', '6', '0', '1', '16.7%']]);
  await assigned.context().close();
});

test("an org admin sends a list of invitations for a mentor from the page; a coordinator sees them by mentor name", async () => {
  // Whom an upload may name: the organisation's peer mentors, by name, for its admins and coordinators.
  expect((await call(coordinator, `/api/v1/orgs/${orgId}/mentors`)).body).toEqual({ items: [{ id: maria.id, displayName: 'Maria Mentor' }, { id: sam.id, displayName: 'Sam Sharer' }] });
  expect((await call(maria, `/api/v1/orgs/${orgId}/mentors`)).status).toBe(403);
  expect((await call(admin, `/api/v1/orgs/${randomUUID()}/mentors`)).status).toBe(404);
  const page = await openDashboard(admin, 1280);
  await page.locator('summary', { hasText: 'Invite a list of people for a mentor' }).click();
  const upload = page.locator('form[aria-label="Invite a list by email"]');
  await upload.locator('select[name="mentorId"]').selectOption({ label: 'Sam Sharer' });
  await upload.locator('input[name="campaign"]').fill('open-day');
  // As a spreadsheet saves it: semicolons, a column the upload does not take, a row with a bad address; one more
  // than a page of the list.
  const guests = Array.from({ length: 49 }, (_, index) => `guest${index}@example.net;Guest ${index};\r\n`).join('');
  const people = `Email;Name;Phone\r\nlin@example.net;Lin;555 0101\r\nnot-an-address;Bo;\r\n${guests}kim@example.net;;\r\n`;
  await upload.locator('input[name="people"]').setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(people) });
  await upload.getByRole('button', { name: 'Send the invitations' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Invited'));
  expect(await page.locator('#status').innerText()).toBe('Invited 51 of 52 people; 1 not, listed below. The list shows each email as it goes.');
  expect(await page.locator('#upload-outcome p').allInnerTexts()).toEqual(['Invited 51 of 52 people; 1 not, listed below. The list shows each email as it goes.', 'Columns left out: Phone.']);
  expect(await rowsOf(page, '#upload-outcome')).toEqual([['3', 'email: Invalid email address']]);

  // Each person gets one email, with a link of Sam's for the campaign.
  const samCodes = (await call(admin, '/api/v1/referral-codes')).body.items.filter((code: { mentorId: string; campaign: string | null }) => code.mentorId === sam.id && code.campaign === 'open-day');
  expect(samCodes).toHaveLength(1);
  for (const address of ['lin@example.net', 'kim@example.net']) {
    const [mail] = await eventually(async () => (smtp.to(address).length > 0 ? smtp.to(address) : undefined), 30_000, `the email to ${address}`);
    expect(smtp.to(address)).toHaveLength(1);
    expect(mail.text).toContain(`${api.url}/r/${samCodes[0].code}?ch=email&inv=`);
  }
  await eventually(async () => {
    const sent = (await call(admin, `/api/v1/invitations?mentorId=${sam.id}&status=sent`)).body.items;
    return sent.length === 51 ? sent : undefined;
  }, 60_000, 'every invitation sent');
  expect(smtp.received.filter((mail) => mail.text?.includes(`/r/${samCodes[0].code}?ch=email&inv=`))).toHaveLength(51);
  await page.context().close();

  const coordinatorPage = await openDashboard(coordinator, 1280);
  expect(await coordinatorPage.locator('form[aria-label="Invite a list by email"]').count()).toBe(0);
  const which = coordinatorPage.locator('form[aria-label="Which invitations"]');
  await which.locator('select[name="status"]').selectOption('sent');
  await which.locator('select[name="mentorId"]').selectOption({ label: 'Sam Sharer' });
  await which.getByRole('button', { name: 'Show' }).click();
  const listed = () => rowsOf(coordinatorPage, '#org-invitations-title ~ div table');
  await eventually(async () => ((await listed()).length === 50 ? true : undefined), 10_000, 'the first page');
  expect((await listed())[0].slice(0, 3)).toEqual(['kim@example.net', 'Sam Sharer', 'sent']);
  await coordinatorPage.getByRole('button', { name: 'Show more' }).click();
  await eventually(async () => ((await listed()).length === 51 ? true : undefined), 10_000, 'the second page');
  expect((await listed())[50].slice(0, 3)).toEqual(['lin@example.net', 'Sam Sharer', 'sent']);
  // The keyboard goes on from the first invitation the page added.
  expect(await focusedRowHeader(coordinatorPage)).toBe('lin@example.net');
  expect(new Set((await listed()).map((row) => row[0])).size).toBe(51);
  expect(await coordinatorPage.getByRole('button', { name: 'Show more' }).count()).toBe(0);
  // Every invite link says whose it is.
  expect((await rowsOf(coordinatorPage, '#codes-title ~ table')).find((row) => row[0] === samCodes[0].code)?.slice(0, 4)).toEqual([samCodes[0].code, 'Sam Sharer', 'open-day', 'email']);
  expect(await coordinatorPage.locator('#org-invitations-title ~ div button', { hasText: 'Cancel' }).count()).toBe(0);
  await coordinatorPage.context().close();

  // An org admin may cancel one, as its mentor may.
  const adminPage = await openDashboard(admin, 1280);
  const kimId = (await call(admin, `/api/v1/invitations?mentorId=${sam.id}`)).body.items.find((invitation: { email: string | null }) => invitation.email === 'kim@example.net').id;
  const kim = adminPage.locator('#org-invitations-title ~ div tbody tr', { hasText: 'kim@example.net' });
  await kim.getByRole('button', { name: 'Cancel' }).click();
  await adminPage.waitForFunction(() => document.getElementById('status')?.textContent === 'Invitation cancelled.');
  expect((await rowsOf(adminPage, '#org-invitations-title ~ div table'))[0].slice(0, 3)).toEqual(['closed invitation', 'Sam Sharer', 'cancelled']);
  expect((await call(admin, `/api/v1/invitations?mentorId=${sam.id}&status=cancelled`)).body.items.map((invitation: { id: string }) => invitation.id)).toEqual([kimId]);
  await adminPage.locator('section[aria-labelledby="org-invitations-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-org-invitations.png') });
  await adminPage.context().close();
});

test("an org admin makes an invite link for a mentor and revokes a mentor's link from the page; a coordinator may do neither", async () => {
  const page = await openDashboard(admin, 1280);
  const create = page.locator('#codes-title ~ form[aria-label="New invite link"]');
  await create.locator('select[name="mentorId"]').selectOption({ label: 'Maria Mentor' });
  await create.locator('input[name="campaign"]').fill('street-fair');
  await create.getByRole('button', { name: 'Create an invite link' }).click();
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('Created'));
  const made = (await call(maria, '/api/v1/referral-codes')).body.items.find((code: { campaign: string | null }) => code.campaign === 'street-fair');
  expect(await page.locator('#status').innerText()).toBe(`Created ${made.url}`);
  const row = page.locator('#codes-title ~ table tbody tr', { hasText: 'street-fair' });
  expect((await row.locator('th, td').allInnerTexts()).slice(0, 5)).toEqual([made.code, 'Maria Mentor', 'street-fair', '–', 'active']);

  const asked = await acceptAndWait(page, row.getByRole('button', { name: 'Revoke' }), 'Revoked');
  expect(asked).toBe(`Revoke ${made.code} (Maria Mentor's)? People who open it will be told it no longer works.`);
  expect((await page.locator('#codes-title ~ table tbody tr', { hasText: 'street-fair' }).locator('th, td').allInnerTexts())[4]).toMatch(/^revoked /);
  expect((await call(maria, '/api/v1/referral-codes')).body.items.find((code: { id: string }) => code.id === made.id).revokedAt).toEqual(expect.any(String));
  await page.context().close();

  const coordinatorPage = await openDashboard(coordinator, 1280);
  expect(await coordinatorPage.locator('#codes-title ~ form').count()).toBe(0);
  expect(await coordinatorPage.locator('#codes-title ~ table button', { hasText: 'Revoke' }).count()).toBe(0);
  await coordinatorPage.context().close();
});

test("an org admin erases a member's referrals from the page, found by the member's id", async () => {
  const newMemberId = randomUUID();
  const { code } = (await call(maria, '/api/v1/referral-codes', { method: 'POST', body: { campaign: 'open-evening' } })).body;
  const click = await call(undefined, '/api/v1/referral-attributions', { method: 'POST', body: { code, visitorId: randomUUID() } });
  expect((await reportAccount(api.url, click.body, newMemberId)).status).toBe(202);
  expect((await registerMember(api.url, WEBHOOK_SECRET, { code, newMemberId })).status).toBe(200);

  const page = await openDashboard(admin, 1280);
  const find = page.locator(`form[aria-label="Find a member's referrals"]`);
  // As a CRM shows it, in capitals.
  await find.locator('input[name="newMemberId"]').fill(newMemberId.toUpperCase());
  await find.getByRole('button', { name: 'Find' }).click();
  await page.waitForSelector('#erasure-found table');
  // Held for review, as a fourth account from this test's one address is.
  const before = (await call(admin, `/api/v1/referral-attributions/${click.body.referralId}`)).body;
  expect(before).toMatchObject({ status: 'flagged', newMemberId });
  expect(await rowsOf(page, '#erasure-found')).toEqual([['Maria Mentor', 'Held for review', 'Account created', expect.any(String)]]);
  await page.locator('section[aria-labelledby="erasure-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-erasure.png') });
  const asked = await acceptAndWait(page, page.getByRole('button', { name: 'Erase it' }), 'Erased');
  expect(asked).toBe('Erase the personal data of 1 referral? The counts stay as they are. This cannot be undone.');
  expect(await page.locator('#status').innerText()).toBe('Erased: 1 referral of that member. The counts stay as they were.');
  const erased = (await call(admin, `/api/v1/referral-attributions/${click.body.referralId}`)).body;
  expect({ status: erased.status, newMemberId: erased.newMemberId, last: erased.timeline.at(-1).type }).toEqual({ status: 'flagged', newMemberId: null, last: 'erased' });
  await find.getByRole('button', { name: 'Find' }).click();
  await page.waitForSelector('#erasure-found table');
  expect(await page.locator('#erasure-found tbody').innerText()).toBe('No referral of this organisation names that member.');
  await page.context().close();

  const coordinatorPage = await openDashboard(coordinator, 1280);
  expect(await coordinatorPage.locator('#erasure-title').count()).toBe(0);
  await coordinatorPage.context().close();
});

test('an org admin adds mentors and their links from a CSV in the page; a second upload makes none again', async () => {
  const nia = randomUUID();
  const roster = `Mentor ID;Display name;Campaign;Phone\r\n${nia};Nia Newcomer;roster;555\r\n${maria.id};;roster;\r\nnot-an-id;Nobody;roster;\r\n`;
  const page = await openDashboard(admin, 1280);
  const upload = async () => {
    await page.locator('summary', { hasText: 'Add mentors and their links from a CSV' }).click();
    await page.locator('input[name="mentors"]').setInputFiles({ name: 'roster.csv', mimeType: 'text/csv', buffer: Buffer.from(roster) });
    const before = await page.locator('#status').innerText();
    await page.getByRole('button', { name: 'Add the links' }).click();
    await page.waitForFunction((previous) => {
      const now = document.getElementById('status')?.textContent ?? '';
      return now !== previous && /^\d+ links? made/.test(now);
    }, before);
    return page.locator('#status').innerText();
  };
  expect(await upload()).toBe('2 links made, 0 already there; 1 row not taken, listed below.');
  expect(await page.locator('#codes-upload-outcome p').allInnerTexts()).toEqual(['2 links made, 0 already there; 1 row not taken, listed below.', 'Columns left out: Phone.']);
  expect(await rowsOf(page, '#codes-upload-outcome')).toEqual([['4', expect.stringMatching(/^mentorId: /)]]);
  const rosterRows = (await rowsOf(page, '#codes-title ~ table')).filter((row) => row[2] === 'roster').map((row) => row[1]).sort();
  expect(rosterRows).toEqual(['Maria Mentor', 'Nia Newcomer']);
  expect((await call(admin, `/api/v1/orgs/${orgId}/mentors`)).body.items.map((mentor: { displayName: string }) => mentor.displayName)).toEqual(['Maria Mentor', 'Nia Newcomer', 'Sam Sharer']);
  expect(await upload()).toBe('0 links made, 2 already there; 1 row not taken, listed below.');
  await page.context().close();
});

test('a mentor with many recruits sees them twenty at a time, and their reward entries too', async () => {
  const busy = person('peer_mentor', 'Bea Busy');
  await harness.pool.query("INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', $3)", [busy.id, orgId, busy.name]);
  const codeId = randomUUID();
  await harness.pool.query("INSERT INTO referral_codes (id, code, mentor_id, org_id, campaign) VALUES ($1, $2, $3, $4, 'busy-week')", [codeId, `busy${randomUUID().slice(0, 8)}`, busy.id, orgId]);
  // The campaign covers the recruits of the last 11.5 hours.
  const busyWeek = { campaign: 'busy-week', from: new Date(Date.now() - 11.5 * 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString(), multiplier: 1.5 };
  const rules = { unit: 'EUR', perConfirmedRecruit: 500, milestoneBonuses: [{ milestone: 2, amount: 1000 }], campaigns: [busyWeek], holdingPeriod: 'P14D' };
  expect((await call(admin, `/api/v1/orgs/${orgId}/rewards`, { method: 'PUT', body: rules })).status).toBe(200);
  // 23 recruits confirmed an hour apart, the latest an hour ago.
  await harness.pool.query(
    `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, stage, status, clicked_at, last_click_at, account_created_at, confirmed_at, new_member_id)
     SELECT gen_random_uuid(), $1, $2, $3, 'busy-' || n, md5(n::text), 'account_created', 'confirmed', at - interval '1 day', at - interval '1 day', at - interval '1 hour', at, gen_random_uuid()
     FROM generate_series(1, 23) AS n, LATERAL (SELECT date_trunc('second', now()) - make_interval(hours => n) AS at) times`,
    [orgId, codeId, busy.id],
  );
  const page = await openDashboard(busy, 390);
  const recruits = page.locator('#recruits tbody tr');
  const moreRecruits = page.locator('section[aria-labelledby="recruits-title"] button', { hasText: 'Show more' });
  expect(await recruits.count()).toBe(20);
  expect(await moreRecruits.innerText()).toBe('Show more (3 not shown)');
  await page.locator('section[aria-labelledby="recruits-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-recruits-paged.png') });
  // From the keyboard: the focus goes on to the first recruit the button added.
  await moreRecruits.focus();
  await page.keyboard.press('Enter');
  expect(await recruits.count()).toBe(23);
  expect(await moreRecruits.count()).toBe(0);
  // The newest first, down to the oldest.
  const joined = (await rowsOf(page, '#recruits')).map((row) => row[0]);
  expect(await focusedRowHeader(page)).toBe(joined[20]);
  await page.locator('section[aria-labelledby="recruits-title"]').screenshot({ path: path.join(SCREENSHOTS, 'dashboard-recruits-more.png') });
  expect(new Set(joined).size).toBe(23);
  expect(joined).toEqual([...joined].sort((a, b) => Date.parse(b.replace(',', '')) - Date.parse(a.replace(',', ''))));
  const entries = (await call(busy, `/api/v1/mentors/${busy.id}/rewards`)).body.entries.length;
  // One entry a recruit, and the bonus at 2 of the rules in force.
  expect(entries).toBe(24);
  expect(await page.locator('#reward-entries tbody tr').count()).toBe(20);
  await page.locator('section[aria-labelledby="rewards-title"] button', { hasText: 'Show more (4 not shown)' }).click();
  expect(await page.locator('#reward-entries tbody tr').count()).toBe(24);
  // What each entry was for, with the campaign that multiplied its amount.
  const forAndAmount = (await rowsOf(page, '#reward-entries')).map((row) => `${row[1]}: ${row[2]}`);
  expect(forAndAmount.sort()).toEqual(
    [
      ...Array<string>(11).fill('Confirmed recruit (busy-week ×1.5): €7.50'),
      ...Array<string>(12).fill('Confirmed recruit: €5.00'),
      'Milestone bonus: 2 recruits: €10.00',
    ].sort(),
  );
  await page.context().close();
});

test("every page a person sees breaks none of axe-core's accessibility rules, its folded sections open", async () => {
  const live = (await call(maria, '/api/v1/referral-codes', { method: 'POST', body: { campaign: 'accessible' } })).body;
  const ended = (await call(maria, '/api/v1/referral-codes', { method: 'POST', body: { campaign: 'accessible-ended' } })).body;
  expect((await call(maria, `/api/v1/referral-codes/${ended.id}/revoke`, { method: 'POST' })).status).toBe(200);
  const pages: Array<[string, () => Promise<Page>]> = [
    ["the org admin's dashboard", () => openDashboard(admin, 1280)],
    ["the coordinator's dashboard on a phone", () => openDashboard(coordinator, 390)],
    ["the mentor's dashboard on a phone", () => openDashboard(maria, 390)],
    ['the sign-in page', () => openPage('/dashboard', '#sign-in:not([hidden])')],
    ['an invite link', () => openPage(`/r/${live.code}`, 'a.button')],
    ['an ended invite link', () => openPage(`/r/${ended.code}`)],
    ['an unknown invite link', () => openPage('/r/doesNotExist1')],
  ];
  const found: Record<string, string[]> = {};
  for (const [name, open] of pages) {
    const page = await open();
    found[name] = await accessibilityViolations(page);
    await page.context().close();
  }
  expect(found).toEqual(Object.fromEntries(pages.map(([name]) => [name, []])));
});
