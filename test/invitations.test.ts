import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { SignJWT } from 'jose';
import type { ParsedMail } from 'mailparser';
import { createMailer, MailNotConfiguredError } from '../src/notifications/mail';
import { createInvitationStarts } from '../src/services/invitation-start';
import { startInvitationStarter } from '../src/worker/invitation-starter';
import type { Role } from '../src/domain/access';
import { listenApp, registerMember, reportAccount, type ListeningApi } from './support/api';
import { eventually, openHarness, type Harness } from './support/harness';
import { invitationWorkflowId } from '../src/workflows/invitation-workflow';
import { resendInvitationSignal } from '../src/workflows/messages';
import { pausedTemporal } from './support/paused-temporal';
import { startSmtpServer, type TestSmtpServer } from './support/smtp';

// Invitations by email, each a workflow of its own, through a real SMTP server started here.
const JWT_SECRET = 'invitations-test-jwt-secret-0123456789';
const WEBHOOK_SECRET = 'invitations-test-webhook-secret';
// The worker's (test/support/harness.ts): unsubscribe links are signed with it.
const HASH_SALT = 'test-only-hash-salt';
const REMINDER_SECONDS = 3;

let harness: Harness;
let api: ListeningApi;
let smtp: TestSmtpServer;

const orgId = randomUUID();
const person = (role: Role, name: string) => ({ id: randomUUID(), role, name });
const maria = person('peer_mentor', 'Maria Mentor');
const other = person('peer_mentor', 'Omar Other');
const coordinator = person('coordinator', 'Cleo Coordinator');
const admin = person('org_admin', 'Ada Admin');

const token = (who: ReturnType<typeof person>) =>
  new SignJWT({ role: who.role, org_id: orgId, name: who.name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(who.id)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(JWT_SECRET));

async function call(who: ReturnType<typeof person> | undefined, route: string, method = 'GET', body?: unknown) {
  const response = await fetch(`${api.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(who ? { authorization: `Bearer ${await token(who)}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const mailTo = (address: string) => smtp.to(address);
/** A header as it was written (mailparser parses List-* headers into objects). */
const rawHeader = (mail: ParsedMail, name: string) => mail.headerLines.find((header) => header.key === name)?.line.slice(name.length + 1).trim();
const invitationOf = async (id: string) => (await harness.pool.query('SELECT status, email, reminded_at FROM invitations WHERE id = $1', [id])).rows[0];

beforeAll(async () => {
  smtp = await startSmtpServer();
  harness = await openHarness();
  api = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: {
      JWT_SECRET,
      MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET,
      HASH_SALT,
      INVITATIONS_PER_MENTOR_PER_DAY: 4,
      INVITATION_REMINDER_SECONDS: REMINDER_SECONDS,
      INVITATION_EXPIRY_SECONDS: 3600,
    },
    taskQueue: harness.taskQueue,
  });
  await harness.startWorker({ smtpUrl: smtp.url, publicBaseUrl: api.url });
  for (const who of [maria, other, coordinator, admin]) expect((await call(who, '/api/v1/me')).status).toBe(200);
});

afterAll(async () => {
  await api?.close();
  await harness?.close();
  await smtp?.close();
});

test("an invitation arrives with the mentor's link; its click marks it clicked and no reminder follows; joining closes it", async () => {
  const invited = await call(maria, '/api/v1/invitations', 'POST', { email: 'Ana@Example.org', name: 'Ana Lopez', message: 'Come along on Thursday!' });
  expect(invited.status).toBe(201);
  expect(invited.body).toMatchObject({ mentorId: maria.id, email: 'Ana@Example.org', name: 'Ana Lopez', status: 'sending' });
  const [mail] = await eventually(async () => (mailTo('Ana@Example.org').length === 1 ? mailTo('Ana@Example.org') : undefined));
  expect(mail.subject).toBe('Maria invited you to our organisation');
  const link = new URL(mail.text!.match(/Join here: (\S+)/)![1]);
  expect([link.origin, link.pathname.startsWith('/r/'), link.searchParams.get('ch'), link.searchParams.get('inv')]).toEqual([api.url, true, 'email', invited.body.id]);
  expect(mail.text).toContain('Maria wrote: "Come along on Thursday!"');
  expect(mail.text).toContain('Hello Ana,');
  // One-click unsubscribe (RFC 8058).
  expect(rawHeader(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
  expect(rawHeader(mail, 'list-unsubscribe')).toMatch(new RegExp(`^<${api.url}/unsubscribe/[0-9a-f.-]+>$`));

  // The invitee opens the link: the click is taken, the invitation is clicked.
  const page = await fetch(link, { headers: { 'x-forwarded-for': '198.51.100.7' } });
  expect(page.status).toBe(200);
  expect((await invitationOf(invited.body.id)).status).toBe('clicked');
  // The reminder's time passes: nothing more is sent to a clicked invitation.
  await new Promise((resolve) => setTimeout(resolve, (REMINDER_SECONDS + 2) * 1000));
  expect(mailTo('Ana@Example.org')).toHaveLength(1);

  // The member account is confirmed through that click: the invitation joined, and its address is dropped.
  const html = await page.text();
  const deepLink = new URL(html.match(/href="(referralapp:\/\/join\?[^"]+)"/)![1].replace(/&amp;/g, '&'));
  const newMemberId = randomUUID();
  const referral = { referralId: deepLink.searchParams.get('referralId')!, referralToken: deepLink.searchParams.get('referralToken')! };
  expect((await reportAccount(api.url, referral, newMemberId)).status).toBe(202);
  expect((await registerMember(api.url, WEBHOOK_SECRET, { code: link.pathname.slice(3), newMemberId })).status).toBe(200);
  expect(await eventually(async () => ((await invitationOf(invited.body.id)).status === 'joined' ? invitationOf(invited.body.id) : undefined))).toMatchObject({ status: 'joined', email: null });
});

test('an invitation not clicked gets one reminder; a cancelled one gets nothing more', async () => {
  const reminded = await call(maria, '/api/v1/invitations', 'POST', { email: 'ben@example.org' });
  const cancelled = await call(maria, '/api/v1/invitations', 'POST', { email: 'cai@example.org' });
  await eventually(async () => (mailTo('cai@example.org').length === 1 ? true : undefined));
  expect((await call(other, `/api/v1/invitations/${cancelled.body.id}/cancel`, 'POST')).status).toBe(403);
  const cancel = await call(maria, `/api/v1/invitations/${cancelled.body.id}/cancel`, 'POST');
  expect(cancel.body).toMatchObject({ status: 'cancelled', email: null });
  expect((await call(maria, `/api/v1/invitations/${cancelled.body.id}/cancel`, 'POST')).status).toBe(409);
  // Sending a cancelled invitation again says why it cannot be, not that it is too soon.
  const resendCancelled = await call(maria, `/api/v1/invitations/${cancelled.body.id}/resend`, 'POST');
  expect([resendCancelled.status, resendCancelled.body]).toEqual([409, { error: { code: 'conflict', message: 'This invitation is no longer open: it was cancelled, or it has ended' } }]);
  await eventually(async () => (mailTo('ben@example.org').length === 2 ? true : undefined), 20_000);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  expect(mailTo('ben@example.org').map((mail) => mail.subject)).toEqual(['Maria invited you to our organisation', 'A reminder: Maria invited you to our organisation']);
  expect(mailTo('cai@example.org')).toHaveLength(1);
  expect((await invitationOf(reminded.body.id)).reminded_at).not.toBeNull();
  // A resend is allowed once a day: this one was sent just now.
  expect((await call(maria, `/api/v1/invitations/${reminded.body.id}/resend`, 'POST')).status).toBe(409);
  // A day later it may be sent again: the workflow sends it, a message of its own.
  await harness.pool.query("UPDATE invitations SET last_sent_at = now() - interval '25 hours' WHERE id = $1", [reminded.body.id]);
  expect((await call(maria, `/api/v1/invitations/${reminded.body.id}/resend`, 'POST')).status).toBe(202);
  const resent = await eventually(async () => (mailTo('ben@example.org').length === 3 ? mailTo('ben@example.org')[2] : undefined));
  expect(resent.subject).toBe('Maria invited you to our organisation');
  expect(new Set(mailTo('ben@example.org').map((mail) => mail.messageId)).size).toBe(3);
  expect((await call(maria, `/api/v1/invitations/${reminded.body.id}/resend`, 'POST')).status).toBe(409);
});

test('an address the mail server refuses for good bounces, and is not tried again', async () => {
  const bounced = await call(other, '/api/v1/invitations', 'POST', { email: 'nobody@example.org' });
  expect(await eventually(async () => ((await invitationOf(bounced.body.id)).status === 'bounced' ? invitationOf(bounced.body.id) : undefined))).toMatchObject({ status: 'bounced', email: null });
  await new Promise((resolve) => setTimeout(resolve, (REMINDER_SECONDS + 1) * 1000));
  expect(mailTo('nobody@example.org')).toEqual([]);
  expect((await invitationOf(bounced.body.id)).reminded_at).toBeNull();
});

test('an address that unsubscribed is never emailed again by anyone in the organisation; limits say why', async () => {
  const first = await call(maria, '/api/v1/invitations', 'POST', { email: 'dee@example.org' });
  const [mail] = await eventually(async () => (mailTo('dee@example.org').length === 1 ? mailTo('dee@example.org') : undefined));
  const unsubscribeUrl = rawHeader(mail, 'list-unsubscribe')!.slice(1, -1);
  const page = await fetch(unsubscribeUrl);
  expect([page.status, (await page.text()).includes('Stop the emails')]).toEqual([200, true]);
  // What a mail client's one-click sends.
  const oneClick = await fetch(unsubscribeUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
  expect([oneClick.status, (await oneClick.text()).includes('You will get no more emails')]).toEqual([200, true]);
  expect((await invitationOf(first.body.id)).status).toBe('cancelled');
  const again = await call(other, '/api/v1/invitations', 'POST', { email: 'DEE@example.org' });
  expect([again.status, again.body.error.code]).toEqual([422, 'address_unsubscribed']);
  expect((await fetch(`${unsubscribeUrl.slice(0, -4)}beef`, { method: 'POST' })).status).toBe(404);

  const twice = await call(other, '/api/v1/invitations', 'POST', { email: 'ana@example.org' });
  expect([twice.status, twice.body.error.message]).toEqual([409, 'This address was invited in the last 30 days']);
  const injected = await call(maria, '/api/v1/invitations', 'POST', { email: 'eve@example.org\r\nBcc: all@example.org' });
  expect(injected.status).toBe(400);
  const badName = await call(maria, '/api/v1/invitations', 'POST', { email: 'fay@example.org', name: 'Fay\r\nBcc: x@example.org' });
  expect(badName.status).toBe(400);
  // Maria has sent four today: the fifth is refused, and says when to try.
  const fifth = await call(maria, '/api/v1/invitations', 'POST', { email: 'gus@example.org' });
  expect([fifth.status, fifth.body.error.message]).toEqual([429, 'At most 4 invitations a day']);

  const mine = await call(maria, '/api/v1/invitations');
  expect(mine.body.items.map((item: { mentorId: string }) => item.mentorId).every((id: string) => id === maria.id)).toBe(true);
  expect(mine.body.items).toHaveLength(4);
  // The coordinator sees the organisation's: Maria's four and Omar's bounced one.
  const all = await call(coordinator, '/api/v1/invitations');
  expect(all.body.items).toHaveLength(5);
  // Closed invitations keep no address.
  expect(all.body.items.filter((item: { closedAt: string | null; email: string | null }) => item.closedAt !== null && item.email !== null)).toEqual([]);
});

test("an org admin's upload invites for a campaign on behalf of named mentors; a row that fails says why, the others go", async () => {
  const csv = ['Mentor ID;E-mail;Name;Notes', `${other.id};hal@example.org;Hal;met at the fair`, `${other.id};not-an-address;X`, `${randomUUID()};ivy@example.org;Ivy`].join('\n');
  const upload = await fetch(`${api.url}/api/v1/invitations/bulk?campaign=autumn`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', authorization: `Bearer ${await token(admin)}` },
    body: `\ufeff${csv}`,
  });
  expect(upload.status).toBe(200);
  const { rows, ignoredColumns } = await upload.json();
  expect(ignoredColumns).toEqual(['Notes']);
  expect(rows).toEqual([
    { line: 2, status: 'sent', invitationId: expect.any(String), mentorId: other.id },
    { line: 3, status: 'error', errors: ['email: Invalid email address'] },
    { line: 4, status: 'error', errors: ['mentor not found'] },
  ]);
  const [mail] = await eventually(async () => (mailTo('hal@example.org').length === 1 ? mailTo('hal@example.org') : undefined));
  expect(mail.subject).toBe('Omar invited you to our organisation');
  const code = new URL(mail.text!.match(/Join here: (\S+)/)![1]).pathname.slice(3);
  expect((await harness.pool.query('SELECT campaign, mentor_id FROM referral_codes WHERE code = $1', [code])).rows).toEqual([{ campaign: 'autumn', mentor_id: other.id }]);
  const asMentor = await fetch(`${api.url}/api/v1/invitations/bulk`, { method: 'POST', headers: { 'content-type': 'text/csv', authorization: `Bearer ${await token(maria)}` }, body: csv });
  expect(asMentor.status).toBe(403);
});

test("an org admin's upload is not held to a mentor's daily limit, and leaves the mentor's own sending as it was", async () => {
  const newcomer = person('peer_mentor', 'Nia Newcomer');
  expect((await call(newcomer, '/api/v1/me')).status).toBe(200);
  const addresses = Array.from({ length: 6 }, (_, index) => `upload-${index}@example.org`);
  const upload = await fetch(`${api.url}/api/v1/invitations/bulk?campaign=winter`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', authorization: `Bearer ${await token(admin)}` },
    body: ['mentorId,email', ...addresses.map((address) => `${newcomer.id},${address}`)].join('\n'),
  });
  expect(upload.status).toBe(200);
  expect((await upload.json()).rows.map((row: { status: string }) => row.status)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent', 'sent']);
  await eventually(async () => (addresses.every((address) => mailTo(address).length === 1) ? true : undefined));
  // The limit is 4 a day here: the mentor's own four go, the fifth does not.
  for (const index of [0, 1, 2, 3]) expect((await call(newcomer, '/api/v1/invitations', 'POST', { email: `own-${index}@example.org` })).status).toBe(201);
  const fifth = await call(newcomer, '/api/v1/invitations', 'POST', { email: 'own-4@example.org' });
  expect([fifth.status, fifth.body.error.message]).toEqual([429, 'At most 4 invitations a day']);
  expect((await call(newcomer, '/api/v1/invitations')).body.items).toHaveLength(10);
});

test('an invitation taken while Temporal is paused is answered within seconds, and sent once when a worker starts it', async () => {
  const paused = await pausedTemporal();
  const cutOff = await listenApp({
    pool: harness.pool,
    temporal: paused.client,
    config: { JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT },
    taskQueue: harness.taskQueue,
  });
  const writer = person('peer_mentor', 'Wes Writer');
  const post = async (route: string, body: unknown) =>
    fetch(`${cutOff.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(writer)}` }, body: JSON.stringify(body) });
  try {
    const taken = await post('/api/v1/invitations', { email: 'late@example.org', name: 'Lee' });
    expect(taken.status).toBe(201);
    const invitation = await taken.json();
    expect(invitation).toMatchObject({ email: 'late@example.org', status: 'sending', sentAt: null });
    expect((await harness.pool.query('SELECT workflow_started_at FROM invitations WHERE id = $1', [invitation.id])).rows[0].workflow_started_at).toBeNull();
    // Operators see it waiting, in /readyz and /metrics.
    expect(((await (await fetch(`${cutOff.url}/readyz`)).json()) as { invitations: { awaitingStart: number } }).invitations.awaitingStart).toBe(1);
    expect(await (await fetch(`${cutOff.url}/metrics`)).text()).toMatch(/^invitations_awaiting_start 1$/m);
    // A resend asks the invitation's workflow: with Temporal paused it is refused, to be asked again.
    expect((await post(`/api/v1/invitations/${invitation.id}/resend`, {})).status).toBe(503);
    expect(mailTo('late@example.org')).toHaveLength(0);
    // Asked again once Temporal answers, before any worker started the invitation, it sends the first email.
    const other = await (await post('/api/v1/invitations', { email: 'resent@example.org' })).json();
    expect((await call(writer, `/api/v1/invitations/${other.id}/resend`, 'POST')).status).toBe(202);
    await eventually(async () => (mailTo('resent@example.org').length === 1 ? true : undefined), 30_000, 'the resent invitation');
    // Cancelled before any worker started it, it is never started; its email never went, so the address may be invited again.
    const cancelled = await (await post('/api/v1/invitations', { email: 'changed-mind@example.org' })).json();
    expect((await call(writer, `/api/v1/invitations/${cancelled.id}/cancel`, 'POST')).status).toBe(200);
    const invitedAgain = await post('/api/v1/invitations', { email: 'changed-mind@example.org', name: 'Chan' });
    expect(invitedAgain.status).toBe(201);
    const again = await invitedAgain.json();

    const starts = createInvitationStarts({ pool: harness.pool, temporal: harness.client, timing: { reminderAfterMs: 3_600_000, expireAfterMs: 7_200_000 }, taskQueue: harness.taskQueue });
    const starter = startInvitationStarter({ starts, pollMs: 100, graceMs: 0 });
    try {
      await eventually(async () => (mailTo('late@example.org').length === 1 && mailTo('changed-mind@example.org').length === 1 ? true : undefined), 30_000, 'the invitations sent');
    } finally {
      await starter.stop();
    }
    // Started once: another round finds nothing to start.
    expect(await starts.startAwaiting(0)).toBe(0);
    expect(((await (await fetch(`${cutOff.url}/readyz`)).json()) as { invitations: unknown }).invitations).toEqual({ awaitingStart: 0, oldestAgeSeconds: 0 });
    expect((await invitationOf(invitation.id)).status).toBe('sent');
    expect(mailTo('late@example.org')).toHaveLength(1);
    expect(mailTo('resent@example.org')).toHaveLength(1);
    await expect(harness.client.workflow.getHandle(invitationWorkflowId(cancelled.id)).describe()).rejects.toThrow(WorkflowNotFoundError);
    expect(mailTo('changed-mind@example.org')[0].text).toContain('Hello Chan,');
    expect([(await invitationOf(cancelled.id)).status, (await invitationOf(again.id)).status]).toEqual(['cancelled', 'sent']);
    // Sent, it holds the address for the re-invite period.
    const third = await post('/api/v1/invitations', { email: 'changed-mind@example.org' });
    expect([third.status, ((await third.json()) as { error: { message: string } }).error.message]).toEqual([409, 'This address was invited in the last 30 days']);
  } finally {
    await cutOff.close();
    await paused.close();
  }
});

test('where no mail can go out (production without SMTP_URL) invitations are refused, not left waiting', async () => {
  const production = await listenApp({
    pool: harness.pool,
    temporal: harness.client,
    config: { NODE_ENV: 'production', JWT_SECRET, MEMBERSHIP_WEBHOOK_SECRET: WEBHOOK_SECRET, HASH_SALT, PUBLIC_BASE_URL: 'https://referrals.example.org' },
    taskQueue: harness.taskQueue,
  });
  try {
    const refused = await fetch(`${production.url}/api/v1/invitations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(maria)}` },
      body: JSON.stringify({ email: 'jo@example.org' }),
    });
    expect([refused.status, (await refused.json()).error.code]).toEqual([503, 'mail_not_configured']);
  } finally {
    await production.close();
  }
  await expect(createMailer({ from: 'Referrals <no-reply@example.org>' }).send({ to: 'jo@example.org', subject: 's', text: 't', html: 'h', messageId: '<m@x>' })).rejects.toThrow(MailNotConfiguredError);
});

test('after a mentor revokes the link their invitations carry, no email brings it again: new invitations and resends carry a live one, resends once a day', async () => {
  const codesIn = (address: string) => mailTo(address).map((mail) => new URL(mail.text!.match(/Join here: (\S+)/)![1]).pathname.slice(3));
  const invitation = await call(other, '/api/v1/invitations', 'POST', { email: 'first@example.org' });
  const [first] = await eventually(async () => (codesIn('first@example.org').length === 1 ? codesIn('first@example.org') : undefined));
  const { items } = (await call(other, '/api/v1/referral-codes')).body as { items: Array<{ id: string; code: string }> };
  expect((await call(other, `/api/v1/referral-codes/${items.find((item) => item.code === first)!.id}/revoke`, 'POST')).status).toBe(200);
  // Its reminder falls due: a dead link is not sent.
  await new Promise((resolve) => setTimeout(resolve, (REMINDER_SECONDS + 2) * 1000));
  expect(codesIn('first@example.org')).toEqual([first]);
  expect((await call(other, '/api/v1/invitations', 'POST', { email: 'second@example.org' })).status).toBe(201);
  const [second] = await eventually(async () => (codesIn('second@example.org').length === 1 ? codesIn('second@example.org') : undefined));
  expect(second).not.toBe(first);
  expect([(await fetch(`${api.url}/r/${first}`)).status, (await fetch(`${api.url}/r/${second}`)).status]).toEqual([410, 200]);
  // A day on, the mentor sends the first invitation again: with the live link.
  await harness.pool.query("UPDATE invitations SET last_sent_at = now() - interval '2 days' WHERE id = $1", [invitation.body.id]);
  expect((await call(other, `/api/v1/invitations/${invitation.body.id}/resend`, 'POST')).status).toBe(202);
  expect(await eventually(async () => (codesIn('first@example.org').length === 2 ? codesIn('first@example.org') : undefined))).toEqual([first, second]);
  // A second resend that passed the API's once-a-day check before the first was marked sends nothing.
  const workflow = harness.client.workflow.getHandle(invitationWorkflowId(invitation.body.id));
  const mailActivitiesDone = async () => (await workflow.fetchHistory()).events!.filter((event) => event.activityTaskCompletedEventAttributes).length;
  const doneBefore = await mailActivitiesDone();
  await workflow.signal(resendInvitationSignal);
  await eventually(async () => ((await mailActivitiesDone()) === doneBefore + 1 ? true : undefined), 30_000, 'the second resend handled');
  expect(codesIn('first@example.org')).toEqual([first, second]);
});

test("the organisation's invitations come a page at a time, newest first, by mentor or status as asked", async () => {
  const everything = await call(coordinator, '/api/v1/invitations');
  expect(everything.status).toBe(200);
  expect(everything.body.nextCursor).toBeNull();
  const ids: string[] = everything.body.items.map((item: { id: string }) => item.id);
  expect(ids.length).toBeGreaterThan(5);
  const paged: string[] = [];
  let pages = 0;
  for (let cursor: string | null = ''; cursor !== null && pages < 100; pages += 1) {
    const page = await call(coordinator, `/api/v1/invitations?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.status).toBe(200);
    paged.push(...page.body.items.map((item: { id: string }) => item.id));
    cursor = page.body.nextCursor;
  }
  expect(paged).toEqual(ids);
  expect(pages).toBe(Math.ceil(ids.length / 3));

  const omars = await call(coordinator, `/api/v1/invitations?mentorId=${other.id}&status=bounced`);
  expect(omars.body.items.map((item: { mentorId: string; status: string }) => [item.mentorId, item.status])).toEqual([[other.id, 'bounced']]);
  // A mentor sees their own: naming another mentor is refused, naming themselves is the same as not.
  expect((await call(maria, `/api/v1/invitations?mentorId=${other.id}`)).status).toBe(403);
  expect((await call(maria, `/api/v1/invitations?mentorId=${maria.id}`)).body).toEqual(await call(maria, '/api/v1/invitations').then((mine) => mine.body));
  const notACursor = await call(coordinator, '/api/v1/invitations?cursor=abc');
  expect([notACursor.status, notACursor.body.error.details[0].path]).toEqual([400, ['cursor']]);
});

test('several requests inviting one address at once take one invitation, and it is emailed once', async () => {
  const keen = person('peer_mentor', 'Kit Keen');
  // What a double tap on "Send the invitation" sends, and another mentor asking at the same moment.
  const answers = await Promise.all([keen, keen, other].map((who) => call(who, '/api/v1/invitations', 'POST', { email: 'popular@example.org' })));
  expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409, 409]);
  expect(answers.filter((answer) => answer.status === 409).map((answer) => answer.body.error.message)).toEqual([
    'This address was invited in the last 30 days',
    'This address was invited in the last 30 days',
  ]);
  const taken = await harness.pool.query("SELECT id FROM invitations WHERE org_id = $1 AND email = 'popular@example.org'", [orgId]);
  expect(taken.rows.map((row) => row.id)).toEqual([answers.find((answer) => answer.status === 201)!.body.id]);
  await eventually(async () => (mailTo('popular@example.org').length === 1 ? true : undefined), 30_000, 'the invitation sent');
  expect(mailTo('popular@example.org')).toHaveLength(1);
});

test("a mentor's invitations sent all at once stop at the daily limit", async () => {
  const hasty = person('peer_mentor', 'Hal Hasty');
  const answers = await Promise.all(Array.from({ length: 7 }, (_, index) => call(hasty, '/api/v1/invitations', 'POST', { email: `hasty-${index}@example.org` })));
  expect(answers.map((answer) => answer.status).sort()).toEqual([201, 201, 201, 201, 429, 429, 429]);
  expect(answers.filter((answer) => answer.status === 429).map((answer) => answer.body.error.message)).toEqual(Array(3).fill('At most 4 invitations a day'));
  const taken = await harness.pool.query('SELECT count(*)::int AS n FROM invitations WHERE mentor_id = $1', [hasty.id]);
  expect(taken.rows[0].n).toBe(4);
});
