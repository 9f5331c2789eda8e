import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as connectTcp, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { SignJWT } from 'jose';
import { isPostgresReachable, createPool } from '../src/db/pool';
import { listenApp } from './support/api';
import { freeLoopbackPort } from '../src/stack/free-port';
import { signPayload } from '../src/api/webhook-signature';
import { eventually, openHarness, type Harness, type RunningWorker, type SeededOrg } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** What a test started and has not seen exit: stopped after the test, so a failed one leaves no app running. */
const stillRunning = new Set<Started>();

afterEach(async () => {
  for (const started of stillRunning) {
    started.child.kill('SIGINT');
    const stopped = await Promise.race([started.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000))]);
    if (!stopped) started.child.kill('SIGKILL');
  }
});

/** The app as `npm start` runs it, in one process (or through `npm start` itself). */
function startMain(env: Record<string, string>, { viaNpm = false } = {}): Started {
  return viaNpm ? startCommand('npm', ['start', '--silent'], env) : startProcess('src/main.ts', env);
}

/** One of the project's entry points (`src/main.ts`, `worker.ts`) as its npm script runs it. */
function startProcess(script: string, env: Record<string, string>): Started {
  return startCommand(process.execPath, ['--import', 'tsx', script], env);
}

function startCommand(command: string, args: string[], env: Record<string, string>): Started {
  let output = '';
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = { child, output: () => output, exited };
  stillRunning.add(started);
  void exited.then(() => stillRunning.delete(started));
  return started;
}

/** The development sign-in's organisation: `npm start` without JWT_SECRET takes its tokens. */
const DEV_ORG_ID = randomUUID();
const DEV_MENTOR_ID = randomUUID();
const devBearer = async (role: 'org_admin' | 'peer_mentor') =>
  `Bearer ${await new SignJWT({ role, org_id: DEV_ORG_ID })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(role === 'peer_mentor' ? DEV_MENTOR_ID : randomUUID())
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('development-only-jwt-secret-do-not-use-in-production'))}`;

/** A mentor's new code, clicked once, with its referral written by the worker. */
async function clickedReferral(api: string): Promise<{ code: string; referralId: string }> {
  const created = await fetch(`${api}/api/v1/referral-codes`, { method: 'POST', headers: { authorization: await devBearer('peer_mentor'), 'content-type': 'application/json' }, body: '{}' });
  const { code } = (await created.json()) as { code: string };
  const clicked = await fetch(`${api}/api/v1/referral-attributions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, visitorId: randomUUID() }) });
  const { referralId } = (await clicked.json()) as { referralId: string };
  const admin = await devBearer('org_admin');
  // The mentor's list is read from what the workflows wrote.
  const listed = async () => ((await (await fetch(`${api}/api/v1/referral-attributions/mentor/${DEV_MENTOR_ID}`, { headers: { authorization: admin } })).json()) as { items: Array<{ id: string }> }).items;
  await eventually(async () => ((await listed()).some((item) => item.id === referralId) ? true : undefined), 30_000, 'the referral written');
  return { code, referralId };
}

async function status(url: string): Promise<number | undefined> {
  try {
    return (await fetch(url)).status;
  } catch {
    return undefined;
  }
}

test('a bad configuration value stops start-up with one line naming the variable', async () => {
  const started = startMain({ PORT: 'eighty' });
  expect(await started.exited).toBe(1);
  expect(started.output().trim()).toBe('Invalid configuration: PORT: Invalid input: expected number, received NaN');
});

test('npm start brings up a dev server, worker and API, stops on Ctrl-C, and finds its data again', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'referral-start-'));
  const ports = { api: await freeLoopbackPort(), temporal: await freeLoopbackPort(), ui: await freeLoopbackPort() };
  const env = {
    DATA_DIR: dataDir,
    DATABASE_URL: process.env.TEST_DATABASE_URL!,
    DATABASE_OWNER_URL: process.env.TEST_OWNER_DATABASE_URL!,
    PORT: String(ports.api),
    TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
  };
  const first = startMain(env);
  const api = `http://localhost:${ports.api}`;
  await eventually(async () => ((await status(`${api}/readyz`)) === 200 ? true : undefined), 90_000, 'readiness');
  expect(await (await fetch(`${api}/readyz`)).json()).toEqual({
    status: 'ready',
    checks: { postgres: true, temporal: true },
    intake: { undelivered: expect.any(Number), oldestAgeSeconds: expect.any(Number) },
    invitations: { awaitingStart: 0, oldestAgeSeconds: 0 },
    erasures: { runsPending: expect.any(Number), oldestAgeSeconds: expect.any(Number) },
  });
  expect(await (await fetch(`${api}/healthz`)).json()).toEqual({ status: 'ok' });
  expect(await status(`http://localhost:${ports.ui}/`)).toBe(200);
  expect(first.output()).toContain(`API          ${api}`);
  expect(first.output()).toContain(`Temporal UI  http://localhost:${ports.ui}`);

  const connection = await Connection.connect({ address: `localhost:${ports.temporal}` });
  const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
  expect(attributes.customAttributes).toMatchObject({
    ReferralStage: expect.anything(),
    AttributionStatus: expect.anything(),
    MentorId: expect.anything(),
    OrgId: expect.anything(),
    ReferralCode: expect.anything(),
    ReferralStuck: expect.anything(),
  });
  // An erasure is finished in Temporal by the worker's sweep: the run is gone, and so is every erasure left pending
  // (those of other test files name runs this Temporal never had).
  const client = new Client({ connection });
  const runsOnCode = async (code: string) => {
    const runIds: string[] = [];
    for await (const run of client.workflow.list({ query: `ReferralCode = '${code}'` })) runIds.push(run.runId);
    return runIds.length;
  };
  const { code, referralId } = await clickedReferral(api);
  expect(await runsOnCode(code)).toBe(1);
  // /metrics carries the dispatcher's deliveries and the Temporal SDK's worker metrics, with nothing configured.
  const metrics = await (await fetch(`${api}/metrics`)).text();
  expect(Number(/^intake_dispatched_total\{outcome="delivered"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  expect(metrics).toMatch(/^temporal_worker_start\{[^}]*task_queue="referrals"[^}]*\} 1$/m);
  expect((await fetch(`${api}/api/v1/referral-attributions/${referralId}`, { method: 'DELETE', headers: { authorization: await devBearer('org_admin') } })).status).toBe(204);
  const erasuresPending = async () => ((await (await fetch(`${api}/readyz`)).json()) as { erasures: { runsPending: number } }).erasures.runsPending;
  expect(await eventually(async () => ((await erasuresPending()) === 0 ? 0 : undefined), 60_000, 'erasures finished by the sweep')).toBe(0);
  expect(await runsOnCode(code)).toBe(0);

  const workflowId = `start-test-${randomUUID()}`;
  await client.workflow.start('keptAcrossRestarts', { taskQueue: 'nobody-listens', workflowId });
  await connection.close();

  first.child.kill('SIGINT');
  expect(await first.exited).toBe(0);
  expect(await status(`${api}/healthz`)).toBeUndefined();

  const second = startMain(env);
  await eventually(async () => ((await status(`${api}/readyz`)) === 200 ? true : undefined), 90_000, 'readiness after restart');
  const again = await Connection.connect({ address: `localhost:${ports.temporal}` });
  const description = await new Client({ connection: again }).workflow.getHandle(workflowId).describe();
  expect(description.status.name).toBe('RUNNING');
  await again.close();
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
});

/** Whether something takes connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

test('npm start signalled alone while a request is in flight answers it, then stops everything it started', async () => {
  const ports = { api: await freeLoopbackPort(), temporal: await freeLoopbackPort(), postgres: await freeLoopbackPort() };
  const secret = 'stack-test-jwt-secret-0123456789abcdef';
  const started = startMain({
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'referral-signal-')),
    EMBEDDED_POSTGRES_PORT: String(ports.postgres),
    PORT: String(ports.api),
    TEMPORAL_PORT: String(ports.temporal),
    JWT_SECRET: secret,
  }, { viaNpm: true });
  const api = `http://localhost:${ports.api}`;
  const orgId = randomUUID();
  const bearer = async (role: string, id: string) =>
    `Bearer ${await new SignJWT({ role, org_id: orgId }).setProtectedHeader({ alg: 'HS256' }).setSubject(id).setExpirationTime('1h').sign(new TextEncoder().encode(secret))}`;
  try {
    await eventually(async () => ((await status(`${api}/readyz`)) === 200 ? true : undefined), 120_000, 'readiness');
    const mentorId = randomUUID();
    expect((await fetch(`${api}/api/v1/me`, { headers: { authorization: await bearer('peer_mentor', mentorId) } })).status).toBe(200);
    // An upload that takes a few seconds, each row's invitation started in Temporal.
    const people = Array.from({ length: 200 }, (_, index) => `person${index}@example.net`).join('\n');
    const upload = fetch(`${api}/api/v1/invitations/bulk?mentorId=${mentorId}`, {
      method: 'POST',
      headers: { authorization: await bearer('org_admin', randomUUID()), 'content-type': 'text/csv' },
      body: `email\n${people}`,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    // A process manager signals the process it started, not its group: the app and its dev servers are not told.
    started.child.kill('SIGTERM');
    const answer = await upload;
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { rows: Array<{ status: string }> }).rows.filter((row) => row.status === 'sent')).toHaveLength(200);
    expect(await started.exited).toBe(0);
    expect({ temporal: await listening(ports.temporal), postgres: await listening(ports.postgres) }).toEqual({ temporal: false, postgres: false });
  } finally {
    // What a failed run left behind.
    spawnSync('pkill', ['-f', `start-dev --port ${ports.temporal} `]);
  }
});

test('a second npm start on the same data folder says why its embedded Postgres did not start', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'referral-postgres-'));
  const port = await freeLoopbackPort();
  // The first start's Postgres, in a process of its own (embedded-postgres is an ES module, which Jest cannot load).
  const holder = spawn(TSX, ['-e', `require('./src/stack/postgres').startPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, log: () => {} }).then((pg) => { console.log('ready'); process.on('SIGTERM', () => pg.stop().then(() => process.exit(0))); })`], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const held = new Promise<number | null>((resolve) => holder.on('exit', resolve));
  await new Promise((resolve) => holder.stdout?.on('data', (chunk) => String(chunk).includes('ready') && resolve(undefined)));
  try {
    const second = startMain({ DATA_DIR: dataDir, EMBEDDED_POSTGRES_PORT: String(await freeLoopbackPort()), PORT: String(await freeLoopbackPort()) });
    expect(await second.exited).toBe(1);
    expect(second.output().trim()).toMatch(
      new RegExp(`^Start-up failed: The embedded Postgres did not start \\(port \\d+, data in ${path.join(dataDir, 'postgres')}\\): .*lock file "postmaster.pid" already exists.*If another npm start runs with the same DATA_DIR, stop it`),
    );
  } finally {
    holder.kill('SIGTERM');
    expect(await held).toBe(0);
  }
});

test('a standalone worker serves its own /metrics: its deliveries, the backlogs and the SDK\'s worker metrics', async () => {
  const metricsPort = await freeLoopbackPort();
  const started = startProcess('worker.ts', {
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'referral-worker-')),
    DATABASE_URL: process.env.TEST_DATABASE_URL!,
    DATABASE_OWNER_URL: process.env.TEST_OWNER_DATABASE_URL!,
    TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
    WORKER_METRICS_PORT: String(metricsPort),
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const scrape = async () => (await fetch(metricsUrl)).text();
  const delivered = (metrics: string) => Number(/^intake_dispatched_total\{outcome="delivered"\} (\d+)$/m.exec(metrics)?.[1]);
  // Up once the SDK's worker has started on the production task queue.
  const before = await eventually(async () => {
    const metrics = await scrape().catch(() => '');
    return /^temporal_worker_start\{[^}]*task_queue="referrals"[^}]*\} 1$/m.test(metrics) ? metrics : undefined;
  }, 90_000, "the standalone worker's metrics");
  expect(before).toMatch(/^intake_backlog_messages \d+$/m);
  expect(before).toMatch(/^invitations_awaiting_start \d+$/m);
  expect(before).toMatch(/^erasures_runs_pending \d+$/m);
  expect(before).toMatch(/^process_cpu_seconds_total [\d.e+-]+$/m);
  expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(404);

  // A click taken for the production task queue is delivered by this worker's dispatcher and counted there.
  const harness = await openHarness();
  const org = await harness.seedOrg();
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, config: { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'z'.repeat(16) }, taskQueue: 'referrals' });
  try {
    const clicked = await fetch(`${api.url}/api/v1/referral-attributions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: org.code, visitorId: randomUUID() }) });
    expect(clicked.status).toBe(201);
    const { referralId } = (await clicked.json()) as { referralId: string };
    await eventually(async () => ((await harness.pool.query('SELECT 1 FROM referrals WHERE id = $1', [referralId])).rowCount === 1 ? true : undefined), 30_000, 'the referral written by the standalone worker');
    expect(delivered(await scrape())).toBeGreaterThanOrEqual(delivered(before) + 1);
  } finally {
    await api.close();
    await harness.close();
  }
  started.child.kill('SIGTERM');
  expect(await started.exited).toBe(0);
});

test('with TEMPORAL_ADDRESS set, start-up uses that server and starts no dev server', async () => {
  const ports = { api: await freeLoopbackPort(), ui: await freeLoopbackPort() };
  const started = startMain({
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'referral-existing-')),
    DATABASE_URL: process.env.TEST_DATABASE_URL!,
    DATABASE_OWNER_URL: process.env.TEST_OWNER_DATABASE_URL!,
    TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
    PORT: String(ports.api),
    TEMPORAL_UI_PORT: String(ports.ui),
  });
  const api = `http://localhost:${ports.api}`;
  await eventually(async () => ((await status(`${api}/readyz`)) === 200 ? true : undefined), 90_000, 'readiness');
  expect(started.output()).toContain(`Temporal     ${process.env.TEST_TEMPORAL_ADDRESS}`);
  expect(started.output()).not.toContain('Temporal UI');
  expect(await status(`http://localhost:${ports.ui}/`)).toBeUndefined();
  started.child.kill('SIGTERM');
  expect(await started.exited).toBe(0);
});

test('with Postgres out of reach, readiness names it and requests answer 503 with Retry-After', async () => {
  const pool = createPool(`postgresql://postgres@127.0.0.1:${await freeLoopbackPort()}/nothing`, () => undefined);
  const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  const api = await listenApp({
    pool,
    temporal: new Client({ connection }),
    config: { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'z'.repeat(16) },
    readiness: { postgres: () => isPostgresReachable(pool), temporal: async () => true },
  });
  try {
    const response = await fetch(`${api.url}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'not ready', checks: { postgres: false, temporal: true }, intake: null, invitations: null, erasures: null });
    const click = await fetch(`${api.url}/api/v1/referral-attributions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'abcdefgh' }),
    });
    expect(click.status).toBe(503);
    expect(click.headers.get('retry-after')).toBe('5');
    expect(((await click.json()) as { error: { code: string } }).error.code).toBe('temporarily_unavailable');
    // A person who tapped an invite link gets a page they can read.
    const page = await fetch(`${api.url}/r/abcdefgh`);
    expect(page.status).toBe(503);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('We could not open your invitation just now');
  } finally {
    await api.close();
    await connection.close();
    await pool.end();
  }
});

/**
 * With Temporal failing, a click is still taken (201, in the intake, no referral yet: the dispatcher delivers it later)
 * and a confirmation, which waits for its workflow, answers 503 with Retry-After and confirms nothing.
 */
async function expectClickTakenConfirmationUnavailable(apiUrl: string, harness: Harness, org: SeededOrg, visitorId: string) {
  const click = await fetch(`${apiUrl}/api/v1/referral-attributions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: org.code, visitorId }),
  });
  expect(click.status).toBe(201);
  expect((await harness.pool.query('SELECT count(*)::int AS n FROM intake WHERE org_id = $1 AND delivered_at IS NULL', [org.orgId])).rows[0].n).toBe(1);
  const raw = JSON.stringify({ event: 'member.registered', referralCode: org.code, newMemberId: randomUUID(), occurredAt: new Date().toISOString(), deliveryId: `d-${visitorId}` });
  const at = Math.floor(Date.now() / 1000);
  const confirmation = await fetch(`${apiUrl}/api/v1/webhooks/membership`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': `t=${at},v1=${signPayload('y'.repeat(16), at, raw)}` },
    body: raw,
  });
  expect(confirmation.status).toBe(503);
  expect(confirmation.headers.get('retry-after')).toBe('5');
  expect(((await confirmation.json()) as { error: { code: string } }).error.code).toBe('temporarily_unavailable');
  expect((await harness.pool.query('SELECT count(*)::int AS n FROM referrals WHERE org_id = $1', [org.orgId])).rows[0].n).toBe(0);
}

test('a confirmation its workflow does not answer in time gets 503 with Retry-After; the retry confirms it once', async () => {
  const harness = await openHarness();
  const secrets = { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'test-only-hash-salt' };
  // No worker yet: the update waits, as one the server lost would.
  const api = await listenApp({ pool: harness.pool, temporal: harness.client, taskQueue: harness.taskQueue, config: { ...secrets, CONFIRM_TIMEOUT_MS: 1000 } });
  const org = await harness.seedOrg();
  const deliver = () => {
    const raw = JSON.stringify({ event: 'member.registered', referralCode: org.code, newMemberId: member, occurredAt: new Date().toISOString(), deliveryId: 'late-delivery' });
    const at = Math.floor(Date.now() / 1000);
    return fetch(`${api.url}/api/v1/webhooks/membership`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': `t=${at},v1=${signPayload(secrets.MEMBERSHIP_WEBHOOK_SECRET, at, raw)}` },
      body: raw,
    });
  };
  const member = randomUUID();
  let worker: RunningWorker | undefined;
  try {
    const unanswered = await deliver();
    expect(unanswered.status).toBe(503);
    expect(unanswered.headers.get('retry-after')).toBe('5');
    expect(((await unanswered.json()) as { error: { code: string } }).error.code).toBe('temporarily_unavailable');
    worker = await harness.startWorker();
    // The sender retries on 503, as the membership system does, until its delivery is answered.
    const retried = await eventually(async () => {
      const answer = await deliver();
      return answer.status === 503 ? undefined : answer;
    }, 30_000, 'the retried delivery answered');
    expect(retried.status).toBe(200);
    const { conversion } = (await retried.json()) as { conversion: { status: string; newMemberId: string; direct: boolean } };
    expect(conversion).toMatchObject({ status: 'confirmed', newMemberId: member, direct: true });
    const confirmed = await harness.pool.query("SELECT count(*)::int AS n FROM referrals WHERE new_member_id = $1 AND status = 'confirmed'", [member]);
    expect(confirmed.rows[0].n).toBe(1);
  } finally {
    await worker?.stop();
    await api.close();
    await harness.close();
  }
});

test('a Temporal server that cannot find its namespace: a click is taken, a confirmation answers 503 with Retry-After', async () => {
  const harness = await openHarness();
  const org = await harness.seedOrg();
  const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
  // What a Temporal server answers while its own store is out of reach: the namespace is not found.
  const api = await listenApp({
    pool: harness.pool,
    temporal: new Client({ connection, namespace: 'namespace-the-server-cannot-find' }),
    config: { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'z'.repeat(16) },
  });
  try {
    await expectClickTakenConfirmationUnavailable(api.url, harness, org, 'visitor-without-namespace');
  } finally {
    await api.close();
    await connection.close();
    await harness.close();
  }
});

test('a Temporal server that takes connections but never answers: a click is taken, a confirmation answers 503 within CONFIRM_TIMEOUT_MS', async () => {
  const harness = await openHarness();
  const org = await harness.seedOrg();
  // Accepts TCP and says nothing: an overloaded or wedged server, not a refused connection.
  const sockets: Socket[] = [];
  const silent = createNetServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const connection = Connection.lazy({ address: `127.0.0.1:${(silent.address() as AddressInfo).port}` });
  const api = await listenApp({
    pool: harness.pool,
    temporal: new Client({ connection }),
    config: { JWT_SECRET: 'x'.repeat(32), MEMBERSHIP_WEBHOOK_SECRET: 'y'.repeat(16), HASH_SALT: 'z'.repeat(16), CONFIRM_TIMEOUT_MS: 1000 },
  });
  try {
    // Without the deadline the confirmation waits on the silent server until the test times out.
    await expectClickTakenConfirmationUnavailable(api.url, harness, org, 'waiting-visitor');
  } finally {
    await api.close();
    await connection.close().catch(() => undefined);
    for (const socket of sockets) socket.destroy();
    silent.close();
    await harness.close();
  }
});
