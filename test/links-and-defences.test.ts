import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import type { Role } from '../src/domain/access';
import type { Config } from '../src/config';
import { createReferralService } from '../src/services/referral-service';
import { stateQuery } from '../src/workflows/messages';
import { listenApp, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';

const JWT_SECRET = 'links-test-jwt-secret-0123456789abcdef';
const PUBLIC_BASE_URL = 'https://join.example.org';
let harness: Harness;
const apis: ListeningApi[] = [];
let base: string;
const orgId = randomUUID();
const mentor = { id: randomUUID(), role: 'peer_mentor' as Role, name: 'Ada Lovelace' };
const otherMentor = { id: randomUUID(), role: 'peer_mentor' as Role, name: 'Grace Hopper' };
const admin = { id: randomUUID(), role: 'org_admin' as Role, name: 'Admin Person' };
const coordinator = { id: randomUUID(), role: 'coordinator' as Role, name: 'Coord Person' };
type Person = typeof mentor;

async function startApp(overrides: { burstClicksPerMinute?: number; config?: Partial<Config> } = {}): Promise<string> {
  const api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    taskQueue: harness.taskQueue,
    config: {
      BURST_CLICKS_PER_MINUTE: overrides.burstClicksPerMinute ?? 1000,
      JWT_SECRET,
      MEMBERSHIP_WEBHOOK_SECRET: 'links-webhook-secret-0',
      HASH_SALT: 'test-only-hash-salt',
      PUBLIC_BASE_URL,
      RATE_LIMIT_PER_IP_PER_MINUTE: 100_000,
      RATE_LIMIT_PER_CODE_PER_MINUTE: 100_000,
      ...overrides.config,
    },
  });
  apis.push(api);
  return api.url;
}

const token = (who: Person) =>
  new SignJWT({ role: who.role, org_id: orgId, name: who.name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function call(who: Person | undefined, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; at?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
  if (who) headers.authorization = `Bearer ${await token(who)}`;
  return fetch(`${init.at ?? base}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    redirect: 'manual',
  });
}

async function newCode(who: Person = mentor, body: Record<string, unknown> = {}) {
  const response = await call(who, '/api/v1/referral-codes', { method: 'POST', body });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; code: string; url: string; mentorId: string; expiresAt: string | null };
}

async function referralRow(referralId: string) {
  return (await harness.pool.query('SELECT * FROM referrals WHERE id = $1', [referralId])).rows[0];
}

const rowWhen = (referralId: string, ready: (row: Record<string, unknown>) => boolean) =>
  eventually(async () => {
    const row = await referralRow(referralId);
    return row && ready(row) ? row : undefined;
  });

async function clickFromApp(code: string, options: { visitorId?: string; ip?: string; who?: Person } = {}) {
  const response = await call(options.who, '/api/v1/referral-attributions', {
    method: 'POST',
    body: { code, visitorId: options.visitorId ?? randomUUID(), metadata: { shareChannel: 'whatsapp' } },
    headers: options.ip ? { 'x-forwarded-for': options.ip } : {},
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { referralId: string; referralToken: string };
}

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
  base = await startApp();
  for (const who of [mentor, otherMentor, admin, coordinator]) {
    expect((await call(who, '/api/v1/referral-codes')).status).toBe(200);
  }
  const named = await call(admin, `/api/v1/orgs/${orgId}/settings`, { method: 'PUT', body: { name: 'Hearing Association' } });
  expect(named.status).toBe(200);
});

afterAll(async () => {
  for (const api of apis) await api.close();
  await harness.close();
});

test('a mentor makes short, url-safe, unguessable codes with a ready-to-share URL', async () => {
  const first = await newCode(mentor, { campaign: 'spring', channel: 'whatsapp' });
  const second = await newCode(mentor);
  expect(first.code).toMatch(/^[A-Za-z0-9]{10}$/);
  expect(first.code).not.toBe(second.code);
  expect(first.url).toBe(`${PUBLIC_BASE_URL}/r/${first.code}?ch=whatsapp`);
  expect(second.url).toBe(`${PUBLIC_BASE_URL}/r/${second.code}`);
  expect((await call(mentor, '/api/v1/referral-codes', { method: 'POST', body: { mentorId: otherMentor.id } })).status).toBe(403);
  expect((await newCode(admin, { mentorId: otherMentor.id })).mentorId).toBe(otherMentor.id);
  const listed = (await (await call(mentor, '/api/v1/referral-codes')).json()) as { items: Array<{ mentorId: string }> };
  expect(new Set(listed.items.map((item) => item.mentorId))).toEqual(new Set([mentor.id]));
  expect((await call(mentor, '/api/v1/referral-codes', { method: 'POST', body: { expiresAt: '2001-01-01T00:00:00Z' } })).status).toBe(422);
  // A plain date: the link works through that day.
  expect((await newCode(mentor, { expiresAt: '2099-12-31' })).expiresAt).toBe('2100-01-01T00:00:00.000Z');
});

test('a channel is one channel however it is spelt, and a campaign is its name without the spaces around it', async () => {
  const made = await newCode(mentor, { campaign: '  Spring Fair ', channel: 'WhatsApp' });
  expect([made.url, (made as unknown as { campaign: string }).campaign]).toEqual([`${PUBLIC_BASE_URL}/r/${made.code}?ch=whatsapp`, 'Spring Fair']);
  const blank = await call(mentor, '/api/v1/referral-codes', { method: 'POST', body: { campaign: '   ' } });
  expect(blank.status).toBe(400);
  // The invite link's ch and the app's shareChannel, written as people write them, count under one channel.
  const linked = await call(undefined, `/r/${made.code}?ch=WhatsApp`, { headers: { 'x-forwarded-for': '203.0.113.31' } });
  expect(linked.status).toBe(200);
  const fromApp = await call(undefined, '/api/v1/referral-attributions', { method: 'POST', body: { code: made.code, visitorId: randomUUID(), metadata: { shareChannel: ' WhatsApp ' } } });
  expect(fromApp.status).toBe(201);
  const channels = await eventually(async () => {
    const rows = (await harness.pool.query('SELECT e.device_metadata->>\'shareChannel\' AS channel FROM click_events e JOIN referral_codes c ON c.id = e.referral_code_id WHERE c.code = $1', [made.code])).rows;
    return rows.length === 2 ? rows.map((row) => row.channel) : undefined;
  });
  expect(channels).toEqual(['whatsapp', 'whatsapp']);
});

test('the QR code decodes to the code\'s URL with ch=qr', async () => {
  const code = await newCode();
  const png = await call(mentor, `/api/v1/referral-codes/${code.id}/qr.png`);
  expect(png.headers.get('content-type')).toBe('image/png');
  const image = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
  const decoded = jsQR(new Uint8ClampedArray(image.data), image.width, image.height);
  expect(decoded?.data).toBe(`${PUBLIC_BASE_URL}/r/${code.code}?ch=qr`);
  const svg = await call(mentor, `/api/v1/referral-codes/${code.id}/qr.svg`);
  expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
  expect(await svg.text()).toMatch(/^<svg[^>]*viewBox/);
  expect((await call(otherMentor, `/api/v1/referral-codes/${code.id}/qr.svg`)).status).toBe(403);
});

test('the invite link welcomes by first name, sets a visitor cookie and records one referral per visitor', async () => {
  const code = await newCode();
  const first = await call(undefined, `/r/${code.code}?ch=sms`, { headers: { 'x-forwarded-for': '203.0.113.10' } });
  expect(first.status).toBe(200);
  const html = await first.text();
  expect(html).toContain('<h1>Ada invited you to Hearing Association</h1>');
  expect(html).not.toContain('Lovelace');
  const cookie = first.headers.get('set-cookie') ?? '';
  expect(cookie).toMatch(/^rv=[0-9a-f-]{36}; Max-Age=31536000; Path=\/r; Expires=.*; HttpOnly; SameSite=Lax$/);
  // The page carries a token: not cached, not framed, no script, nothing sniffed, no referrer leaving with it.
  expect({
    cache: first.headers.get('cache-control'),
    nosniff: first.headers.get('x-content-type-options'),
    referrer: first.headers.get('referrer-policy'),
    csp: first.headers.get('content-security-policy')?.split(';').filter((directive) => /^(script-src|frame-ancestors) /.test(directive)).sort(),
  }).toEqual({ cache: 'no-store', nosniff: 'nosniff', referrer: 'no-referrer', csp: ["frame-ancestors 'none'", "script-src 'none'"] });
  const deepLink = new URL(html.match(/href="(referralapp:\/\/join\?[^"]+)"/)![1].replace(/&amp;/g, '&'));
  const referralId = deepLink.searchParams.get('referralId')!;
  expect(deepLink.searchParams.get('referralToken')).toMatch(/^ey/);

  const again = await call(undefined, `/r/${code.code}?ch=sms`, { headers: { cookie: cookie.split(';')[0], 'x-forwarded-for': '203.0.113.10' } });
  expect(again.status).toBe(200);
  const clicks = await eventually(async () => {
    const rows = (await harness.pool.query('SELECT is_duplicate, device_metadata FROM click_events WHERE referral_id = $1 ORDER BY occurred_at', [referralId])).rows;
    return rows.length === 2 ? rows : undefined;
  });
  expect(clicks).toEqual([
    { is_duplicate: false, device_metadata: { shareChannel: 'sms', via: 'landing' } },
    { is_duplicate: true, device_metadata: { shareChannel: 'sms', via: 'landing' } },
  ]);
});

test("a messaging app's preview of the link, or a link checker's HEAD, records no click", async () => {
  const code = await newCode();
  const checked = await call(undefined, `/r/${code.code}`, { method: 'HEAD', headers: { 'user-agent': 'Mozilla/5.0', 'x-forwarded-for': '203.0.113.76' } });
  expect({ status: checked.status, cookie: checked.headers.get('set-cookie') }).toEqual({ status: 200, cookie: null });
  const preview = await call(undefined, `/r/${code.code}?ch=whatsapp`, { headers: { 'user-agent': 'WhatsApp/2.23.20.0 A', 'x-forwarded-for': '203.0.113.77' } });
  expect(preview.status).toBe(200);
  const card = await preview.text();
  expect(card.match(/<meta property="og:[a-z_]+" content="[^"]*">/g)).toEqual([
    '<meta property="og:type" content="website">',
    '<meta property="og:site_name" content="Hearing Association">',
    '<meta property="og:title" content="Ada invited you to Hearing Association">',
    '<meta property="og:description" content="Join Hearing Association in the app.">',
  ]);
  expect(card).not.toContain('referralToken');
  expect(preview.headers.get('set-cookie')).toBeNull();
  const person = await call(undefined, `/r/${code.code}?ch=whatsapp`, { headers: { 'x-forwarded-for': '203.0.113.78' } });
  expect(await person.text()).toContain('<meta property="og:title" content="Ada invited you to Hearing Association">');
  // Only the person's click is taken.
  const taken = await harness.pool.query("SELECT count(*)::int AS n FROM intake WHERE referral_code_id = $1 AND kind = 'click'", [code.id]);
  expect(taken.rows[0].n).toBe(1);
});

test('unknown links answer 404, revoked and expired ones 410, and record nothing', async () => {
  const unknown = await call(undefined, '/r/doesNotExist1');
  expect(unknown.status).toBe(404);
  const notFoundPage = await unknown.text();
  expect(notFoundPage).toContain('Invite link not found');
  // The person can still join, without the link.
  expect(notFoundPage).toContain('<p>You can also get the app and join without this link:</p>');
  expect(notFoundPage).toContain('Get it on the App Store</a>');
  const revoked = await newCode();
  expect((await call(otherMentor, `/api/v1/referral-codes/${revoked.id}/revoke`, { method: 'POST' })).status).toBe(403);
  expect((await call(mentor, `/api/v1/referral-codes/${revoked.id}/revoke`, { method: 'POST' })).status).toBe(200);
  const expired = await newCode(mentor, { expiresAt: new Date(Date.now() + 1000).toISOString() });
  await new Promise((resolve) => setTimeout(resolve, 1100));
  for (const code of [revoked, expired]) {
    const response = await call(undefined, `/r/${code.code}`);
    expect(response.status).toBe(410);
    const endedPage = await response.text();
    expect(endedPage).toContain('<h1>This invite link has ended</h1><p>This invite link to Hearing Association is no longer active. Ask the person who sent it for a new one.</p>');
    expect(endedPage).toContain('<p>You can also get the app and join without this link:</p>');
    expect(endedPage).toContain('Get it on Google Play</a>');
    expect((await call(undefined, '/api/v1/referral-attributions', { method: 'POST', body: { code: code.code } })).status).toBe(410);
  }
  const recorded = await harness.pool.query('SELECT count(*) AS clicks FROM click_events WHERE referral_code_id = ANY($1::uuid[])', [[revoked.id, expired.id]]);
  expect(recorded.rows[0].clicks).toBe(0);
});

test('an invite link cut short or garbled, or any address a browser opens that has no page, answers a page, not JSON', async () => {
  const browser = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  const opened = async (path: string) => {
    const response = await fetch(`${base}${path}`, { headers: browser });
    return { path, status: response.status, type: response.headers.get('content-type'), title: (await response.text()).match(/<h1>(.*?)<\/h1>/)?.[1] };
  };
  const html = 'text/html; charset=utf-8';
  const inviteNotFound = { status: 404, type: html, title: 'Invite link not found' };
  const pageNotFound = { status: 404, type: html, title: 'Page not found' };
  expect(await Promise.all(['/r', '/r/', '/r/%E0%A4%A', '/r/abcdefgh/more', '/nothing-here', '/dashboard/nothing-here'].map(opened))).toEqual([
    { path: '/r', ...inviteNotFound },
    { path: '/r/', ...inviteNotFound },
    { path: '/r/%E0%A4%A', ...inviteNotFound },
    { path: '/r/abcdefgh/more', ...inviteNotFound },
    { path: '/nothing-here', ...pageNotFound },
    { path: '/dashboard/nothing-here', ...pageNotFound },
  ]);
  // A program asking for the same gets JSON, and the API answers JSON whoever asks.
  const program = await fetch(`${base}/dashboard/nothing-here`);
  expect({ status: program.status, body: await program.json() }).toEqual({
    status: 404,
    body: { error: { code: 'not_found', message: 'No route for GET /dashboard/nothing-here' } },
  });
  const api = await fetch(`${base}/api/v1/referral-attributions/%E0%A4%A`, { headers: browser });
  expect({ status: api.status, type: api.headers.get('content-type') }).toEqual({ status: 400, type: 'application/json; charset=utf-8' });
});

test('rate limits per IP and per code hold across two API processes and answer 429 with Retry-After', async () => {
  const limited = { config: { RATE_LIMIT_PER_IP_PER_MINUTE: 3, RATE_LIMIT_PER_CODE_PER_MINUTE: 4 } };
  const apiA = await startApp(limited);
  const apiB = await startApp(limited);
  const code = await newCode();
  const fromIp = (ip: string, at: string) => call(undefined, `/r/${code.code}`, { at, headers: { 'x-forwarded-for': ip } });
  expect((await fromIp('198.51.100.1', apiA)).status).toBe(200);
  expect((await fromIp('198.51.100.1', apiB)).status).toBe(200);
  expect((await fromIp('198.51.100.1', apiA)).status).toBe(200);
  const overIp = await fromIp('198.51.100.1', apiB);
  expect(overIp.status).toBe(429);
  expect(Number(overIp.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(overIp.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  // The per-IP rejection still consumed nothing of the code's budget: one more visitor fits.
  expect((await fromIp('198.51.100.2', apiA)).status).toBe(200);
  const overCode = await fromIp('198.51.100.3', apiB);
  expect(overCode.status).toBe(429);
  // A person who tapped the link gets a page, never JSON.
  expect(overCode.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await overCode.text()).toContain('We could not open your invitation just now');
});

test('per-IP limits key an IPv6 client by its /64, and X-Forwarded-For is believed only from trusted proxies', async () => {
  const limited = await startApp({ config: { RATE_LIMIT_PER_IP_PER_MINUTE: 2 } });
  const code = await newCode();
  const from = async (ip: string, at: string) => (await call(undefined, `/r/${code.code}`, { at, headers: { 'x-forwarded-for': ip } })).status;
  const network = `2001:db8:${Math.floor(Math.random() * 65535).toString(16)}:6`;
  expect([await from(`${network}::1`, limited), await from(`${network}::2`, limited), await from(`${network}:ffff::3`, limited)]).toEqual([200, 200, 429]);
  expect(await from(`${network.replace(/:6$/, ':7')}::1`, limited)).toBe(200);
  const keyOf = async (ip: string) => (await harness.pool.query('SELECT count(*)::int AS n FROM rate_limits WHERE key = $1', [`ip:${ip}`])).rows[0].n;
  const unbelieved = `198.51.100.${Math.floor(Math.random() * 200) + 20}`;
  const trustingNone = await startApp({ config: { TRUST_PROXY: 0 } });
  expect(await from(unbelieved, trustingNone)).toBe(200);
  expect(await keyOf(unbelieved)).toBe(0);
  expect(await from(unbelieved, limited)).toBe(200);
  expect(await keyOf(unbelieved)).toBe(1);
});

test('a mentor clicking their own link is rejected, and so is a later click from that device', async () => {
  const code = await newCode();
  const device = randomUUID();
  const own = await clickFromApp(code.code, { visitorId: device, who: mentor });
  expect((await rowWhen(own.referralId, (row) => row.status === 'rejected')).status).toBe('rejected');
  const otherCode = await newCode();
  const later = await clickFromApp(otherCode.code, { visitorId: device });
  expect((await rowWhen(later.referralId, (row) => row.status === 'rejected')).status).toBe('rejected');
  // Neither rejected referral counts: no click, nothing pending or confirmed for the mentor from them.
  const rows = await harness.pool.query('SELECT status FROM referrals WHERE id = ANY($1::uuid[]) ORDER BY status', [[own.referralId, later.referralId]]);
  expect(rows.rows).toEqual([{ status: 'rejected' }, { status: 'rejected' }]);
  const counted = await harness.pool.query('SELECT count(*)::int AS n FROM click_events WHERE referral_id = ANY($1::uuid[]) AND NOT is_duplicate', [[own.referralId, later.referralId]]);
  const counts = (await (await call(mentor, `/api/v1/referral-attributions/mentor/${mentor.id}/counts`)).json()) as { pendingAttributions: number; confirmedAttributions: number };
  expect({ pending: counts.pendingAttributions, confirmed: counts.confirmedAttributions, clicksStored: counted.rows[0].n }).toEqual({ pending: 0, confirmed: 0, clicksStored: 2 });
});

test("the app's member token names who clicks whatever role it gives; one that does not verify loses no click", async () => {
  const code = await newCode();
  const signed = (claims: Record<string, unknown>, expiresAt: string | number, secret = JWT_SECRET) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(mentor.id).setExpirationTime(expiresAt).sign(new TextEncoder().encode(secret));
  const clickWith = async (authorization: string) => {
    const response = await fetch(`${base}/api/v1/referral-attributions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify({ code: code.code, visitorId: randomUUID() }),
    });
    return { status: response.status, referralId: ((await response.json()) as { referralId?: string }).referralId ?? '' };
  };
  // The organisation's identity provider calls the mentor a "member": still the mentor clicking their own link.
  const asMember = await clickWith(`Bearer ${await signed({ role: 'member', org_id: orgId }, '1h')}`);
  expect(asMember.status).toBe(201);
  expect((await rowWhen(asMember.referralId, (row) => row.status === 'rejected')).status).toBe('rejected');
  // Expired, signed with another key, or no bearer token at all: it names nobody, and the click is anyone's.
  const unusable = [
    `Bearer ${await signed({ role: 'peer_mentor', org_id: orgId }, Math.floor(Date.now() / 1000) - 3600)}`,
    `Bearer ${await signed({ role: 'peer_mentor', org_id: orgId }, '1h', 'another-secret-0123456789abcdef-xyz')}`,
    'Bearer not-a-token',
    'Basic dXNlcjpwYXNzd29yZA==',
  ];
  for (const authorization of unusable) {
    const taken = await clickWith(authorization);
    expect(taken.status).toBe(201);
    expect((await rowWhen(taken.referralId, () => true)).status).toBe('pending');
  }
});

test('many accounts from one IP for one mentor are flagged, not counted, until a coordinator approves', async () => {
  const code = await newCode(otherMentor);
  const ip = '192.0.2.77';
  const clicked = [];
  for (let index = 0; index < 3; index += 1) clicked.push(await clickFromApp(code.code, { ip }));
  for (const [index, referral] of clicked.entries()) {
    await rowWhen(referral.referralId, () => true);
    const step = await call(undefined, `/api/v1/referrals/${referral.referralId}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${referral.referralToken}` },
      body: { type: 'account_created', idempotencyKey: `acct-${index}`, newMemberId: randomUUID() },
    });
    expect(step.status).toBe(202);
    await rowWhen(referral.referralId, (row) => row.account_created_at !== null);
  }
  const statuses = await Promise.all(clicked.map(async (referral) => (await referralRow(referral.referralId)).status));
  expect(statuses).toEqual(['pending', 'pending', 'flagged']);
  expect((await referralRow(clicked[2].referralId)).flag_reason).toBe('many_accounts_from_one_device_or_ip');
  const countsBefore = await (await call(admin, `/api/v1/mentors/${otherMentor.id}/stats`)).json();
  expect(countsBefore).toMatchObject({ pendingAttributions: 2, confirmedAttributions: 0 });

  expect((await call(otherMentor, `/api/v1/referral-attributions/${clicked[2].referralId}/review`, { method: 'POST', body: { decision: 'approve' } })).status).toBe(403);
  const review = await call(coordinator, `/api/v1/referral-attributions/${clicked[2].referralId}/review`, { method: 'POST', body: { decision: 'approve' } });
  expect(review.status).toBe(202);
  const approved = await rowWhen(clicked[2].referralId, (row) => row.status === 'pending');
  // Answered after the workflow task that took the approval: the account is not overdue for it.
  expect((await harness.client.workflow.getHandle(approved.workflow_id).query(stateQuery)).referral).toMatchObject({ status: 'pending', stuck: false });
  expect(await referralRow(clicked[2].referralId)).toMatchObject({ status: 'pending', stuck: false });
  const countsAfter = await (await call(admin, `/api/v1/mentors/${otherMentor.id}/stats`)).json();
  expect(countsAfter).toMatchObject({ pendingAttributions: 3, confirmedAttributions: 0 });
  expect((await call(coordinator, `/api/v1/referral-attributions/${clicked[2].referralId}/review`, { method: 'POST', body: { decision: 'approve' } })).status).toBe(409);
});

test('a burst of clicks far above a code\'s normal rate is flagged; a confirmation waits for the review', async () => {
  const burstApi = await startApp({ burstClicksPerMinute: 5 });
  const code = await newCode();
  const clickAt = async () => {
    const response = await call(undefined, '/api/v1/referral-attributions', { at: burstApi, method: 'POST', body: { code: code.code, visitorId: randomUUID() } });
    return (await response.json()) as { referralId: string };
  };
  for (let index = 0; index < 5; index += 1) await clickAt();
  await eventually(async () => {
    const rows = await harness.pool.query('SELECT count(*) AS clicks FROM click_events WHERE referral_code_id = $1', [code.id]);
    return rows.rows[0].clicks === 5 ? true : undefined;
  });
  const burst = await clickAt();
  const flagged = await rowWhen(burst.referralId, (row) => row.status === 'flagged');
  expect(flagged.flag_reason).toBe('click_burst');

  const member = randomUUID();
  const record = await harness.service.confirmKnownReferral(burst.referralId, { newMemberId: member, source: 'webhook' });
  expect(record).toMatchObject({ status: 'flagged', newMemberId: member });
  await rowWhen(burst.referralId, (row) => row.new_member_id === member);
  const mentorCounts = async () => (await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [mentor.id])).rows[0].confirmed_count;
  const confirmedBefore = await mentorCounts();
  expect((await call(admin, `/api/v1/referral-attributions/${burst.referralId}/review`, { method: 'POST', body: { decision: 'approve' } })).status).toBe(202);
  await rowWhen(burst.referralId, (row) => row.status === 'confirmed');
  expect(await mentorCounts()).toBe(confirmedBefore + 1);
});

test('a busy code\'s week of clicks is counted at most once a minute: history found later counts from the next minute', async () => {
  const code = await harness.seedOrg();
  // Two minutes ago, so every click of the test lies in the past.
  let clock = Date.now() - 120_000;
  const service = createReferralService({ pool: harness.pool, temporal: harness.client, hashSalt: 'test-only-hash-salt', taskQueue: harness.taskQueue, burstClicksPerMinute: 3, clock: () => new Date(clock) });
  const clicksAt = async (at: number, clicks: number) => {
    clock = at;
    const recorded = [];
    for (let index = 0; index < clicks; index += 1) recorded.push(await service.recordClick({ code: code.code, visitorId: randomUUID(), metadata: {} }));
    return recorded;
  };
  const statusesOf = async (clicked: Array<{ referralId: string }>) => {
    const stored = await eventually(async () => {
      const rows = await harness.pool.query('SELECT id, status FROM referrals WHERE id = ANY($1::uuid[])', [clicked.map((click) => click.referralId)]);
      return rows.rows.length === clicked.length ? rows.rows : undefined;
    });
    return clicked.map((click) => stored.find((row) => row.id === click.referralId).status);
  };
  const start = clock;
  const quiet = await clicksAt(start, 3);
  expect(await statusesOf(quiet)).toEqual(['pending', 'pending', 'pending']);
  // Three clicks in the minute and three in the week: ten times the weekly rate, a burst. That week count is kept.
  const firstBurst = await clicksAt(start + 1000, 1);
  expect(await statusesOf(firstBurst)).toEqual(['flagged']);
  // Then 8,000 earlier clicks of the week come to light, two minutes and more before: against those, this minute's are no burst.
  await harness.pool.query(
    `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at)
     SELECT gen_random_uuid(), $1, $2, $3, $4, $5::timestamptz - (n || ' seconds')::interval FROM generate_series(120, 80110, 10) AS n`,
    [code.codeId, quiet[0].referralId, code.mentorId, code.orgId, new Date(start).toISOString()],
  );
  const withinTheMinute = await clicksAt(start + 30_000, 3);
  expect(await statusesOf(withinTheMinute)).toEqual(['flagged', 'flagged', 'flagged']);
  // A minute after the week was counted it is counted again: the same busy minute is no burst against that week.
  const nextMinute = await clicksAt(start + 61_500, 1);
  expect(await statusesOf(nextMinute)).toEqual(['pending']);
});

test("the same user id in another organisation is another person: an upload cannot tell it exists, and each signs in to their own", async () => {
  const elsewhere = randomUUID();
  const theirs = new SignJWT({ role: 'peer_mentor', org_id: elsewhere, name: 'Someone Else' }).setProtectedHeader({ alg: 'HS256' }).setSubject(mentor.id).setExpirationTime('1h');
  const theirToken = await theirs.sign(new TextEncoder().encode(JWT_SECRET));
  const asThem = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${theirToken}` } });
  expect(await asThem.json()).toMatchObject({ userId: mentor.id, orgId: elsewhere, role: 'peer_mentor', displayName: 'Someone Else' });
  // This organisation's admin names an id that exists elsewhere and one that exists nowhere: the same answer.
  const existsElsewhere = randomUUID();
  await fetch(`${base}/api/v1/me`, {
    headers: { authorization: `Bearer ${await new SignJWT({ role: 'peer_mentor', org_id: elsewhere }).setProtectedHeader({ alg: 'HS256' }).setSubject(existsElsewhere).setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET))}` },
  });
  const csv = ['mentorId,displayName', `${existsElsewhere},Known Elsewhere`, `${randomUUID()},Known Nowhere`].join('\n');
  const upload = await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
  expect(((await upload.json()) as { rows: Array<{ status: string }> }).rows.map((row) => row.status)).toEqual(['created', 'created']);
  // Each is the user of their own organisation: this one's name is untouched by the other's sign-in.
  expect((await (await call(mentor, '/api/v1/me')).json()).displayName).toBe('Ada Lovelace');
});

test('bulk invitations give one code per mentor, idempotently, with per-row errors', async () => {
  const invited = [randomUUID(), randomUUID()];
  const csv = ['mentorId,displayName,campaign,channel', `${invited[0]},Lin Rivers,autumn,email`, `${invited[1]},,autumn,`, 'not-a-uuid,Bad Row,autumn,sms', `${invited[0]},Lin Rivers,autumn,BAD CHANNEL`].join('\n');
  const upload = () => call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
  const first = (await (await upload()).json()) as { rows: Array<Record<string, unknown>> };
  expect(first.rows.map((row) => [row.line, row.status])).toEqual([[2, 'created'], [3, 'created'], [4, 'error'], [5, 'error']]);
  expect(first.rows[2].errors).toEqual(['mentorId: Invalid UUID']);
  expect(first.rows[3].errors).toEqual(['channel: must be a short channel name such as whatsapp']);
  const second = (await (await upload()).json()) as { rows: Array<Record<string, unknown>> };
  expect(second.rows.map((row) => [row.line, row.status])).toEqual([[2, 'existing'], [3, 'existing'], [4, 'error'], [5, 'error']]);
  expect(second.rows[0].code).toBe(first.rows[0].code);
  expect(first.rows[0].url).toBe(`${PUBLIC_BASE_URL}/r/${first.rows[0].code}?ch=email`);
  const codes = await harness.pool.query('SELECT count(*) AS codes FROM referral_codes WHERE mentor_id = ANY($1::uuid[])', [invited]);
  expect(codes.rows[0].codes).toBe(2);
  expect((await call(coordinator, '/api/v1/referral-codes/bulk', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } })).status).toBe(403);
  expect((await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: '"unclosed', headers: { 'content-type': 'text/csv' } })).status).toBe(400);
});

test('invite links are for peer mentors: a coordinator or an admin named as one is refused, row by row', async () => {
  const newcomer = randomUUID();
  const csv = ['mentorId,campaign', `${coordinator.id},staff`, `${admin.id},staff`, `${newcomer},staff`].join('\n');
  const upload = await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: csv, headers: { 'content-type': 'text/csv' } });
  const { rows } = (await upload.json()) as { rows: Array<Record<string, unknown>> };
  const refusal = (id: string) => [`Invite links and invitations are for peer mentors; ${id} is not a peer mentor of this organisation`];
  expect(rows.map((row) => [row.line, row.status, row.errors ?? row.mentorId])).toEqual([
    [2, 'error', refusal(coordinator.id)],
    [3, 'error', refusal(admin.id)],
    [4, 'created', newcomer],
  ]);
  const ownLink = await call(admin, '/api/v1/referral-codes', { method: 'POST', body: {} });
  expect([ownLink.status, ((await ownLink.json()) as { error: { code: string } }).error.code]).toEqual([422, 'not_a_peer_mentor']);
  const staffCodes = await harness.pool.query('SELECT count(*)::int AS codes FROM referral_codes WHERE mentor_id = ANY($1::uuid[])', [[coordinator.id, admin.id]]);
  expect(staffCodes.rows).toEqual([{ codes: 0 }]);
});

test('a CSV saved by Excel is read: byte order mark, CRLF, semicolons, its own media type', async () => {
  const invited = [randomUUID(), randomUUID()];
  const excel = `\uFEFFmentorId;displayName;campaign\r\n${invited[0]};Zoë Lund;spring\r\n${invited[1]};Ana;spring\r\n`;
  const response = await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: excel, headers: { 'content-type': 'application/vnd.ms-excel' } });
  expect(response.status).toBe(200);
  const { rows } = (await response.json()) as { rows: Array<Record<string, unknown>> };
  expect(rows.map((row) => [row.line, row.status, row.mentorId])).toEqual([[2, 'created', invited[0]], [3, 'created', invited[1]]]);
  const names = await harness.pool.query('SELECT display_name FROM users WHERE id = ANY($1::uuid[]) ORDER BY display_name', [invited]);
  expect(names.rows).toEqual([{ display_name: 'Ana' }, { display_name: 'Zoë Lund' }]);
});

test("a spreadsheet's column names are read as people write them; its other columns are left out and named", async () => {
  const invited = randomUUID();
  const sheet = `\uFEFFMentor ID;Display name;Campaign;Phone;Notes\r\n${invited};Rosa Park;spring;040 123 4567;met at the fair\r\n`;
  const response = await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body: sheet, headers: { 'content-type': 'text/csv' } });
  expect(response.status).toBe(200);
  const { rows, ignoredColumns } = (await response.json()) as { rows: Array<Record<string, unknown>>; ignoredColumns: string[] };
  expect(rows.map((row) => [row.line, row.status, row.mentorId])).toEqual([[2, 'created', invited]]);
  expect(ignoredColumns).toEqual(['Phone', 'Notes']);
  const made = await harness.pool.query('SELECT u.display_name, c.campaign FROM users u JOIN referral_codes c ON c.mentor_id = u.id WHERE u.id = $1', [invited]);
  expect(made.rows).toEqual([{ display_name: 'Rosa Park', campaign: 'spring' }]);
  // Without the column every row needs, or with it twice, the upload is refused as a whole and nothing is made.
  const unnamed = randomUUID();
  for (const [body, code, message] of [
    [`Mentor;Display name\n${unnamed};Nobody`, 'missing_columns', 'The CSV has no column mentorId: its first line names the columns: mentorId, displayName, campaign, channel'],
    [`mentor_id;MentorId\n${unnamed};${unnamed}`, 'malformed_csv', 'More than one column is mentorId: its first line names the columns: mentorId, displayName, campaign, channel'],
  ]) {
    const refused = await call(admin, '/api/v1/referral-codes/bulk', { method: 'POST', body, headers: { 'content-type': 'text/csv' } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code, message });
  }
  expect((await harness.pool.query('SELECT count(*)::int AS n FROM users WHERE id = $1', [unnamed])).rows).toEqual([{ n: 0 }]);
});

test('visitor ids and IPs are stored only as salted hashes', async () => {
  const code = await newCode();
  const visitorId = `visitor-${randomUUID()}`;
  const clicked = await clickFromApp(code.code, { visitorId, ip: '203.0.113.99' });
  const row = await eventually(async () => (await harness.pool.query('SELECT * FROM click_events WHERE referral_id = $1', [clicked.referralId])).rows[0]);
  const stored = JSON.stringify(row) + JSON.stringify(await referralRow(clicked.referralId));
  expect(stored).not.toContain(visitorId);
  expect(stored).not.toContain('203.0.113.99');
  expect(row.visitor_hash).toMatch(/^[0-9a-f]{64}$/);
  expect(row.ip_hash).toMatch(/^[0-9a-f]{64}$/);
});
