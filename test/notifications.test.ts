import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { simpleParser } from 'mailparser';
import type { Role } from '../src/domain/access';
import { createMailer } from '../src/notifications/mail';
import { startNotifier, type RunningNotifier } from '../src/worker/notifier';
import { listenApp, registerMember, reportAccount, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';
import { startSmtpServer, type TestSmtpServer } from './support/smtp';

// Mentors are told what their invitations achieved, once each, through a real SMTP server started here.
const JWT_SECRET = 'notifications-test-jwt-secret-0123456789';
const WEBHOOK_SECRET = 'notifications-test-webhook-secret';
const DAY_MS = 86_400_000;

let harness: Harness;
let api: ListeningApi;
let smtp: TestSmtpServer;

const orgId = randomUUID();
const person = (role: Role, name: string, email?: string) => ({ id: randomUUID(), role, name, email });
const admin = person('org_admin', 'Olga Admin');
const maria = person('peer_mentor', 'Maria Mentor', 'maria@example.org');
const quiet = person('peer_mentor', 'Quinn Quiet', 'quinn@example.org');
const weekly = person('peer_mentor', 'Wen Weekly', 'wen@example.org');
const unreachable = person('peer_mentor', 'Nadia Noaddress');

const token = (who: ReturnType<typeof person>) =>
  new SignJWT({ role: who.role, org_id: orgId, name: who.name, ...(who.email ? { email: who.email } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function call(who: ReturnType<typeof person> | undefined, route: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(who ? { authorization: `Bearer ${await token(who)}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const registration = (code: string, newMemberId: string, deliveryId = randomUUID()) => registerMember(api.url, WEBHOOK_SECRET, { code, newMemberId, deliveryId });

/** A recruit of the mentor's, confirmed: click, account, and the membership system's word (`repeats` times). */
async function recruit(mentor: ReturnType<typeof person>, repeats = 1): Promise<{ referralId: string; code: string; newMemberId: string }> {
  const code = (await call(admin, '/api/v1/referral-codes', 'POST', { mentorId: mentor.id })).body.code;
  const click = await call(undefined, '/api/v1/referral-attributions', 'POST', { code, visitorId: randomUUID() });
  const newMemberId = randomUUID();
  expect((await reportAccount(api.url, click.body, newMemberId)).status).toBe(202);
  const deliveryId = randomUUID();
  for (let attempt = 0; attempt < repeats; attempt += 1) {
    // The same delivery again, and a retry with a new id: both the same registration.
    expect((await registration(code, newMemberId, attempt % 2 === 0 ? deliveryId : randomUUID())).status).toBe(200);
  }
  return { referralId: click.body.referralId, code, newMemberId };
}

const notificationsOf = (mentorId: string) =>
  harness.pool.query<{ kind: string; outcome: string | null }>('SELECT kind, outcome FROM mentor_notifications WHERE mentor_id = $1 ORDER BY kind', [mentorId]).then((result) => result.rows);

function notifierAt(clock: () => Date): RunningNotifier {
  return startNotifier({
    pool: harness.pool,
    mailer: createMailer({ smtpUrl: smtp.url, folder: '', from: 'Referrals <no-reply@example.org>' }),
    dashboardUrl: 'https://referrals.example.org/dashboard',
    clock,
    // The test runs the rounds itself: the loop's first would come in an hour.
    pollMs: 3_600_000,
  });
}

beforeAll(async () => {
  smtp = await startSmtpServer();
  harness = await openHarness();
  await harness.startWorker();
  api = await listenApp({ pool: harness.pool, temporal: harness.client, config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT: 'notifications-salt-0123' }, taskQueue: harness.taskQueue });
  for (const who of [admin, maria, quiet, weekly, unreachable]) expect((await call(who, '/api/v1/me')).status).toBe(200);
});

afterAll(async () => {
  await api?.close();
  await harness?.close();
  await smtp?.close();
});

test('a confirmed recruit and the milestone it reaches are emailed once each, however often the webhook comes', async () => {
  const confirmed = await recruit(maria, 3);
  await eventually(async () => ((await notificationsOf(maria.id)).length === 2 ? true : undefined));
  const notifier = notifierAt(() => new Date());
  try {
    await eventually(async () => {
      await notifier.round();
      return smtp.to(maria.email!).length === 2 ? true : undefined;
    });
    // Delivered again after the messages went: nothing more is sent.
    expect((await registration(confirmed.code, confirmed.newMemberId)).status).toBe(200);
    await notifier.round();
  } finally {
    await notifier.stop();
  }
  const toMaria = smtp.to(maria.email!);
  expect(toMaria.map((mail) => mail.subject).sort()).toEqual(['your organisation: a recruit of yours joined', 'your organisation: you reached a milestone']);
  const joined = toMaria.find((mail) => mail.subject?.endsWith('joined'))!;
  expect(joined.text).toBe('Hello Maria,\nSomeone you invited is now a confirmed member.\nThank you for bringing people to your organisation.\n\nSee your figures: https://referrals.example.org/dashboard\nHow often we email you: choose under "Emails to you" on your dashboard.');
  expect(joined.html).toContain('<a href="https://referrals.example.org/dashboard">See your figures</a>');
  expect(joined.html).toContain('How often we email you: choose under &quot;Emails to you&quot; on your dashboard.');
  expect(joined.from?.text).toBe('"Referrals" <no-reply@example.org>');
  expect(joined.messageId).toMatch(/^<[0-9a-f-]{36}@referral-attribution>$/);
  expect(await notificationsOf(maria.id)).toEqual([
    { kind: 'milestone', outcome: 'sent' },
    { kind: 'recruit_confirmed', outcome: 'sent' },
  ]);
});

test('a mentor who wants none gets none, one without an address is not tried, a refusing server is tried again', async () => {
  expect((await call(quiet, `/api/v1/mentors/${quiet.id}/notification-preferences`, 'PUT', { delivery: 'none' })).body).toEqual({ mentorId: quiet.id, delivery: 'none' });
  expect((await call(quiet, `/api/v1/mentors/${maria.id}/notification-preferences`, 'PUT', { delivery: 'none' })).status).toBe(403);
  expect((await call(quiet, `/api/v1/mentors/${quiet.id}/notification-preferences`, 'PUT', { delivery: 'sometimes' })).status).toBe(400);
  await recruit(quiet);
  await recruit(unreachable);
  const before = smtp.received.length;
  smtp.refuseNext(1);
  const { referralId: second } = await recruit(maria);
  await eventually(async () => ((await notificationsOf(unreachable.id)).length === 2 && (await notificationsOf(quiet.id)).length === 2 ? true : undefined));
  await eventually(async () => ((await harness.pool.query("SELECT 1 FROM mentor_notifications WHERE subject_id = $1", [second])).rowCount ? true : undefined));
  const notifier = notifierAt(() => new Date());
  try {
    await notifier.round();
    expect(smtp.received.length).toBe(before);
    await notifier.round();
  } finally {
    await notifier.stop();
  }
  expect(smtp.received.length).toBe(before + 1);
  expect(smtp.received[smtp.received.length - 1].subject).toBe('your organisation: a recruit of yours joined');
  expect((await notificationsOf(quiet.id)).map((row) => row.outcome)).toEqual(['not_wanted', 'not_wanted']);
  expect((await notificationsOf(unreachable.id)).map((row) => row.outcome)).toEqual(['no_address', 'no_address']);
});

test('a weekly digest instead: nothing until the week is over, then one message of the week', async () => {
  expect((await call(weekly, `/api/v1/mentors/${weekly.id}/notification-preferences`, 'PUT', { delivery: 'weekly_digest' })).status).toBe(200);
  await recruit(weekly);
  await recruit(weekly);
  await eventually(async () => ((await notificationsOf(weekly.id)).length === 3 ? true : undefined));
  const toWen = () => smtp.to(weekly.email!);
  const today = notifierAt(() => new Date());
  try {
    await today.round();
  } finally {
    await today.stop();
  }
  expect(toWen()).toEqual([]);
  const nextWeek = notifierAt(() => new Date(Date.now() + 7 * DAY_MS + 60_000));
  try {
    await nextWeek.round();
    await nextWeek.round();
  } finally {
    await nextWeek.stop();
  }
  expect(toWen().map((mail) => [mail.subject, mail.text])).toEqual([
    [
      'your organisation: your week',
      'Hello Wen,\nYour week at your organisation:\n2 recruits of yours became confirmed members.\nYou reached 1 confirmed recruit: a new badge is yours.\n\nSee your figures: https://referrals.example.org/dashboard\nHow often we email you: choose under "Emails to you" on your dashboard.',
    ],
  ]);
  expect((await notificationsOf(weekly.id)).map((row) => row.outcome)).toEqual(['digested', 'digested', 'digested']);
});

test('with no SMTP_URL (development) each message is an .eml file in the mail folder', async () => {
  const folder = path.join(mkdtempSync(path.join(tmpdir(), 'mail-')), 'mail');
  const mailer = createMailer({ folder, from: 'Referrals <no-reply@localhost>' });
  await mailer.send({ to: 'someone@example.org', subject: 'Hello', text: 'plain', html: '<p>html</p>', messageId: '<m1@referral-attribution>' });
  const [file] = readdirSync(folder);
  const parsed = await simpleParser(readFileSync(path.join(folder, file)));
  expect([parsed.subject, parsed.text, parsed.messageId, mailer.folder]).toEqual(['Hello', 'plain', '<m1@referral-attribution>', folder]);
});
