import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { SignJWT } from 'jose';
import { createIntakeStore } from '../src/db/intake';
import type { TakenMessage } from '../src/domain/referral';
import { createPool } from '../src/db/pool';
import { ServiceUnavailableError } from '../src/errors';
import { createIntakeDelivery } from '../src/services/intake-delivery';
import { createReferralService } from '../src/services/referral-service';
import { startDispatcher } from '../src/worker/dispatcher';
import { confirmUpdate, stateQuery } from '../src/workflows/messages';
import { listenApp, type ListeningApi } from './support/api';
import { freeLoopbackPort } from '../src/stack/free-port';
import { eventually, openHarness, type Harness } from './support/harness';
import { localActivityTypes, recordHistory } from './support/histories';

const SECRETS = { JWT_SECRET: 'intake-test-jwt-secret-0123456789abcdef', MEMBERSHIP_WEBHOOK_SECRET: 'intake-webhook-secret', HASH_SALT: 'test-only-hash-salt' };
let harness: Harness;
/** A Temporal client whose server never answers: what the API has while Temporal is down. */
let unreachable: Connection;

beforeAll(async () => {
  harness = await openHarness();
  unreachable = await Connection.lazy({ address: `127.0.0.1:${await freeLoopbackPort()}`, connectTimeout: '1 second' });
});

afterAll(async () => {
  await unreachable.close();
  await harness.close();
});

async function withApi<T>(temporal: Client, work: (api: ListeningApi) => Promise<T>): Promise<T> {
  const api = await listenApp({ pool: harness.pool, temporal, taskQueue: harness.taskQueue, config: { ...SECRETS, RATE_LIMIT_PER_IP_PER_MINUTE: 100_000, RATE_LIMIT_PER_CODE_PER_MINUTE: 100_000 } });
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

async function clickRows(referralId: string) {
  return (await harness.pool.query('SELECT id, is_duplicate FROM click_events WHERE referral_id = $1', [referralId])).rows;
}

const mentorCounts = async (mentorId: string) => (await harness.pool.query('SELECT * FROM get_attribution_counts($1)', [mentorId])).rows[0];

/** The referral's click recorded once, not as a duplicate, and its mentor counting one click and one confirmed. */
async function expectConfirmedOnItsOneClick(clicked: { referralId: string; clickId: string }, mentorId: string) {
  expect(await clickRows(clicked.referralId)).toEqual([{ id: clicked.clickId, is_duplicate: false }]);
  expect(await mentorCounts(mentorId)).toEqual({ total_clicks: 1, pending_count: 0, confirmed_count: 1 });
}

/** `GET /api/v1/referral-attributions/:id` as a peer mentor of the organisation. */
async function readReferral(api: ListeningApi, orgId: string, mentorId: string, referralId: string) {
  const token = await new SignJWT({ role: 'peer_mentor', org_id: orgId })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(mentorId)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRETS.JWT_SECRET));
  return fetch(`${api.url}/api/v1/referral-attributions/${referralId}`, { headers: { authorization: `Bearer ${token}` } });
}

const undelivered = async (workflowId: string) =>
  (await harness.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM intake WHERE workflow_id = $1 AND delivered_at IS NULL', [workflowId])).rows[0].n;

test('with Temporal out of reach, the invite page and the app are answered from Postgres; the journey goes on once it is back', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const taken = await withApi(new Client({ connection: unreachable }), async (api) => {
    const started = Date.now();
    const page = await fetch(`${api.url}/r/${org.code}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Test invited you to Test Org');
    const click = await postJson(`${api.url}/api/v1/referral-attributions`, { code: org.code, visitorId: 'app-install-1', metadata: { platform: 'ios' } });
    expect(click.status).toBe(201);
    const answer = (await click.json()) as { referralId: string; referralToken: string; status: string };
    expect(answer.status).toBe('recorded');
    const steps = await Promise.all(
      (['installed', 'account_created'] as const).map((type) =>
        postJson(`${api.url}/api/v1/referrals/${answer.referralId}/events`, { type, idempotencyKey: `${type}-1`, ...(type === 'account_created' ? { newMemberId: member } : {}) }, { authorization: `Bearer ${answer.referralToken}` }),
      ),
    );
    expect(steps.map((step) => step.status)).toEqual([202, 202]);
    // Nothing waited for Temporal's timeout.
    expect(Date.now() - started).toBeLessThan(5000);
    const ready = (await (await fetch(`${api.url}/readyz`)).json()) as { status: string; intake: { undelivered: number; oldestAgeSeconds: number } };
    expect(ready.status).toBe('ready');
    expect(ready.intake.undelivered).toBeGreaterThanOrEqual(4);
    expect((await fetch(`${api.url}/r/no-such-code`)).status).toBe(404);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toContain('http_request_duration_seconds_count{method="GET",route="/r/:code",status="404"} 1');
    expect(metrics).toMatch(/^intake_backlog_messages \d+$/m);
    expect(metrics).toMatch(/^intake_oldest_undelivered_age_seconds [\d.e+-]+$/m);
    expect(metrics).toContain('http_request_duration_seconds_count{method="POST",route="/api/v1/referral-attributions",status="201"}');
    return answer;
  });
  const [{ workflow_id: workflowId }] = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [taken.referralId])).rows;
  expect(await undelivered(workflowId)).toBe(3);
  expect(await clickRows(taken.referralId)).toEqual([]);

  const worker = await harness.startWorker();
  try {
    const row = await eventually(async () => {
      const found = (await harness.pool.query('SELECT * FROM referrals WHERE id = $1', [taken.referralId])).rows[0];
      return found?.stage === 'account_created' ? found : undefined;
    }, 30_000, 'the journey delivered');
    expect(row).toMatchObject({ status: 'pending', new_member_id: member, implied_steps: [] });
    expect(await undelivered(workflowId)).toBe(0);
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({ referralId: taken.referralId, status: 'confirmed' });
  } finally {
    await worker.stop();
  }
});

test('a message delivered twice (its dispatcher killed between the signal and the mark) counts once', async () => {
  const org = await harness.seedOrg({ dedupeWindowSeconds: 0 });
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'twice', metadata: {} });
  await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: 'installed-once' });
  const worker = await harness.startWorker();
  try {
    const workflowId = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0].workflow_id;
    await eventually(async () => ((await undelivered(workflowId)) === 0 && (await clickRows(clicked.referralId)).length === 1 ? true : undefined), 30_000, 'first delivery');
    // What a dispatcher killed after signalling leaves once its lease has run out: the messages signalled, not marked delivered.
    await harness.pool.query('UPDATE intake SET delivered_at = NULL, available_at = now() WHERE referral_id = $1', [clicked.referralId]);
    await eventually(async () => ((await undelivered(workflowId)) === 0 ? true : undefined), 30_000, 'second delivery');
    const handle = harness.client.workflow.getHandle(workflowId);
    const state = await eventually(async () => {
      const view = await handle.query(stateQuery);
      return view.timeline.length === 2 ? view : undefined;
    }, 30_000, 'both messages handled');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await handle.query(stateQuery)).timeline.map((entry) => entry.type)).toEqual(['click', 'installed']);
    expect(state).toMatchObject({ countedClicks: 1, duplicateClicks: 0 });
    expect(await clickRows(clicked.referralId)).toEqual([{ id: clicked.clickId, is_duplicate: false }]);
    expect((await mentorCounts(org.mentorId)).total_clicks).toBe(1);
  } finally {
    await worker.stop();
  }
});

test('three dispatchers at once deliver every message once, each referral\'s in the order they were taken', async () => {
  const org = await harness.seedOrg({ dedupeWindowSeconds: 3600 });
  const visitors = Array.from({ length: 30 }, (_, index) => `busy-${index}`);
  // Sixty clicks in a minute on one code would be a burst held for review; not what this test is about.
  const service = createReferralService({ pool: harness.pool, temporal: harness.client, hashSalt: SECRETS.HASH_SALT, taskQueue: harness.taskQueue, burstClicksPerMinute: 1000 });
  const clicks = [];
  for (const visitor of visitors) {
    const first = await service.recordClick({ code: org.code, visitorId: visitor, metadata: {} });
    await service.recordClick({ code: org.code, visitorId: visitor, metadata: {} });
    await service.recordFunnelStep(first, { type: 'installed', idempotencyKey: `installed-${visitor}` });
    clicks.push(first);
  }
  const worker = await harness.startWorker();
  // The harness's worker runs one; two more compete for the same task queue.
  const more = [0, 1].map(() => startDispatcher({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, batchSize: 7, pollMs: 100 }));
  try {
    const ids = clicks.map((click) => click.referralId);
    await eventually(async () => {
      const rows = await harness.pool.query("SELECT count(*)::int AS n FROM referrals WHERE id = ANY($1::uuid[]) AND stage = 'installed'", [ids]);
      return rows.rows[0].n === visitors.length ? true : undefined;
    }, 60_000, 'every journey delivered');
    const events = await harness.pool.query<{ referral_id: string; types: string[] }>(
      'SELECT referral_id, array_agg(type ORDER BY id) AS types FROM referral_events WHERE referral_id = ANY($1::uuid[]) GROUP BY referral_id',
      [ids],
    );
    expect(events.rows).toHaveLength(visitors.length);
    for (const row of events.rows) expect(row.types).toEqual(['click', 'duplicate_click', 'installed']);
    expect(await mentorCounts(org.mentorId)).toEqual({ total_clicks: visitors.length, pending_count: 0, confirmed_count: 0 });
    // The last marks may commit a moment after their workflows have written.
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM intake WHERE org_id = $1 AND delivered_at IS NULL', [org.orgId])).rowCount === 0 ? true : undefined), 10_000, 'the intake marked delivered');
  } finally {
    for (const dispatcher of more) await dispatcher.stop();
    await worker.stop();
  }
});

test('a batch takes each referral\'s waiting messages together, in order, up to one waiting for a retry', async () => {
  const org = await harness.seedOrg();
  const recorded: string[] = [];
  for (const visitor of ['together-1', 'together-2']) {
    const clicked = await harness.service.recordClick({ code: org.code, visitorId: visitor, metadata: {} });
    await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: `installed-${visitor}` });
    await harness.service.recordFunnelStep(clicked, { type: 'first_login', idempotencyKey: `login-${visitor}` });
    recorded.push(clicked.referralId);
  }
  // The second referral's install was refused by Temporal a moment ago: it and the login after it wait.
  await harness.pool.query("UPDATE intake SET available_at = now() + interval '1 minute', attempts = 1 WHERE referral_id = $1 AND message ->> 'type' = 'installed'", [recorded[1]]);
  const intake = createIntakeStore(harness.pool);
  const ours = (rows: Awaited<ReturnType<typeof intake.leaseBatch>>) =>
    rows.filter((row) => recorded.includes(row.referral_id)).map((row) => [recorded.indexOf(row.referral_id), row.kind === 'click' ? 'click' : row.message.type]);
  expect(ours(await intake.leaseBatch(harness.taskQueue, 100, 60_000))).toEqual([
    [0, 'click'],
    [0, 'installed'],
    [0, 'first_login'],
    [1, 'click'],
  ]);
  expect(ours(await intake.leaseBatch(harness.taskQueue, 100, 60_000))).toEqual([]);
  await harness.pool.query('UPDATE intake SET delivered_at = now() WHERE referral_id = ANY($1::uuid[])', [recorded]);
});

test('a referral\'s waiting messages reach it together, a hundred to a signal, in the order they were taken', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'backlogged', metadata: {} });
  // An app retrying its install report while Temporal was away, then the first login.
  for (let retry = 0; retry < 148; retry += 1) await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: `installed-${retry}` });
  await harness.service.recordFunnelStep(clicked, { type: 'first_login', idempotencyKey: 'login' });
  const signalled: number[] = [];
  const counting = new Client({
    connection: harness.client.connection,
    namespace: harness.client.options.namespace,
    interceptors: { workflow: [{ signalWithStart: async (input, next) => (signalled.push((input.signalArgs[0] as TakenMessage[]).length), next(input)) }] },
  });
  const worker = await harness.startWorker({ dispatch: false });
  try {
    expect(await createIntakeDelivery({ temporal: counting, intake: createIntakeStore(harness.pool) }).deliverBatch(harness.taskQueue, 100)).toMatchObject({ delivered: 150, failed: 0 });
    expect(signalled).toEqual([100, 50]);
    const workflowId = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0].workflow_id;
    // The click, then the first install report (the others repeat it), then the login: a login first would have implied the install.
    const timeline = await eventually(async () => {
      const { timeline: events } = await harness.client.workflow.getHandle(workflowId).query(stateQuery);
      return events.length === 3 ? events : undefined;
    });
    expect(timeline.map(({ type, stage }) => [type, stage])).toEqual([
      ['click', 'clicked'],
      ['installed', 'installed'],
      ['first_login', 'first_login'],
    ]);
    expect(timeline[2].detail).toEqual({ impliedSteps: ['account_created'] });
  } finally {
    await worker.stop();
  }
});

test('a woken dispatcher waits a moment for more, so a referral\'s click and the step right after it go in one batch', async () => {
  const org = await harness.seedOrg();
  const worker = await harness.startWorker({ dispatch: false });
  const batches: number[] = [];
  // Only the intake's notification wakes it in time: its poll is ten seconds away.
  const dispatcher = startDispatcher({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, pollMs: 10_000, lingerMs: 500, onDispatched: (delivered) => batches.push(delivered) });
  try {
    await eventually(async () => (batches.length > 0 ? true : undefined), 5000, 'the dispatcher listening');
    const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'lingered', metadata: {} });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: 'installed-lingered' });
    await eventually(async () => ((await harness.pool.query("SELECT 1 FROM referrals WHERE id = $1 AND stage = 'installed'", [clicked.referralId])).rowCount === 1 ? true : undefined), 10_000, 'the install delivered');
    expect(batches.filter((delivered) => delivered > 0)).toEqual([2]);
  } finally {
    await dispatcher.stop();
    await worker.stop();
  }
});

test('a message taken while a dispatcher delivers its batch is delivered next, not at the next poll', async () => {
  const org = await harness.seedOrg();
  const worker = await harness.startWorker({ dispatch: false });
  const slow = new Client({
    connection: harness.client.connection,
    namespace: harness.client.options.namespace,
    interceptors: { workflow: [{ signalWithStart: async (input, next) => (await new Promise((resolve) => setTimeout(resolve, 500)), next(input)) }] },
  });
  const batches: number[] = [];
  const dispatcher = startDispatcher({ pool: harness.pool, temporal: slow, taskQueue: harness.taskQueue, pollMs: 20_000, lingerMs: 0, onDispatched: (delivered) => batches.push(delivered) });
  const delivered = async (referralId: string) => (await harness.pool.query('SELECT 1 FROM intake WHERE referral_id = $1 AND delivered_at IS NOT NULL', [referralId])).rowCount === 1;
  try {
    await eventually(async () => (batches.length > 0 ? true : undefined), 5000, 'the dispatcher listening');
    const first = await harness.service.recordClick({ code: org.code, visitorId: 'in-the-batch', metadata: {} });
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM intake WHERE referral_id = $1 AND leased', [first.referralId])).rowCount === 1 ? true : undefined), 5000, 'the first click leased');
    const second = await harness.service.recordClick({ code: org.code, visitorId: 'after-the-batch', metadata: {} });
    // Within half the poll's 20 s.
    await eventually(async () => ((await delivered(second.referralId)) ? true : undefined), 10_000, 'the second click delivered');
    expect(await delivered(first.referralId)).toBe(true);
  } finally {
    await dispatcher.stop();
    await worker.stop();
  }
});

test('a stopped dispatcher leaves no connection listening, so Postgres ending its connections later is no error', async () => {
  const name = `dispatcher-${randomUUID()}`;
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.searchParams.set('application_name', name);
  const pool = createPool(url.toString(), () => undefined);
  const listening = async () =>
    (await harness.pool.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query = 'LISTEN intake'", [name])).rowCount;
  const dispatcher = startDispatcher({ pool, temporal: harness.client, taskQueue: harness.taskQueue, pollMs: 50 });
  try {
    await eventually(async () => ((await listening()) === 1 ? true : undefined), 5000, 'the dispatcher listening');
    await dispatcher.stop();
    expect(await listening()).toBe(0);
    // What a Postgres shutting down does to the connections left open.
    await harness.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
    await eventually(
      async () => ((await harness.pool.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [name])).rowCount === 0 ? true : undefined),
      5000,
      'its connections ended',
    );
  } finally {
    await pool.end();
  }
});

test('a registration while the click is still in the intake is matched to that click, not made a direct referral', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'quick-joiner', metadata: {} });
  // No dispatcher runs: the click waits in the intake.
  const worker = await harness.startWorker({ dispatch: false });
  try {
    const member = randomUUID();
    // The service delivers the referral's waiting click before its confirmation.
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', direct: false });
    await expectConfirmedOnItsOneClick(clicked, org.mentorId);
  } finally {
    await worker.stop();
  }
});

test('a registration carries the click and account still in the intake in its confirmation, with no signal before it and nothing to load', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'carried', metadata: {} });
  await harness.service.recordFunnelStep(clicked, { type: 'account_created', idempotencyKey: 'account-carried', newMemberId: member });
  const { workflow_id: workflowId } = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0];
  const calls: string[] = [];
  const recording = new Client({
    connection: harness.client.connection,
    namespace: harness.client.options.namespace,
    interceptors: {
      workflow: [{ startUpdate: async (input, next) => (calls.push('update'), next(input)), startUpdateWithStart: async (input, next) => (calls.push('update-with-start'), next(input)) }],
    },
  });
  const service = createReferralService({ pool: harness.pool, temporal: recording, hashSalt: SECRETS.HASH_SALT, taskQueue: harness.taskQueue });
  // No dispatcher runs: the referral is only its messages in the intake.
  const worker = await harness.startWorker({ dispatch: false });
  try {
    const record = await service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, newMemberId: member, status: 'confirmed', direct: false });
    // Its first click never reached Temporal, so no run can be there to update: one call starts it with the update.
    expect(calls).toEqual(['update-with-start']);
    expect(await undelivered(workflowId)).toBe(0);
    const events = (await harness.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    expect(events.filter((event) => event.workflowExecutionSignaledEventAttributes)).toHaveLength(0);
    const updates = events.flatMap((event) => event.workflowExecutionUpdateAcceptedEventAttributes ?? []);
    expect(updates).toHaveLength(1);
    const [, taken] = updates[0].acceptedRequest!.input!.args!.payloads!.map((payload) => defaultPayloadConverter.fromPayload<unknown>(payload));
    expect((taken as TakenMessage[]).map(({ kind }) => kind)).toEqual(['click', 'step']);
    // Nothing of the referral came before its click, so the run the confirmation started read nothing first.
    expect(localActivityTypes(events)).toEqual(['persistReferral', 'assessAccountRisk', 'persistReferral', 'confirmAttribution']);
    await expectConfirmedOnItsOneClick(clicked, org.mentorId);
    await recordHistory('carried-confirmation', harness.client.workflow.getHandle(workflowId));
  } finally {
    await worker.stop();
  }
});

test('a confirmation the workflow refuses after taking the messages it carried leaves none to deliver again', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'carried-refused', metadata: {} });
  const delivery = createIntakeDelivery({ temporal: harness.client, intake: createIntakeStore(harness.pool) });
  const worker = await harness.startWorker({ dispatch: false });
  try {
    expect(await delivery.deliverBatch(harness.taskQueue, 100)).toMatchObject({ delivered: 1, failed: 0 });
    const member = randomUUID();
    await harness.service.recordFunnelStep(clicked, { type: 'account_created', idempotencyKey: 'account-carried-refused', newMemberId: member });
    const { workflow_id: workflowId } = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0];
    const handle = harness.client.workflow.getHandle(workflowId);
    const confirmAnother = (taken: TakenMessage[]) =>
      handle.executeUpdate(confirmUpdate, { args: [{ newMemberId: randomUUID(), occurredAt: new Date().toISOString(), source: 'webhook' }, taken] });
    await expect(delivery.sendWithTaken(workflowId, Date.now() + 10_000, confirmAnother)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    expect(await undelivered(workflowId)).toBe(0);
    expect((await handle.query(stateQuery)).referral).toMatchObject({ newMemberId: member, stage: 'account_created', status: 'pending' });
  } finally {
    await worker.stop();
  }
});

test('the membership system confirms a referral it was told of while its click and account are still in the intake', async () => {
  const org = await harness.seedOrg();
  const member = randomUUID();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'known-early', metadata: {} });
  await harness.service.recordFunnelStep(clicked, { type: 'account_created', idempotencyKey: 'account-early', newMemberId: member });
  // No dispatcher runs: the referral is only its messages in the intake.
  const worker = await harness.startWorker({ dispatch: false });
  try {
    // The app linked the referral to its member in the request: another member is refused, as it would be once written.
    await expect(harness.service.confirmKnownReferral(clicked.referralId, { newMemberId: randomUUID(), source: 'webhook' })).rejects.toMatchObject({
      status: 409,
      details: { reason: 'ReferralLinkedToAnotherMember' },
    });
    const record = await harness.service.confirmKnownReferral(clicked.referralId, { newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, newMemberId: member, status: 'confirmed', direct: false });
    await expectConfirmedOnItsOneClick(clicked, org.mentorId);
  } finally {
    await worker.stop();
  }
});

test('a referral still in the intake is read as its messages make it, and reads the same once its workflow has written it', async () => {
  const org = await harness.seedOrg();
  const otherMentor = await harness.addCode(org);
  const member = randomUUID();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'read-early', metadata: { shareChannel: 'sms' } });
  await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: 'installed-early' });
  await harness.service.recordFunnelStep(clicked, { type: 'account_created', idempotencyKey: 'account-early', newMemberId: member });
  await withApi(harness.client, async (api) => {
    const read = (mentorId: string) => readReferral(api, org.orgId, mentorId, clicked.referralId);
    // No dispatcher runs: the referral is only its messages in the intake.
    const early = await read(org.mentorId);
    expect(early.status).toBe(200);
    const fromIntake = await early.json();
    expect(fromIntake).toMatchObject({
      id: clicked.referralId,
      mentorId: org.mentorId,
      referralCodeId: org.codeId,
      stage: 'account_created',
      status: 'pending',
      impliedSteps: [],
      newMemberId: member,
      timeline: [
        { type: 'click', stage: 'clicked', status: 'pending', detail: {} },
        { type: 'installed', stage: 'installed', status: 'pending', detail: {} },
        { type: 'account_created', stage: 'account_created', status: 'pending', detail: {} },
      ],
    });
    expect((await read(otherMentor.mentorId)).status).toBe(403);

    const worker = await harness.startWorker();
    try {
      await eventually(
        async () => ((await harness.pool.query("SELECT 1 FROM referrals WHERE id = $1 AND stage = 'account_created'", [clicked.referralId])).rowCount === 1 ? true : undefined),
        30_000,
        'the referral written',
      );
      const written = await (await read(org.mentorId)).json();
      // The same referral and timeline; only the time it was written differs from the time it was taken.
      expect({ ...written, createdAt: undefined }).toEqual({ ...fromIntake, createdAt: undefined });
    } finally {
      await worker.stop();
    }
  });
});

test('delivered messages are kept past the burst rule\'s minute until their referral is written, so it can still be read', async () => {
  const org = await harness.seedOrg();
  const written = await harness.service.recordClick({ code: org.code, visitorId: 'kept-written', metadata: {} });
  const worker = await harness.startWorker();
  try {
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [written.referralId])).rowCount === 1 ? true : undefined), 30_000, 'the referral written');
  } finally {
    await worker.stop();
  }
  // Delivered while no worker ran (Temporal took the signals; no activity wrote the referrals).
  const unwritten = await harness.service.recordClick({ code: org.code, visitorId: 'kept-unwritten', metadata: {} });
  const abandoned = await harness.service.recordClick({ code: org.code, visitorId: 'kept-abandoned', metadata: {} });
  const deliveredAgo = (referralId: string, interval: string) =>
    harness.pool.query('UPDATE intake SET delivered_at = now() - $2::interval WHERE referral_id = $1', [referralId, interval]);
  await deliveredAgo(written.referralId, '11 minutes');
  await deliveredAgo(unwritten.referralId, '11 minutes');
  await deliveredAgo(abandoned.referralId, '8 days');

  await createIntakeStore(harness.pool).pruneDelivered(10 * 60_000, 7 * 24 * 3_600_000);

  const kept = await harness.pool.query('SELECT referral_id FROM intake WHERE referral_id = ANY ($1::uuid[])', [[written.referralId, unwritten.referralId, abandoned.referralId]]);
  expect(kept.rows).toEqual([{ referral_id: unwritten.referralId }]);
  await withApi(harness.client, async (api) => {
    const read = await readReferral(api, org.orgId, org.mentorId, unwritten.referralId);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({ id: unwritten.referralId, stage: 'clicked', status: 'pending' });
  });
});

test('a registration waits for the messages a dispatcher is delivering, and none is delivered twice', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'delivered-once', metadata: {} });
  await harness.service.recordFunnelStep(clicked, { type: 'installed', idempotencyKey: 'installed-once' });
  const worker = await harness.startWorker({ dispatch: false });
  // A dispatcher whose signal takes 1.2 s to reach Temporal: longer than a registration's first look.
  const slow = new Client({
    connection: harness.client.connection,
    namespace: harness.client.options.namespace,
    interceptors: { workflow: [{ signalWithStart: async (input, next) => (await new Promise((resolve) => setTimeout(resolve, 1200)), next(input)) }] },
  });
  const dispatching = createIntakeDelivery({ temporal: slow, intake: createIntakeStore(harness.pool) }).deliverBatch(harness.taskQueue, 100);
  try {
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM intake WHERE referral_id = $1 AND leased', [clicked.referralId])).rowCount === 2 ? true : undefined), 5000, 'the click and the step leased');
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: randomUUID(), source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', direct: false });
    expect(await dispatching).toMatchObject({ delivered: 2, failed: 0 });
    const workflowId = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0].workflow_id;
    const history = await harness.client.workflow.getHandle(workflowId).fetchHistory();
    // One signal carried both, the click first.
    const signals = history.events?.flatMap((event) => event.workflowExecutionSignaledEventAttributes ?? []);
    expect(signals?.map((signal) => signal.signalName)).toEqual(['taken']);
    const taken = defaultPayloadConverter.fromPayload<TakenMessage[]>(signals![0].input!.payloads![0]);
    expect(taken.map(({ kind }) => kind)).toEqual(['click', 'step']);
    expect(await undelivered(workflowId)).toBe(0);
  } finally {
    await dispatching;
    await worker.stop();
  }
});

test('a registration whose click a dead dispatcher holds waits a while, then delivers it before the lease runs out', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'held', metadata: {} });
  // What a dispatcher killed mid-batch leaves: its messages leased for a minute, not delivered.
  const leaseEnd = (await harness.pool.query("UPDATE intake SET leased = true, available_at = now() + interval '1 minute' WHERE referral_id = $1 RETURNING available_at", [clicked.referralId])).rows[0].available_at as Date;
  const impatient = createReferralService({ pool: harness.pool, temporal: harness.client, hashSalt: SECRETS.HASH_SALT, taskQueue: harness.taskQueue, confirmTimeoutMs: 1000 });
  const worker = await harness.startWorker({ dispatch: false });
  try {
    const member = randomUUID();
    await expect(impatient.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' })).rejects.toBeInstanceOf(ServiceUnavailableError);
    const workflowId = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1 LIMIT 1', [clicked.referralId])).rows[0].workflow_id;
    expect(await undelivered(workflowId)).toBe(1);
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: member, source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', direct: false });
    const [delivered] = (await harness.pool.query('SELECT delivered_at FROM intake WHERE referral_id = $1', [clicked.referralId])).rows;
    expect(delivered.delivered_at.getTime()).toBeLessThan(leaseEnd.getTime());
  } finally {
    await worker.stop();
  }
});

test('a registration between a click\'s delivery and its workflow\'s first write is matched to that click', async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'between', metadata: {} });
  // What a dispatcher leaves for a moment: the click marked delivered, its referral not yet written by its workflow.
  await harness.pool.query('UPDATE intake SET delivered_at = now() WHERE referral_id = $1', [clicked.referralId]);
  const worker = await harness.startWorker({ dispatch: false });
  try {
    const record = await harness.service.confirmRecruitment({ code: org.code, newMemberId: randomUUID(), source: 'webhook' });
    expect(record).toMatchObject({ referralId: clicked.referralId, status: 'confirmed', direct: false });
  } finally {
    await worker.stop();
  }
});

test("a referral's first message starts a run with nothing to load; a message after that run ended starts one that loads it", async () => {
  const org = await harness.seedOrg();
  const clicked = await harness.service.recordClick({ code: org.code, visitorId: 'fresh-start', metadata: {} });
  const { workflow_id: workflowId } = (await harness.pool.query('SELECT workflow_id FROM intake WHERE referral_id = $1', [clicked.referralId])).rows[0];
  const handle = () => harness.client.workflow.getHandle(workflowId);
  /** Once the latest run waits with no task open: its input and its local activities, each a marker in its history. */
  const runOf = () =>
    eventually(async () => {
      const events = (await handle().fetchHistory()).events ?? [];
      const last = events[events.length - 1];
      if (!last.workflowTaskCompletedEventAttributes && !last.timerStartedEventAttributes) return undefined;
      const input = defaultPayloadConverter.fromPayload<{ fresh?: boolean }>(events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);
      return { fresh: input.fresh, localActivities: localActivityTypes(events).length };
    }, 30_000, 'the run waiting');
  const worker = await harness.startWorker();
  try {
    await eventually(async () => ((await clickRows(clicked.referralId)).length === 1 ? true : undefined), 30_000, 'the first click written');
    // Its one local activity wrote the referral: none loaded it first.
    expect(await runOf()).toEqual({ fresh: true, localActivities: 1 });
    await handle().terminate('ended for the test');
    await harness.service.recordClick({ code: org.code, visitorId: 'fresh-start', metadata: {} });
    await eventually(async () => ((await clickRows(clicked.referralId)).length === 2 ? true : undefined), 30_000, 'the second click written');
    // The new run loaded the referral, so it counts the second click as the duplicate it is.
    expect(await runOf()).toEqual({ fresh: undefined, localActivities: 2 });
    expect((await clickRows(clicked.referralId)).filter((row) => row.is_duplicate)).toHaveLength(1);
  } finally {
    await worker.stop();
  }
});
