import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { listenApp, type ListeningApi } from './support/api';
import { signPayload } from '../src/api/webhook-signature';
import { eventually, openHarness, type Harness } from './support/harness';

const secrets = { JWT_SECRET: 'api-test-jwt-secret-0123456789abcdef', MEMBERSHIP_WEBHOOK_SECRET: 'api-test-webhook-secret', HASH_SALT: 'test-only-hash-salt' };
let harness: Harness;
let api: ListeningApi;
let base: string;

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
  api = await listenApp({ pool: harness.pool, temporal: harness.client, config: secrets, taskQueue: harness.taskQueue });
  base = api.url;
});

afterAll(async () => {
  await api.close();
  await harness.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}, method = 'POST', url = base) {
  return fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function signed(path: string, body: unknown, method = 'POST', at = Math.floor(Date.now() / 1000), url = base) {
  const raw = JSON.stringify(body);
  return post(path, raw, { 'x-signature': `t=${at},v1=${signPayload(secrets.MEMBERSHIP_WEBHOOK_SECRET, at, raw)}` }, method, url);
}

async function rowCounts() {
  const result = await harness.pool.query(
    'SELECT (SELECT count(*) FROM referrals) AS referrals, (SELECT count(*) FROM click_events) AS clicks, (SELECT count(*) FROM referral_events) AS events',
  );
  return result.rows[0];
}

test('the app clicks, signals its steps with the referral token, and the webhook confirms', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clickResponse = await post('/api/v1/referral-attributions', { code: org.code, visitorId: 'app-install-1', metadata: { platform: 'ios', shareChannel: 'sms' } });
  expect(clickResponse.status).toBe(201);
  const clicked = (await clickResponse.json()) as { referralId: string; referralToken: string };
  expect(clicked).toEqual({ referralId: expect.any(String), referralToken: expect.any(String), status: 'recorded' });

  const auth = { authorization: `Bearer ${clicked.referralToken}` };
  const stepResponse = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'k1', newMemberId: member }, auth);
  expect(stepResponse.status).toBe(202);
  expect(await stepResponse.json()).toEqual({ referralId: clicked.referralId, accepted: 'account_created' });
  await eventually(async () => {
    const row = await harness.pool.query('SELECT stage FROM referrals WHERE id = $1', [clicked.referralId]);
    return row.rows[0]?.stage === 'account_created' ? true : undefined;
  });
  // One member per referral: the same referral reported as another member's account is refused and changes nothing.
  const otherMember = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'k2', newMemberId: randomUUID() }, auth);
  expect(otherMember.status).toBe(409);
  expect(await otherMember.json()).toEqual({ error: { code: 'conflict', message: 'this referral is already linked to another member' } });
  const links = await harness.pool.query('SELECT new_member_id FROM referral_member_links WHERE referral_id = $1', [clicked.referralId]);
  expect(links.rows).toEqual([{ new_member_id: member }]);

  const delivery = { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: 'd-1' };
  const first = await signed('/api/v1/webhooks/membership', delivery);
  expect(first.status).toBe(200);
  const confirmed = (await first.json()) as { conversion: unknown };
  expect(confirmed).toMatchObject({ deliveryId: 'd-1', conversion: { referralId: clicked.referralId, mentorId: org.mentorId, status: 'confirmed', newMemberId: member } });
  const replayed = await signed('/api/v1/webhooks/membership', delivery);
  expect(await replayed.json()).toEqual(confirmed);
  const counts = await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [org.mentorId]);
  expect(counts.rows[0]).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });

  const known = await signed(`/api/v1/referral-attributions/${clicked.referralId}`, { newMemberId: member }, 'PUT');
  expect(known.status).toBe(200);
  expect(await known.json()).toEqual(confirmed.conversion);
});

test("the signed-in member's own token carries the steps of the referral linked to them, and of no other", async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: 'app-install-member' })).json()) as { referralId: string; referralToken: string };
  const memberToken = async (sub: string, orgId = org.orgId) =>
    `Bearer ${await new SignJWT({ role: 'member', org_id: orgId }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(secrets.JWT_SECRET))}`;
  const step = (type: string, idempotencyKey: string, authorization: string) => post(`/api/v1/referrals/${clicked.referralId}/events`, { type, idempotencyKey }, { authorization });
  // Until the app reports the account with the referral token, nothing ties the referral to the member.
  expect((await step('installed', 'i1', await memberToken(member))).status).toBe(404);
  const account = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'a1', newMemberId: member }, { authorization: `Bearer ${clicked.referralToken}` });
  expect(account.status).toBe(202);
  // Reinstalled, the app has lost the referral token: the member's own token carries the first login.
  const login = await step('first_login', 'l1', await memberToken(member));
  expect(login.status).toBe(202);
  expect(await login.json()).toEqual({ referralId: clicked.referralId, accepted: 'first_login' });
  await eventually(async () => ((await harness.pool.query('SELECT stage FROM referrals WHERE id = $1', [clicked.referralId])).rows[0]?.stage === 'first_login' ? true : undefined));
  // Another member, or the member's id in another organisation: the same 404 as an unknown referral. No token: 401.
  expect((await step('first_login', 'l2', await memberToken(randomUUID()))).status).toBe(404);
  expect((await step('first_login', 'l3', await memberToken(member, randomUUID()))).status).toBe(404);
  expect((await step('first_login', 'l4', 'Bearer not-a-token')).status).toBe(401);
  const events = await harness.pool.query("SELECT count(*)::int AS n FROM referral_events WHERE referral_id = $1 AND type = 'first_login'", [clicked.referralId]);
  expect(events.rows).toEqual([{ n: 1 }]);
});

test("a phone whose clock is wrong has its steps taken at times that can be right", async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: 'app-wrong-clock' })).json()) as { referralId: string; referralToken: string };
  // The token is issued within the second after its click: the end of that second is the earliest the account can be.
  const issuedAt = new Date(JSON.parse(Buffer.from(clicked.referralToken.split('.')[1], 'base64url').toString()).iat * 1000 + 999);
  const auth = { authorization: `Bearer ${clicked.referralToken}` };
  const step = (body: object, authorization = auth) => post(`/api/v1/referrals/${clicked.referralId}/events`, body, authorization);
  // A clock years ahead: the step happened no later than it arrived.
  const sent = Date.now();
  expect((await step({ type: 'installed', idempotencyKey: 'i1', occurredAt: '2031-01-01T00:00:00Z' })).status).toBe(202);
  const answered = Date.now();
  // A phone reset to 1970, a second on: the account was created no earlier than the click its referral began with.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect((await step({ type: 'account_created', idempotencyKey: 'a1', occurredAt: '1970-01-01T00:00:00Z', newMemberId: member })).status).toBe(202);
  const row = await eventually(async () => {
    const result = await harness.pool.query('SELECT clicked_at, installed_at, account_created_at, stuck FROM referrals WHERE id = $1 AND stage = $2', [clicked.referralId, 'account_created']);
    return result.rows[0] as { clicked_at: Date; installed_at: Date; account_created_at: Date; stuck: boolean } | undefined;
  });
  expect(row.account_created_at.getTime()).toBeGreaterThanOrEqual(row.clicked_at.getTime());
  expect(row.installed_at.getTime()).toBeGreaterThanOrEqual(sent);
  expect(row.installed_at.getTime()).toBeLessThanOrEqual(answered);
  // Not overdue at once, as an account created in 1970 would be.
  expect({ accountCreatedAt: row.account_created_at.toISOString(), stuck: row.stuck }).toEqual({ accountCreatedAt: issuedAt.toISOString(), stuck: false });
  // With the member's own token, the referral's first click is the earliest its first login can be.
  const memberToken = await new SignJWT({ role: 'member', org_id: org.orgId }).setProtectedHeader({ alg: 'HS256' }).setSubject(member).setExpirationTime('1h').sign(new TextEncoder().encode(secrets.JWT_SECRET));
  expect((await step({ type: 'first_login', idempotencyKey: 'l1', occurredAt: '2001-01-01T00:00:00Z' }, { authorization: `Bearer ${memberToken}` })).status).toBe(202);
  const login = await eventually(async () => {
    const result = await harness.pool.query("SELECT clicked_at, first_login_at FROM referrals WHERE id = $1 AND stage = 'first_login'", [clicked.referralId]);
    return result.rows[0] as { clicked_at: Date; first_login_at: Date } | undefined;
  });
  expect(login.first_login_at.toISOString()).toBe(login.clicked_at.toISOString());
});

test('a registration reported days late with no click is a direct referral clicked when it registered', async () => {
  const org = await harness.seedOrg();
  const registeredAt = new Date(Date.now() - 40 * 86_400_000).toISOString();
  const delivery = { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: registeredAt, deliveryId: `late-${randomUUID()}` };
  const answer = (await (await signed('/api/v1/webhooks/membership', delivery)).json()) as { conversion: { referralId: string; direct: boolean; confirmedAt: string } };
  expect({ direct: answer.conversion.direct, confirmedAt: answer.conversion.confirmedAt }).toEqual({ direct: true, confirmedAt: registeredAt });
  const row = await eventually(async () => {
    const result = await harness.pool.query(
      `SELECT r.clicked_at, r.confirmed_at, c.occurred_at AS implicit_click_at FROM referrals r JOIN click_events c ON c.referral_id = r.id
       WHERE r.id = $1 AND r.status = 'confirmed'`,
      [answer.conversion.referralId],
    );
    return result.rows[0] as { clicked_at: Date; confirmed_at: Date; implicit_click_at: Date } | undefined;
  });
  // Clicked today and confirmed 40 days ago would be a negative time to convert, and a click in the wrong day's figures.
  // Past the 30-day attribution window too: the registration confirms it all the same.
  expect([row.clicked_at, row.confirmed_at, row.implicit_click_at].map((time) => time.toISOString())).toEqual([registeredAt, registeredAt, registeredAt]);
  const events = await harness.pool.query('SELECT type FROM referral_events WHERE referral_id = $1 ORDER BY occurred_at, type', [answer.conversion.referralId]);
  expect(events.rows.map((event) => event.type)).toEqual(['confirmed', 'direct_registration']);
});

test("a registration dated ahead of its arrival (a clock set ahead, a local time labelled UTC) is confirmed when it arrived", async () => {
  const org = await harness.seedOrg();
  const sent = Date.now();
  const ahead = new Date(sent + 5 * 3_600_000).toISOString();
  const delivery = { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: ahead, deliveryId: `ahead-${randomUUID()}` };
  const answer = (await (await signed('/api/v1/webhooks/membership', delivery)).json()) as { conversion: { confirmedAt: string } };
  const answered = Date.now();
  // Dated five hours on, it would fall in no dashboard's day yet, and its rewards would be held for five hours more.
  expect(Date.parse(answer.conversion.confirmedAt)).toBeGreaterThanOrEqual(sent);
  expect(Date.parse(answer.conversion.confirmedAt)).toBeLessThanOrEqual(answered);
});

test('a confirmation answers one spelling of its time, whichever zone the membership system wrote it in', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const delivery = (deliveryId: string) => ({ event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: '2026-12-06T08:00:00+02:00', deliveryId });
  const first = (await (await signed('/api/v1/webhooks/membership', delivery('zone-1'))).json()) as { conversion: { confirmedAt: string } };
  const second = (await (await signed('/api/v1/webhooks/membership', delivery('zone-2'))).json()) as { conversion: { confirmedAt: string } };
  expect([first.conversion.confirmedAt, second.conversion.confirmedAt]).toEqual(['2026-12-06T06:00:00.000Z', '2026-12-06T06:00:00.000Z']);
});

test('the membership system may send fields of its own: the webhook and the known-referral confirmation read theirs and ignore the rest', async () => {
  const org = await harness.seedOrg();
  const registered = { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: new Date().toISOString(), deliveryId: `extra-${randomUUID()}` };
  const webhook = await signed('/api/v1/webhooks/membership', { ...registered, memberEmail: 'ada@example.org', source: 'dynamics' });
  expect({ status: webhook.status, body: await webhook.json() }).toMatchObject({ status: 200, body: { deliveryId: registered.deliveryId, conversion: { status: 'confirmed', direct: true } } });
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: 'crm-extra' })).json()) as { referralId: string };
  const member = randomUUID();
  const known = await signed(`/api/v1/referral-attributions/${clicked.referralId}`, { newMemberId: member, membershipType: 'full' }, 'PUT');
  expect({ status: known.status, body: await known.json() }).toMatchObject({ status: 200, body: { referralId: clicked.referralId, newMemberId: member, status: 'confirmed' } });
});

test("a membership system's own ids, such as Dynamics' sequential GUIDs, are taken in either case", async () => {
  const org = await harness.seedOrg();
  // Its version digit (e811) is no RFC 9562 version; Postgres's uuid type stores it all the same.
  const member = '5a0af6b1-d2a4-e811-a96a-000d3a1c5096';
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: 'crm-member' })).json()) as { referralId: string; referralToken: string };
  const auth = { authorization: `Bearer ${clicked.referralToken}` };
  const step = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'k1', newMemberId: member.toUpperCase() }, auth);
  expect(step.status).toBe(202);
  const delivery = { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: `d-${randomUUID()}` };
  const confirmed = await signed('/api/v1/webhooks/membership', delivery);
  expect({ status: confirmed.status, body: await confirmed.json() }).toMatchObject({
    status: 200,
    body: { conversion: { referralId: clicked.referralId, status: 'confirmed', newMemberId: member } },
  });
  // The same member again, as the app might write it, is the same member.
  const again = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'first_login', idempotencyKey: 'k2', newMemberId: member.toUpperCase() }, auth);
  expect(again.status).toBe(202);
});

test('a delivery replayed after a cancellation answers what it first answered and confirms no one again', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: `replayed-${member}` })).json()) as { referralId: string };
  const registeredAt = new Date(Date.now() - 60_000).toISOString();
  const registration = { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: registeredAt, deliveryId: `registered-${member}` };
  const first = (await (await signed('/api/v1/webhooks/membership', registration)).json()) as { conversion: { status: string; referralId: string } };
  expect(first.conversion).toMatchObject({ referralId: clicked.referralId, status: 'confirmed' });
  const cancellation = { event: 'member.cancelled', referralCode: org.code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: `cancelled-${member}` };
  expect(await (await signed('/api/v1/webhooks/membership', cancellation)).json()).toEqual({ deliveryId: cancellation.deliveryId, reversed: 1 });
  await eventually(async () => ((await harness.pool.query('SELECT status FROM referrals WHERE id = $1', [clicked.referralId])).rows[0]?.status === 'reversed' ? true : undefined));
  // The same delivery again: its first answer, and nothing changes.
  const replayed = await signed('/api/v1/webhooks/membership', registration);
  expect({ status: replayed.status, body: await replayed.json() }).toEqual({ status: 200, body: first });
  // The same registration as a new delivery: older than the cancellation, it confirms no one again.
  const redelivered = (await (await signed('/api/v1/webhooks/membership', { ...registration, deliveryId: `again-${member}` })).json()) as { conversion: { status: string } };
  expect(redelivered.conversion).toMatchObject({ referralId: clicked.referralId, status: 'reversed' });
  const referrals = await harness.pool.query('SELECT status FROM referrals WHERE org_id = $1', [org.orgId]);
  expect(referrals.rows).toEqual([{ status: 'reversed' }]);
  expect((await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [org.mentorId])).rows[0]).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 0 });
});

test("a member who cancelled and registers again is not handed another visitor's click", async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const registered = async (occurredAt: string, deliveryId: string) =>
    (await (await signed('/api/v1/webhooks/membership', { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt, deliveryId })).json()) as {
      conversion: { referralId: string; status: string; direct: boolean };
    };
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: `returning-${member}` })).json()) as { referralId: string };
  expect((await registered(new Date(Date.now() - 120_000).toISOString(), `first-${member}`)).conversion).toMatchObject({ referralId: clicked.referralId, status: 'confirmed' });
  const cancellation = { event: 'member.cancelled', referralCode: org.code, newMemberId: member, occurredAt: new Date(Date.now() - 60_000).toISOString(), deliveryId: `cancelled-${member}` };
  expect((await signed('/api/v1/webhooks/membership', cancellation)).status).toBe(200);
  await eventually(async () => ((await harness.pool.query('SELECT status FROM referrals WHERE id = $1', [clicked.referralId])).rows[0]?.status === 'reversed' ? true : undefined));
  // Someone else clicks the same link and has not registered yet.
  const other = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: `someone-else-${member}` })).json()) as { referralId: string };
  await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [other.referralId])).rowCount ? true : undefined));
  // The member comes back: counted again, on a referral of their own.
  const back = await registered(new Date().toISOString(), `again-${member}`);
  expect(back.conversion).toMatchObject({ status: 'confirmed', direct: true });
  expect([clicked.referralId, other.referralId]).not.toContain(back.conversion.referralId);
  const others = await harness.pool.query('SELECT status, new_member_id FROM referrals WHERE id = $1', [other.referralId]);
  expect(others.rows).toEqual([{ status: 'pending', new_member_id: null }]);
  expect((await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [org.mentorId])).rows[0]).toEqual({ total_clicks: 3, pending_count: 0, confirmed_count: 1 });
});

test('webhooks that overtake the worker confirm the referrals the app reported the accounts on', async () => {
  // Its own task queue with no worker yet: everything the app sent is accepted but not yet in Postgres.
  const lagging = await openHarness();
  const laggingApi = await listenApp({ pool: lagging.pool, temporal: lagging.client, config: secrets, taskQueue: lagging.taskQueue });
  try {
    const org = await lagging.seedOrg();
    const journeys = [];
    for (const visitor of ['lagging-visitor-1', 'lagging-visitor-2']) {
      const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: visitor }, {}, 'POST', laggingApi.url)).json()) as {
        referralId: string;
        referralToken: string;
      };
      const member = randomUUID();
      const step = await post(
        `/api/v1/referrals/${clicked.referralId}/events`,
        { type: 'account_created', idempotencyKey: 'k1', newMemberId: member },
        { authorization: `Bearer ${clicked.referralToken}` },
        'POST',
        laggingApi.url,
      );
      expect(step.status).toBe(202);
      journeys.push({ referralId: clicked.referralId, member });
    }
    expect((await lagging.pool.query('SELECT count(*) AS n FROM referrals WHERE org_id = $1', [org.orgId])).rows[0].n).toBe(0);
    // The second member's registration first: rule 4(b)'s "last click" would be the first visitor's referral.
    const webhooks = [...journeys].reverse().map(({ member }, index) =>
      signed(
        '/api/v1/webhooks/membership',
        { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: `overtaking-${index}` },
        'POST',
        undefined,
        laggingApi.url,
      ),
    );
    await lagging.startWorker();
    const answers = await Promise.all(webhooks.map(async (response) => ({ status: (await response).status, body: await (await response).json() })));
    expect(answers).toEqual(
      [...journeys].reverse().map(({ referralId, member }, index) => ({
        status: 200,
        body: { deliveryId: `overtaking-${index}`, conversion: expect.objectContaining({ referralId, newMemberId: member, status: 'confirmed', direct: false }) },
      })),
    );
    const stored = await lagging.pool.query('SELECT id, new_member_id, status FROM referrals WHERE org_id = $1 ORDER BY id', [org.orgId]);
    expect(stored.rows).toEqual(
      journeys.map(({ referralId, member }) => ({ id: referralId, new_member_id: member, status: 'confirmed' })).sort((a, b) => a.id.localeCompare(b.id)),
    );
  } finally {
    await laggingApi.close();
    await lagging.close();
  }
});

test('bad input and bad credentials get a 4xx with what was wrong, and change nothing', async () => {
  const org = await harness.seedOrg();
  const before = await rowCounts();
  const cases: Array<[Promise<Response>, number, string]> = [
    [post('/api/v1/referral-attributions', '{"code":'), 400, 'malformed_json'],
    [post('/api/v1/referral-attributions', { code: 42 }), 400, 'invalid_request'],
    [post('/api/v1/referral-attributions', { code: org.code, extra: true }), 400, 'invalid_request'],
    [post('/api/v1/referral-attributions', { code: org.code, visitorId: 'x'.repeat(10_000) }), 400, 'invalid_request'],
    [post('/api/v1/referral-attributions', { code: org.code, metadata: { note: 'y'.repeat(100_000) } }), 413, 'payload_too_large'],
    [post('/api/v1/referral-attributions', { code: 'unknown-code-zz' }), 404, 'not_found'],
    [post('/api/v1/referrals/not-a-uuid/events', { type: 'installed', idempotencyKey: 'k' }, { authorization: 'Bearer x' }), 400, 'invalid_request'],
    [post(`/api/v1/referrals/${randomUUID()}/events`, { type: 'installed', idempotencyKey: 'k' }), 401, 'unauthorized'],
    [post(`/api/v1/referrals/${randomUUID()}/events`, { type: 'installed', idempotencyKey: 'k' }, { authorization: 'Bearer not.a.token' }), 401, 'unauthorized'],
    [post('/api/v1/webhooks/membership', { event: 'member.registered' }), 401, 'invalid_signature'],
    [signed('/api/v1/webhooks/membership', { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: '9999-01-01T00:00:00Z', deliveryId: 'd' }), 400, 'invalid_request'],
    [signed('/api/v1/webhooks/membership', { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: new Date().toISOString(), deliveryId: 'd' }, 'POST', Math.floor(Date.now() / 1000) - 600), 401, 'invalid_signature'],
    [signed(`/api/v1/referral-attributions/${randomUUID()}`, { newMemberId: randomUUID() }, 'PUT'), 404, 'not_found'],
    [post('/api/v1/nowhere', {}), 404, 'not_found'],
  ];
  for (const [pending, status, code] of cases) {
    const response = await pending;
    const body = (await response.json()) as { error: { code: string } };
    expect({ status: response.status, code: body.error.code }).toEqual({ status, code });
  }
  // A local time names no moment: the answer says what to send.
  const local = await signed('/api/v1/webhooks/membership', { event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: '2026-12-06T05:00:00', deliveryId: 'd' });
  expect(((await local.json()) as { error: { details: unknown } }).error.details).toEqual([
    { path: ['occurredAt'], code: 'invalid_format', message: 'must be an ISO 8601 date-time with its time zone, such as 2026-11-01T09:30:00Z or 2026-11-01T11:30:00+02:00' },
  ]);
  // A body that is not JSON is refused for its type, not read as a body with every field missing.
  const form = await post('/api/v1/referral-attributions', `code=${org.code}`, { 'content-type': 'application/x-www-form-urlencoded' });
  expect({ status: form.status, body: await form.json() }).toEqual({
    status: 415,
    body: { error: { code: 'unsupported_media_type', message: 'Send the body as JSON, with Content-Type: application/json; it came as application/x-www-form-urlencoded' } },
  });
  const untyped = await fetch(`${base}/api/v1/referral-attributions`, { method: 'POST', body: new Uint8Array(Buffer.from(JSON.stringify({ code: org.code }))) });
  expect(((await untyped.json()) as { error: { message: string } }).error.message).toBe('Send the body as JSON, with Content-Type: application/json; it came with none');
  expect(await rowCounts()).toEqual(before);
});

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const confirmedCountOf = async (mentorId: string) => (await harness.pool.query('SELECT confirmed_count FROM get_attribution_counts($1)', [mentorId])).rows[0].confirmed_count;

test('a member who comes back after each cancellation is counted once each time, on a referral of their own', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const registered = async (occurredAt: string, deliveryId: string) =>
    (await (await signed('/api/v1/webhooks/membership', { event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt, deliveryId })).json()) as {
      conversion: { referralId: string; status: string; direct: boolean };
    };
  const cancelled = async (occurredAt: string, deliveryId: string) => {
    const answer = await signed('/api/v1/webhooks/membership', { event: 'member.cancelled', referralCode: org.code, newMemberId: member, occurredAt, deliveryId });
    return ((await answer.json()) as { reversed: number }).reversed;
  };
  const confirmedCount = () => confirmedCountOf(org.mentorId);
  // The app reported the member's account on their click.
  const clicked = (await (await post('/api/v1/referral-attributions', { code: org.code, visitorId: `comeback-${member}` })).json()) as { referralId: string; referralToken: string };
  const step = await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'k1', newMemberId: member }, { authorization: `Bearer ${clicked.referralToken}` });
  expect(step.status).toBe(202);

  const joined = await registered(minutesAgo(50), `joined-${member}`);
  expect(joined.conversion).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', direct: false });
  expect(await cancelled(minutesAgo(40), `left-${member}`)).toBe(1);
  await eventually(async () => ((await confirmedCount()) === 0 ? true : undefined), 15_000, 'the cancellation counted');

  const back = await registered(minutesAgo(30), `back-${member}`);
  expect(back.conversion).toMatchObject({ status: 'confirmed', direct: true });
  expect(back.conversion.referralId).not.toBe(clicked.referralId);
  expect(await confirmedCount()).toBe(1);
  expect(await cancelled(minutesAgo(20), `left-again-${member}`)).toBe(1);
  await eventually(async () => ((await confirmedCount()) === 0 ? true : undefined), 15_000, 'the second cancellation counted');

  const backAgain = await registered(minutesAgo(10), `back-again-${member}`);
  expect(backAgain.conversion).toMatchObject({ status: 'confirmed', direct: true });
  expect([clicked.referralId, back.conversion.referralId]).not.toContain(backAgain.conversion.referralId);
  expect(await confirmedCount()).toBe(1);
  // A registration delivered late, older than the last cancellation, confirms no one again.
  expect((await registered(minutesAgo(25), `late-${member}`)).conversion).toMatchObject({ referralId: backAgain.conversion.referralId, status: 'confirmed' });
  expect(await confirmedCount()).toBe(1);
});

test('a member who first joined without a tracked click and comes back after cancelling is counted again', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const send = async (event: string, occurredAt: string, deliveryId: string) =>
    (await signed('/api/v1/webhooks/membership', { event, referralCode: org.code, newMemberId: member, occurredAt, deliveryId })).json() as Promise<{
      conversion?: { referralId: string; status: string; direct: boolean };
    }>;
  const confirmedCount = () => confirmedCountOf(org.mentorId);
  const joined = (await send('member.registered', minutesAgo(30), `joined-${member}`)).conversion!;
  expect(joined).toMatchObject({ status: 'confirmed', direct: true });
  await send('member.cancelled', minutesAgo(20), `left-${member}`);
  await eventually(async () => ((await confirmedCount()) === 0 ? true : undefined), 15_000, 'the cancellation counted');
  const back = (await send('member.registered', minutesAgo(10), `back-${member}`)).conversion!;
  expect(back).toMatchObject({ status: 'confirmed', direct: true });
  expect(back.referralId).not.toBe(joined.referralId);
  expect(await confirmedCount()).toBe(1);
});
