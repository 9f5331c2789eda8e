import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Role } from '../src/domain/access';
import { createReferralTokens } from '../src/api/referral-token';
import { erasedMemberHash } from '../src/services/identifiers';
import { listenApp, type ListeningApi } from './support/api';
import { runsOf, sweptUntilDone, workflowIdOf } from './support/erased-runs';
import { pausedTemporal } from './support/paused-temporal';
import { eventually, openHarness, type Harness } from './support/harness';

const JWT_SECRET = 'api-reads-test-jwt-secret-0123456789';
let harness: Harness;
let api: ListeningApi;
let base: string;

interface Person {
  id: string;
  orgId: string;
  role: Role;
}

const orgA = randomUUID();
const orgB = randomUUID();
const person = (orgId: string, role: Role): Person => ({ id: randomUUID(), orgId, role });
const mentor1 = person(orgA, 'peer_mentor');
const mentor2 = person(orgA, 'peer_mentor');
const mentor3 = person(orgA, 'peer_mentor');
const coordinator1 = person(orgA, 'coordinator');
const coordinator2 = person(orgA, 'coordinator');
const admin = person(orgA, 'org_admin');
const platformAdmin = person(orgA, 'platform_admin');
const mentorB = person(orgB, 'peer_mentor');
const coordinatorB = person(orgB, 'coordinator');
const adminB = person(orgB, 'org_admin');
let referralOf1: string;
let referralOf3: string;
let referralOfB: string;

function token(who: Person): Promise<string> {
  return new SignJWT({ role: who.role, org_id: who.orgId, name: 'Test Person' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function call(who: Person | undefined, path: string, init: { method?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (who) headers.authorization = `Bearer ${await token(who)}`;
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function seedReferral(mentor: Person, confirm: boolean): Promise<string> {
  const code = await harness.addCode({ orgId: mentor.orgId }, mentor.id);
  const clicked = await harness.service.recordClick({ code: code.code, visitorId: randomUUID(), metadata: { shareChannel: 'whatsapp' } });
  await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [clicked.referralId])).rowCount ? true : undefined));
  if (confirm) await harness.service.confirmRecruitment({ code: code.code, newMemberId: randomUUID(), source: 'webhook' });
  return clicked.referralId;
}

beforeAll(async () => {
  harness = await openHarness();
  await harness.startWorker();
  api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: 'api-reads-webhook-secret', HASH_SALT: 'test-only-hash-salt' },
    taskQueue: harness.taskQueue,
  });
  base = api.url;
  // Everyone becomes known on first use of their token.
  for (const who of [mentor1, mentor2, mentor3, coordinator1, coordinator2, admin, platformAdmin, mentorB, coordinatorB, adminB]) {
    expect((await call(who, '/api/v1/referral-attributions?limit=1')).status).toBe(who.role === 'platform_admin' ? 403 : 200);
  }
  referralOf1 = await seedReferral(mentor1, true);
  await seedReferral(mentor1, false);
  referralOf3 = await seedReferral(mentor3, false);
  referralOfB = await seedReferral(mentorB, true);
  expect((await call(admin, `/api/v1/coordinators/${coordinator1.id}/mentors`, { method: 'PUT', body: { mentorIds: [mentor1.id, mentor2.id] } })).status).toBe(200);
});

afterAll(async () => {
  await api.close();
  await harness.close();
});

test('counts follow the acceptance criteria: exact figures, zeros for a quiet mentor', async () => {
  expect((await call(mentor1, `/api/v1/referral-attributions/mentor/${mentor1.id}/counts`)).body).toEqual({
    totalClicks: 2,
    pendingAttributions: 0,
    confirmedAttributions: 1,
    conversionRate: 0.5,
  });
  expect((await call(coordinator1, `/api/v1/referral-attributions/mentor/${mentor2.id}/counts`)).body).toEqual({
    totalClicks: 0,
    pendingAttributions: 0,
    confirmedAttributions: 0,
    conversionRate: 0,
  });
});

test('stats, recruits, the coordinator aggregate and the dashboard carry exact figures and no personal data', async () => {
  const stats = await call(mentor1, `/api/v1/mentors/${mentor1.id}/stats`);
  expect(stats.body).toEqual({
    mentorId: mentor1.id,
    funnel: { clicked: 2, installed: 1, account_created: 1, first_login: 0 },
    totalClicks: 2,
    pendingAttributions: 0,
    confirmedAttributions: 1,
    conversionRate: 0.5,
    medianTimeToConvertSeconds: expect.any(Number),
  });
  const trend = await call(mentor1, `/api/v1/mentors/${mentor1.id}/trend?granularity=week`);
  expect(trend.body.funnel).toEqual({ clicked: 2, installed: 1, account_created: 1, first_login: 0, confirmed: 1 });
  const weekly = trend.body.timeSeries.reduce(
    (sum: number[], period: { clicks: number; accountsCreated: number; confirmed: number }) => [sum[0] + period.clicks, sum[1] + period.accountsCreated, sum[2] + period.confirmed],
    [0, 0, 0],
  );
  expect(weekly).toEqual([2, 1, 1]);
  const recruits = await call(mentor1, `/api/v1/mentors/${mentor1.id}/recruits`);
  expect(recruits.body.recruits).toEqual([
    { referralId: referralOf1, stage: 'account_created', status: 'confirmed', direct: false, shareChannel: 'whatsapp', clickedAt: expect.any(String), confirmedAt: expect.any(String) },
  ]);
  const aggregate = await call(coordinator1, `/api/v1/coordinators/${coordinator1.id}/aggregate`);
  expect(aggregate.body).toEqual({
    coordinatorId: coordinator1.id,
    mentors: [
      { mentorId: mentor1.id, displayName: 'Test Person', totalClicks: 2, pendingAttributions: 0, confirmedAttributions: 1, conversionRate: 0.5 },
      { mentorId: mentor2.id, displayName: 'Test Person', totalClicks: 0, pendingAttributions: 0, confirmedAttributions: 0, conversionRate: 0 },
    ],
  });
  const from = new Date(Date.now() - 86_400_000).toISOString();
  const to = new Date(Date.now() + 86_400_000).toISOString();
  const dashboard = await call(admin, `/api/v1/orgs/${orgA}/recruitment-dashboard?from=${from}&to=${to}&granularity=day`);
  expect(dashboard.status).toBe(200);
  expect(dashboard.body.funnel).toEqual({ clicked: 3, installed: 1, account_created: 1, first_login: 0, confirmed: 1 });
  expect(dashboard.body.topMentors).toEqual([
    { mentorId: mentor1.id, displayName: 'Test Person', confirmedAttributions: 1, referrals: 2, conversionRate: 0.5 },
    { mentorId: mentor3.id, displayName: 'Test Person', confirmedAttributions: 0, referrals: 1, conversionRate: 0 },
  ]);
  expect(dashboard.body.channels).toEqual([{ channel: 'whatsapp', clicks: 3, confirmedAttributions: 1, conversionRate: 1 / 3 }]);
  expect(dashboard.body.campaigns).toEqual([{ campaign: null, referrals: 3, confirmedAttributions: 1, conversionRate: 1 / 3 }]);
  expect(dashboard.body.timeToConvert.map((bucket: { confirmed: number }) => bucket.confirmed)).toEqual([1, 0, 0, 0, 0, 0, 0]);
  expect(dashboard.body.timeToConvert[1]).toEqual({ fromSeconds: 3600, toSeconds: 86_400, confirmed: 0 });
  expect(dashboard.body.needsReview).toEqual([]);
  expect(dashboard.body.stuck).toEqual([]);
  const totals = dashboard.body.timeSeries.reduce(
    (sum: { clicks: number; confirmed: number }, period: { clicks: number; confirmed: number }) => ({ clicks: sum.clicks + period.clicks, confirmed: sum.confirmed + period.confirmed }),
    { clicks: 0, confirmed: 0 },
  );
  expect(totals).toEqual({ clicks: 3, confirmed: 1 });
  // Mentors are named for their coordinators; nothing of the people they referred is.
  expect(JSON.stringify(dashboard.body)).not.toMatch(/visitor|ip_hash|user_agent|newMemberId/);

  const csv = await fetch(`${base}/api/v1/orgs/${orgA}/recruitment-dashboard?from=${from}&to=${to}&granularity=day&format=csv`, {
    headers: { authorization: `Bearer ${await token(coordinator1)}` },
  });
  expect(csv.status).toBe(200);
  expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
  expect(csv.headers.get('content-disposition')).toBe(`attachment; filename=recruitment-${from.slice(0, 10)}-${to.slice(0, 10)}.csv`);
  const bytes = Buffer.from(await csv.arrayBuffer());
  // Excel reads a CSV as the system's code page unless it starts with UTF-8's byte order mark.
  expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const lines = bytes.subarray(3).toString('utf8').trim().split('\n');
  expect(lines[0]).toBe('section,item,measure,value');
  expect(lines).toEqual(
    expect.arrayContaining([
      'funnel,clicked,referrals,3',
      'funnel,confirmed,referrals,1',
      `mentor,Test Person,confirmed,1`,
      'mentor,Test Person,referrals,2',
      'mentor,Test Person,conversion_rate,0.5',
      'channel,whatsapp,clicks,3',
      'campaign,(none),referrals,3',
      'time_to_convert,0-3600,confirmed,1',
      'attention,,needs_review,0',
    ]),
  );
  expect(lines.filter((line) => line.startsWith('trend,')).length).toBe(3 * dashboard.body.timeSeries.length);
});

test('who am I, and the badges a mentor was awarded', async () => {
  expect((await call(coordinator1, '/api/v1/me')).body).toEqual({ userId: coordinator1.id, orgId: orgA, role: 'coordinator', displayName: 'Test Person', orgName: null });
  expect((await call(undefined, '/api/v1/me')).status).toBe(401);
  await harness.pool.query(
    `INSERT INTO badge_awards (id, mentor_id, org_id, badge_key, milestone, confirmed_count, awarded_at) VALUES ($1, $2, $3, 'recruiter-5', 5, 5, '2026-11-20T10:00:00Z')`,
    [randomUUID(), mentor2.id, orgA],
  );
  expect((await call(mentor2, `/api/v1/mentors/${mentor2.id}/badges`)).body).toEqual({
    mentorId: mentor2.id,
    badges: [{ badge: 'recruiter-5', milestone: 5, confirmedCount: 5, awardedAt: '2026-11-20T10:00:00.000Z' }],
  });
});

type Target = 'own' | 'sameOrg' | 'otherOrg';
const roles: Record<Role, Person> = { peer_mentor: mentor1, coordinator: coordinator1, org_admin: admin, platform_admin: platformAdmin };

// The expected status of every read endpoint x role x target, as DESIGN.md section 2 grants access.
const matrix: Array<{ name: string; path: (who: Person, target: Target) => string; expected: Record<Role, Partial<Record<Target, number>>> }> = [
  ...['/api/v1/referral-attributions/mentor/:m/counts', '/api/v1/referral-attributions/mentor/:m', '/api/v1/mentors/:m/stats', '/api/v1/mentors/:m/recruits', '/api/v1/mentors/:m/badges', '/api/v1/mentors/:m/trend'].map((template) => ({
    name: template,
    path: (who: Person, target: Target) => template.replace(':m', target === 'own' ? who.id : target === 'sameOrg' ? mentor2.id : mentorB.id),
    expected: {
      peer_mentor: { own: 200, sameOrg: 403, otherOrg: 404 },
      coordinator: { own: 200, sameOrg: 200, otherOrg: 404 },
      org_admin: { own: 200, sameOrg: 200, otherOrg: 404 },
      platform_admin: { own: 403, sameOrg: 403, otherOrg: 404 },
    },
  })),
  {
    name: '/api/v1/coordinators/:c/aggregate',
    path: (who, target) => `/api/v1/coordinators/${target === 'own' ? who.id : target === 'sameOrg' ? coordinator2.id : coordinatorB.id}/aggregate`,
    expected: {
      peer_mentor: { own: 403, sameOrg: 403, otherOrg: 404 },
      coordinator: { own: 200, sameOrg: 403, otherOrg: 404 },
      org_admin: { own: 200, sameOrg: 200, otherOrg: 404 },
      platform_admin: { own: 403, sameOrg: 403, otherOrg: 404 },
    },
  },
  {
    name: '/api/v1/orgs/:o/recruitment-dashboard',
    path: (who, target) => `/api/v1/orgs/${target === 'otherOrg' ? orgB : who.orgId}/recruitment-dashboard?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&granularity=week`,
    expected: {
      peer_mentor: { own: 403, otherOrg: 404 },
      // Seed 000: the recruitment dashboard is for coordinators and organisation admins.
      coordinator: { own: 200, otherOrg: 404 },
      org_admin: { own: 200, otherOrg: 404 },
      platform_admin: { own: 403, otherOrg: 404 },
    },
  },
  {
    name: '/api/v1/referral-attributions/:id',
    path: (_who, target) => `/api/v1/referral-attributions/${target === 'own' ? referralOf1 : target === 'sameOrg' ? referralOf3 : referralOfB}`,
    expected: {
      peer_mentor: { own: 200, sameOrg: 403, otherOrg: 404 },
      coordinator: { own: 200, sameOrg: 200, otherOrg: 404 },
      org_admin: { own: 200, sameOrg: 200, otherOrg: 404 },
      platform_admin: { own: 403, sameOrg: 403, otherOrg: 404 },
    },
  },
];

test('every read endpoint answers every role and target with the status its access rules give', async () => {
  const seen: string[] = [];
  const expected: string[] = [];
  for (const endpoint of matrix) {
    for (const [role, targets] of Object.entries(endpoint.expected) as Array<[Role, Partial<Record<Target, number>>]>) {
      for (const [target, status] of Object.entries(targets) as Array<[Target, number]>) {
        const response = await call(roles[role], endpoint.path(roles[role], target));
        seen.push(`${endpoint.name} ${role} ${target} ${response.status}`);
        expected.push(`${endpoint.name} ${role} ${target} ${status}`);
      }
    }
  }
  expect(seen).toEqual(expected);
});

test('no token or a bad one is 401, an id that is not a UUID is 400', async () => {
  for (const endpoint of matrix) {
    const path = endpoint.path(admin, 'own');
    expect({ path, status: (await call(undefined, path)).status }).toEqual({ path, status: 401 });
    const forged = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl' } });
    expect({ path, status: forged.status }).toEqual({ path, status: 401 });
    const notUuid = path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, 'not-a-uuid');
    expect({ notUuid, status: (await call(admin, notUuid)).status }).toEqual({ notUuid, status: 400 });
  }
});

test('a mentor lists only their own referrals, paged with a cursor', async () => {
  const first = await call(mentor1, '/api/v1/referral-attributions?limit=1');
  expect(first.body.items).toHaveLength(1);
  expect(first.body.nextCursor).toEqual(expect.any(String));
  const second = await call(mentor1, `/api/v1/referral-attributions?limit=1&cursor=${first.body.nextCursor}`);
  expect(second.body.items).toHaveLength(1);
  expect(second.body.nextCursor).toBeNull();
  expect([first.body.items[0].mentorId, second.body.items[0].mentorId]).toEqual([mentor1.id, mentor1.id]);
  expect(first.body.items[0].id).not.toBe(second.body.items[0].id);
  // Plain dates are whole days (UTC): today's referrals are in the day that ends tonight, not in the day before.
  const today = new Date().toISOString().slice(0, 10);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  expect((await call(mentor1, `/api/v1/referral-attributions?from=${today}&to=${today}`)).body.items).toHaveLength(2);
  expect((await call(mentor1, `/api/v1/referral-attributions?from=${yesterday}&to=${yesterday}`)).body.items).toHaveLength(0);
  expect((await call(mentor1, '/api/v1/referral-attributions?limit=-1')).status).toBe(400);
  // Dates the wrong way round are a mistake to point out, not an empty page.
  const reversed = await call(mentor1, `/api/v1/referral-attributions?from=${today}&to=${yesterday}`);
  expect({ status: reversed.status, details: reversed.body.error?.details }).toEqual({
    status: 400,
    details: [{ path: ['from'], code: 'custom', message: 'from must be before to' }],
  });
  expect((await call(mentor1, `/api/v1/referral-attributions/mentor/${mentor1.id}?from=${today}&to=${yesterday}`)).status).toBe(400);
  expect((await call(mentor1, '/api/v1/referral-attributions?cursor=garbage')).status).toBe(400);
});

test("a coordinator's mentors are peer mentors of the organisation, not its admins or coordinators", async () => {
  const stranger = randomUUID();
  const refused = await call(admin, `/api/v1/coordinators/${coordinator1.id}/mentors`, { method: 'PUT', body: { mentorIds: [mentor1.id, admin.id, coordinator2.id, stranger] } });
  expect(refused).toEqual({
    status: 422,
    body: {
      error: {
        code: 'unknown_mentors',
        message: 'Some ids are not peer mentors of this organisation (a mentor is known once they have signed in or been named in an upload)',
        details: { mentorIds: [admin.id, coordinator2.id, stranger] },
      },
    },
  });
  const aggregate = await call(coordinator1, `/api/v1/coordinators/${coordinator1.id}/aggregate`);
  expect(aggregate.body.mentors.map((mentor: { mentorId: string }) => mentor.mentorId).sort()).toEqual([mentor1.id, mentor2.id].sort());
});

test('settings accept seconds or ISO 8601 durations and refuse the rest', async () => {
  const saved = await call(admin, `/api/v1/orgs/${orgA}/settings`, {
    method: 'PUT',
    body: { attributionWindow: 'P30D', confirmationWindow: 'PT24H', dedupeWindow: 600, badgeMilestones: [1, 3, 10] },
  });
  expect(saved).toEqual({
    status: 200,
    body: { orgId: orgA, name: null, attributionWindowSeconds: 2_592_000, confirmationWindowSeconds: 86_400, dedupeWindowSeconds: 600, badgeMilestones: [1, 3, 10] },
  });
  // A month is not a fixed length: the answer says what to give instead.
  const month = await call(admin, `/api/v1/orgs/${orgA}/settings`, { method: 'PUT', body: { attributionWindow: 'P1M' } });
  expect(month.status).toBe(400);
  expect(month.body.error.details).toEqual([
    {
      path: ['attributionWindow'],
      code: 'custom',
      message: 'must be whole seconds or an ISO 8601 duration of weeks, days, hours, minutes or seconds such as "P30D" (months and years vary in length), from 1 s to 366 days',
    },
  ]);
  for (const body of [{ attributionWindow: 'P1Y' }, { badgeMilestones: [5, 1] }, { dedupeWindow: -1 }, {}, { other: 1 }]) {
    expect((await call(admin, `/api/v1/orgs/${orgA}/settings`, { method: 'PUT', body })).status).toBe(400);
  }
  expect((await call(coordinator1, `/api/v1/orgs/${orgA}/settings`, { method: 'PUT', body: { dedupeWindow: 1 } })).status).toBe(403);
  expect((await call(admin, `/api/v1/orgs/${orgB}/settings`, { method: 'PUT', body: { dedupeWindow: 1 } })).status).toBe(404);
  // What was saved can be read again, by the organisation's members: how long a link counts is no secret to its mentors.
  for (const who of [admin, coordinator1, mentor1]) expect(await call(who, `/api/v1/orgs/${orgA}/settings`)).toEqual(saved);
  expect((await call(platformAdmin, `/api/v1/orgs/${orgA}/settings`)).status).toBe(403);
  expect((await call(admin, `/api/v1/orgs/${orgB}/settings`)).status).toBe(404);
});

test('erasing a referral removes personal data and keeps the counts', async () => {
  const statsOf3 = () => call(admin, `/api/v1/mentors/${mentor3.id}/stats`);
  const before = await statsOf3();
  expect(before).toMatchObject({
    status: 200,
    body: { mentorId: mentor3.id, totalClicks: 1, pendingAttributions: 0, confirmedAttributions: 0, funnel: { clicked: 1, installed: 0, account_created: 0, first_login: 0 } },
  });
  expect((await call(coordinator1, `/api/v1/referral-attributions/${referralOf3}`, { method: 'DELETE' })).status).toBe(403);
  expect((await call(adminB, `/api/v1/referral-attributions/${referralOf3}`, { method: 'DELETE' })).status).toBe(404);
  expect((await call(admin, `/api/v1/referral-attributions/${referralOf3}`, { method: 'DELETE' })).status).toBe(204);
  const clicks = await harness.pool.query('SELECT visitor_hash, ip_hash, user_agent, device_metadata FROM click_events WHERE referral_id = $1', [referralOf3]);
  expect(clicks.rows).toEqual([{ visitor_hash: null, ip_hash: null, user_agent: null, device_metadata: { shareChannel: 'whatsapp' } }]);
  expect(await statsOf3()).toEqual(before);
  const detail = await call(admin, `/api/v1/referral-attributions/${referralOf3}`);
  expect(detail.body.timeline.map((event: { type: string }) => event.type)).toEqual(['click', 'erased']);
});

test("an erasure request names a member: an admin finds the member's referrals by the member's id", async () => {
  // An organisation of its own: the other tests count orgA's referrals.
  const org = await harness.seedOrg();
  const orgAdmin = person(org.orgId, 'org_admin');
  const firstMentor = person(org.orgId, 'peer_mentor');
  firstMentor.id = org.mentorId;
  const other = await harness.addCode({ orgId: org.orgId });
  const member = randomUUID();
  // The member followed two mentors' links and told the app their account on each; one confirmation settles them.
  const referrals = [];
  for (const code of [org, other]) {
    const clicked = await harness.service.recordClick({ code: code.code, visitorId: `${member}-device`, metadata: {} });
    await harness.service.recordFunnelStep(clicked, { type: 'account_created', idempotencyKey: randomUUID(), newMemberId: member });
    await eventually(async () => ((await harness.pool.query("SELECT 1 FROM referrals WHERE id = $1 AND stage = 'account_created'", [clicked.referralId])).rowCount ? true : undefined));
    referrals.push(clicked.referralId);
  }
  await harness.service.confirmRecruitment({ code: other.code, newMemberId: member, source: 'webhook' });
  const byMember = (who: Person) => call(who, `/api/v1/referral-attributions?newMemberId=${member}`);
  const found = await eventually(async () => {
    const { body } = await byMember(orgAdmin);
    return body.items.every((item: { status: string }) => item.status !== 'pending') ? body.items : undefined;
  });
  expect(found.map((item: { id: string; newMemberId: string }) => [item.id, item.newMemberId]).sort()).toEqual(referrals.map((id) => [id, member]).sort());
  expect(found.map((item: { status: string }) => item.status).sort()).toEqual(['confirmed', 'superseded']);
  // A mentor finds only their own; another organisation's admin nothing.
  expect((await byMember(firstMentor)).body.items.map((item: { id: string }) => item.id)).toEqual([referrals[0]]);
  expect((await byMember(adminB)).body.items).toEqual([]);
  expect((await call(orgAdmin, '/api/v1/referral-attributions?newMemberId=not-a-member')).status).toBe(400);
});

test('an erasure while Temporal is paused answers at once, erasing Postgres; its run is deleted once Temporal answers', async () => {
  // An organisation of its own: the other tests count orgA's referrals.
  const org = await harness.seedOrg();
  const orgAdmin = person(org.orgId, 'org_admin');
  const referral = await seedReferral({ id: org.mentorId, orgId: org.orgId, role: 'peer_mentor' }, false);
  const workflowId = await workflowIdOf(harness, referral);
  expect(await runsOf(harness, workflowId)).toEqual(['RUNNING']);
  const paused = await pausedTemporal();
  const cutOff = await listenApp({
    pool: harness.pool,
    temporal: paused.client,
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: 'api-reads-webhook-secret', HASH_SALT: 'test-only-hash-salt', SIGNAL_TIMEOUT_MS: 20_000 },
    taskQueue: harness.taskQueue,
  });
  const erasuresPending = async () => ((await (await fetch(`${cutOff.url}/readyz`)).json()) as { erasures: { runsPending: number } }).erasures.runsPending;
  try {
    const before = await erasuresPending();
    // The answer does not wait out the 20 s Temporal is given.
    const erase = await fetch(`${cutOff.url}/api/v1/referral-attributions/${referral}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await token(orgAdmin)}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(erase.status).toBe(204);
    // Operators see it wait, in /readyz and /metrics.
    expect(await erasuresPending()).toBe(before + 1);
    expect(await (await fetch(`${cutOff.url}/metrics`)).text()).toMatch(new RegExp(`^erasures_runs_pending ${before + 1}$`, 'm'));
  } finally {
    await cutOff.close();
    await paused.close();
  }
  const clicks = await harness.pool.query('SELECT visitor_hash IS NOT NULL AS identified FROM click_events WHERE referral_id = $1', [referral]);
  expect(clicks.rows).toEqual([{ identified: false }]);
  // Temporal still holds the run, and the erasure says so, until a worker's sweep reaches Temporal.
  expect(await runsOf(harness, workflowId)).toEqual(['RUNNING']);
  expect((await harness.pool.query('SELECT runs_pending_since IS NOT NULL AS pending FROM erasures WHERE referral_id = $1', [referral])).rows).toEqual([{ pending: true }]);
  expect(await sweptUntilDone(harness, referral)).toEqual([]);
});

test('the dashboard takes plain dates, counts whole days, defaults to the last 30, and says what is wrong in words', async () => {
  const byDates = await call(coordinator1, `/api/v1/orgs/${orgA}/recruitment-dashboard?from=2026-11-01&to=2026-11-30`);
  expect(byDates.status).toBe(200);
  expect({ from: byDates.body.from, to: byDates.body.to }).toEqual({ from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z' });
  const byDefault = await call(admin, `/api/v1/orgs/${orgA}/recruitment-dashboard`);
  expect(byDefault.status).toBe(200);
  // Whole days (UTC): the 30 ending with today.
  const endOfToday = `${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T00:00:00.000Z`;
  expect({ from: byDefault.body.from, to: byDefault.body.to }).toEqual({ from: new Date(Date.parse(endOfToday) - 30 * 86_400_000).toISOString(), to: endOfToday });
  expect(byDefault.body.timeSeries).toHaveLength(30);
  // This org's clicks all fall in the last 30 days.
  expect(byDefault.body.funnel.clicked).toBe(3);
  const wrong = await call(admin, `/api/v1/orgs/${orgA}/recruitment-dashboard?from=2026-11-31x`);
  expect(wrong.status).toBe(400);
  expect(JSON.stringify(wrong.body)).not.toMatch(/pattern|\\d|\^\(/);
  expect(wrong.body.error.details).toEqual([{ path: ['from'], code: 'invalid_union', message: 'must be a date (2026-11-01) or a date-time (2026-11-01T00:00:00Z)' }]);
});

test('an erased member is still known as counted: a later registration counts no one again, the token opens nothing', async () => {
  const code = await harness.addCode({ orgId: mentor2.orgId }, mentor2.id);
  const clicked = await harness.service.recordClick({ code: code.code, visitorId: randomUUID(), metadata: {} });
  const member = randomUUID();
  const confirmed = await harness.service.confirmRecruitment({ code: code.code, newMemberId: member, source: 'webhook' });
  expect(confirmed).toMatchObject({ referralId: clicked.referralId, status: 'confirmed' });
  const countsOf2 = async () => (await call(admin, `/api/v1/referral-attributions/mentor/${mentor2.id}/counts`)).body;
  const before = await countsOf2();
  const workflowId = await workflowIdOf(harness, clicked.referralId);
  expect((await call(admin, `/api/v1/referral-attributions/${clicked.referralId}`, { method: 'DELETE' })).status).toBe(204);
  // Its run is left to the workers' sweep, and writes none of the person's data back meanwhile.
  expect(await runsOf(harness, workflowId)).toEqual(['RUNNING']);
  const again = await harness.service.confirmRecruitment({ code: code.code, newMemberId: member, source: 'webhook', occurredAt: new Date().toISOString() });
  expect(again).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', newMemberId: null });
  const referrals = await harness.pool.query('SELECT id, new_member_id FROM referrals WHERE referral_code_id = $1', [code.codeId]);
  expect(referrals.rows).toEqual([{ id: clicked.referralId, new_member_id: null }]);
  expect(await countsOf2()).toEqual(before);
  const step = await fetch(`${base}/api/v1/referrals/${clicked.referralId}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await createReferralTokens(JWT_SECRET).issue(clicked)}` },
    body: JSON.stringify({ type: 'first_login', idempotencyKey: 'after-erasure', newMemberId: member }),
  });
  expect(step.status).toBe(404);
  const left = await harness.pool.query('SELECT (SELECT count(*)::int FROM referral_member_links WHERE referral_id = $1) AS links, (SELECT count(*)::int FROM intake WHERE referral_id = $1 AND kind = \'step\') AS steps', [clicked.referralId]);
  expect(left.rows[0]).toEqual({ links: 0, steps: 0 });
  const naming = await harness.pool.query('SELECT type FROM referral_events WHERE referral_id = $1 AND (idempotency_key LIKE $2 OR detail::text LIKE $2)', [clicked.referralId, `%${member}%`]);
  expect(naming.rows).toEqual([]);
  const { rows: keys } = await harness.pool.query("SELECT idempotency_key FROM referral_events WHERE referral_id = $1 AND type = 'confirmed'", [clicked.referralId]);
  expect(keys).toEqual([{ idempotency_key: `confirmed:${clicked.referralId}:${erasedMemberHash('test-only-hash-salt', mentor2.orgId, member)}` }]);
  // The history, with the member id in its inputs, is deleted too (the server deletes it behind its answer: ~35 s here).
  expect(await sweptUntilDone(harness, clicked.referralId)).toEqual([]);
  await expect(harness.client.workflow.getHandle(workflowId).fetchHistory()).rejects.toThrow(/not found/i);
}, 120_000);

test('a visitor whose referral was erased, clicking the link again, starts a new referral: nothing is written to the erased one', async () => {
  const mentor = person(orgA, 'peer_mentor');
  expect((await call(mentor, '/api/v1/referral-attributions?limit=1')).status).toBe(200);
  const code = await harness.addCode({ orgId: orgA }, mentor.id);
  const click = async () =>
    (await (
      await fetch(`${base}/api/v1/referral-attributions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: code.code, visitorId: 'returning-install' }) })
    ).json()) as { referralId: string; referralToken: string };
  const first = await click();
  await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [first.referralId])).rowCount ? true : undefined));
  expect((await call(admin, `/api/v1/referral-attributions/${first.referralId}`, { method: 'DELETE' })).status).toBe(204);
  // Nothing of it stays in the intake, delivered or not.
  expect((await harness.pool.query('SELECT count(*)::int AS n FROM intake WHERE referral_id = $1', [first.referralId])).rows).toEqual([{ n: 0 }]);

  const again = await click();
  expect(again.referralId).not.toBe(first.referralId);
  const step = await fetch(`${base}/api/v1/referrals/${again.referralId}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${again.referralToken}` },
    body: JSON.stringify({ type: 'installed', idempotencyKey: 'installed-again' }),
  });
  expect(step.status).toBe(202);
  await eventually(async () => ((await harness.pool.query("SELECT 1 FROM referrals WHERE id = $1 AND stage = 'installed'", [again.referralId])).rowCount ? true : undefined));
  const erased = await harness.pool.query('SELECT r.visitor_hash, (SELECT count(*)::int FROM click_events c WHERE c.referral_id = r.id) AS clicks FROM referrals r WHERE r.id = $1', [first.referralId]);
  expect(erased.rows).toEqual([{ visitor_hash: null, clicks: 1 }]);
  // Its token still opens nothing.
  const old = await fetch(`${base}/api/v1/referrals/${first.referralId}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${first.referralToken}` },
    body: JSON.stringify({ type: 'installed', idempotencyKey: 'installed-old' }),
  });
  expect(old.status).toBe(404);
}, 60_000);
