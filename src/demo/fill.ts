import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { signPayload } from '../api/webhook-signature';
import type { Caller } from '../domain/access';
import { DEMO_ADMIN, DEMO_ORG } from '../domain/demo';

export interface DemoOptions {
  /** The API the demo drives, built with `setClock`'s clock so each request happens at its journey's moment. */
  apiUrl: string;
  setClock: (at: Date) => void;
  jwtSecret: string;
  webhookSecret: string;
  journeys: number;
  now: Date;
  /** The same seed fills the same organisation. */
  seed?: number;
}

export interface DemoSummary {
  mentors: number;
  journeys: number;
  accounts: number;
  confirmations: number;
  heldForReview: number;
  referralIds: string[];
}

const MENTORS = [
  { name: 'Amina Yusuf', weight: 5, channel: 'whatsapp', campaign: 'spring-fair' },
  { name: 'Ben Carter', weight: 3, channel: 'sms', campaign: null },
  { name: 'Chen Wei', weight: 4, channel: 'qr', campaign: 'spring-fair' },
  { name: 'Dana Levi', weight: 2, channel: 'email', campaign: null },
  { name: 'Eli Moreau', weight: 1, channel: 'link', campaign: 'newsletter' },
  { name: 'Fatima Khan', weight: 3, channel: 'whatsapp', campaign: 'newsletter' },
] as const;
/** Whose invitations the accounts from one network come through. */
const SHARED_NETWORK_MENTOR = 1;
const COORDINATOR = { userId: '00000000-0000-4000-8000-00000000d002', name: 'Grace Okafor' };
const mentorId = (index: number) => `00000000-0000-4000-8000-00000000d1${String(index).padStart(2, '0')}`;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The weeks the journeys are spread over. */
const SPREAD_DAYS = 42;

/** A small seeded generator (mulberry32): the demo is the same each time it is filled. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Fills the demo organisation through the API: its name, a coordinator, six mentors with their invite links (the
 * bulk upload), and journeys over the last six weeks: clicks, installs, accounts, first logins and the membership
 * system's confirmations (some weeks late), a few accounts from one network held for review, and accounts whose
 * confirmation never came (stuck).
 */
export async function fillDemo(options: DemoOptions): Promise<DemoSummary> {
  const next = random(options.seed ?? 20_261_202);
  const between = (low: number, high: number) => low + (high - low) * next();
  const now = options.now.getTime();
  const key = new TextEncoder().encode(options.jwtSecret);
  const tokenFor = (caller: Caller, name: string) =>
    new SignJWT({ role: caller.role, org_id: caller.orgId, name }).setProtectedHeader({ alg: 'HS256' }).setSubject(caller.userId).setExpirationTime('1h').sign(key);
  const adminToken = await tokenFor(DEMO_ADMIN.caller, DEMO_ADMIN.name);

  async function request(path: string, init: { method?: string; body?: string; headers?: Record<string, string>; at?: number } = {}) {
    options.setClock(new Date(init.at ?? now));
    const response = await fetch(`${options.apiUrl}${path}`, {
      method: init.method ?? (init.body ? 'POST' : 'GET'),
      headers: { 'content-type': 'application/json', ...init.headers },
      body: init.body,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${init.method ?? 'POST'} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
  const asAdmin = { authorization: `Bearer ${adminToken}` };
  /** Waits for the worker to write a referral's account: the list is read from what the workflows wrote. */
  async function recorded(referralId: string, newMemberId: string) {
    for (let attempt = 0; attempt < 300; attempt += 1) {
      const response = await fetch(`${options.apiUrl}/api/v1/referral-attributions?newMemberId=${newMemberId}`, { headers: asAdmin });
      if (response.ok && ((await response.json()) as { items: Array<{ id: string }> }).items.some((item) => item.id === referralId)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`referral ${referralId} was not recorded in 30 s: is the worker running (npm start)?`);
  }

  await request(`/api/v1/orgs/${DEMO_ORG.id}/settings`, { method: 'PUT', body: JSON.stringify({ name: DEMO_ORG.name }), headers: asAdmin });
  // Points per recruit, double for the spring fair's last two weeks, bonuses at 5 and 10; held two weeks. The six
  // weeks' rewards are all written as the fill runs, so all count towards one mentor's 30 days: above 4,000 points,
  // only the busiest mentor's last few wait for a coordinator.
  const rewards = {
    unit: 'points',
    perConfirmedRecruit: 100,
    milestoneBonuses: [
      { milestone: 5, amount: 250 },
      { milestone: 10, amount: 500 },
    ],
    campaigns: [{ campaign: 'spring-fair', from: new Date(now - 14 * DAY_MS).toISOString(), to: new Date(now + DAY_MS).toISOString(), multiplier: 2 }],
    welcomeReward: { description: 'a free first month of membership' },
    holdingPeriod: 'P14D',
    approvalAbove: 4000,
  };
  await request(`/api/v1/orgs/${DEMO_ORG.id}/rewards`, { method: 'PUT', body: JSON.stringify(rewards), headers: asAdmin });
  await request('/api/v1/me', { headers: { authorization: `Bearer ${await tokenFor({ userId: COORDINATOR.userId, orgId: DEMO_ORG.id, role: 'coordinator' }, COORDINATOR.name)}` } });
  const csv = ['mentorId,displayName,campaign,channel', ...MENTORS.map((mentor, index) => `${mentorId(index)},${mentor.name},${mentor.campaign ?? ''},${mentor.channel}`)].join('\n');
  const uploaded = await request('/api/v1/referral-codes/bulk', { method: 'POST', body: csv, headers: { ...asAdmin, 'content-type': 'text/csv' } });
  const codes: string[] = uploaded.rows.map((row: { code: string }) => row.code);
  await request(`/api/v1/coordinators/${COORDINATOR.userId}/mentors`, { method: 'PUT', body: JSON.stringify({ mentorIds: MENTORS.map((_, index) => mentorId(index)) }), headers: asAdmin });

  const totalWeight = MENTORS.reduce((sum, mentor) => sum + mentor.weight, 0);
  const pickMentor = () => {
    let draw = next() * totalWeight;
    return Math.max(0, MENTORS.findIndex((mentor) => (draw -= mentor.weight) < 0));
  };
  const summary: DemoSummary = { mentors: MENTORS.length, journeys: 0, accounts: 0, confirmations: 0, heldForReview: 0, referralIds: [] };
  // Accounts from one network, one after another: the third and later are held for review.
  const sharedNetwork = '10.250.0.7';
  const sharedNetworkJourneys = 4;

  // Clicks are sent in the order they happened, as they would have come (a code's burst rule reads the last minute).
  const plan = Array.from({ length: options.journeys }, (_, journey) => {
    const sharedIndex = journey - (options.journeys - sharedNetworkJourneys);
    const fromSharedNetwork = sharedIndex >= 0;
    return {
      fromSharedNetwork,
      mentor: fromSharedNetwork ? SHARED_NETWORK_MENTOR : pickMentor(),
      clickedAt: fromSharedNetwork ? now - 3 * DAY_MS + sharedIndex * 2 * HOUR_MS : now - between(0.02, SPREAD_DAYS) * DAY_MS,
      client: fromSharedNetwork ? sharedNetwork : `10.${Math.floor(between(0, 250))}.${Math.floor(between(0, 255))}.${Math.floor(between(1, 255))}`,
    };
  }).sort((a, b) => a.clickedAt - b.clickedAt);
  let sharedAccounts = 0;

  for (const { fromSharedNetwork, mentor, clickedAt, client } of plan) {
    const headers = { 'x-forwarded-for': client, 'user-agent': 'Mozilla/5.0 (demo)' };
    const click = await request('/api/v1/referral-attributions', {
      body: JSON.stringify({ code: codes[mentor], visitorId: randomUUID(), metadata: { platform: next() < 0.6 ? 'android' : 'ios', shareChannel: MENTORS[mentor].channel } }),
      headers,
      at: clickedAt,
    });
    summary.journeys += 1;
    summary.referralIds.push(click.referralId);
    const installs = fromSharedNetwork || next() < 0.6;
    if (!installs) continue;
    let at = clickedAt + (fromSharedNetwork ? 0.1 : between(0.05, 6)) * HOUR_MS;
    const step = (type: string, body: Record<string, unknown> = {}) =>
      request(`/api/v1/referrals/${click.referralId}/events`, {
        body: JSON.stringify({ type, occurredAt: new Date(Math.min(at, now)).toISOString(), idempotencyKey: randomUUID(), ...body }),
        headers: { ...headers, authorization: `Bearer ${click.referralToken}` },
        at: Math.min(at, now),
      });
    await step('installed');
    if (!fromSharedNetwork && next() < 0.3) continue;
    at += (fromSharedNetwork ? 0.1 : between(0.1, 30)) * HOUR_MS;
    if (at >= now) continue;
    const newMemberId = randomUUID();
    await step('account_created', { newMemberId });
    summary.accounts += 1;
    if (fromSharedNetwork) {
      // The risk check counts the accounts the journey already recorded: the next waits until this one is.
      await recorded(click.referralId, newMemberId);
      sharedAccounts += 1;
      summary.heldForReview += sharedAccounts >= 3 ? 1 : 0;
      continue;
    }
    if (next() < 0.8) {
      at += between(0.1, 12) * HOUR_MS;
      if (at < now) await step('first_login');
    }
    // Most memberships are confirmed within two days, some weeks later; a few never are (stuck once overdue).
    const confirmation = next();
    if (confirmation >= 0.85) continue;
    const confirmedAt = at + (confirmation < 0.65 ? between(1, 48) * HOUR_MS : between(3, 20) * DAY_MS);
    if (confirmedAt >= now) continue;
    const raw = JSON.stringify({ event: 'member.registered', referralCode: codes[mentor], newMemberId, occurredAt: new Date(confirmedAt).toISOString(), deliveryId: randomUUID() });
    const signedAt = Math.floor(Date.now() / 1000);
    await request('/api/v1/webhooks/membership', { body: raw, headers: { 'x-signature': `t=${signedAt},v1=${signPayload(options.webhookSecret, signedAt, raw)}` }, at: confirmedAt });
    summary.confirmations += 1;
  }
  return summary;
}
