import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import autocannon from 'autocannon';
import { signPayload } from '../src/api/webhook-signature';
import { createPool } from '../src/db/pool';
import type { Pool } from 'pg';
import { migrate } from '../src/db/migrate';
import { startPostgres, type RunningPostgres } from '../src/stack/postgres';
import { startTemporal, type RunningTemporal } from '../src/stack/temporal';
import { idleThreads, reniceThreads } from '../src/worker/niceness';
import { writeWorkflowBundle } from '../src/worker/workflow-bundle';
import { freeLoopbackPort } from '../src/stack/free-port';
import { buildTemporalServer, setUpTemporalSchema, startTemporalOnPostgres } from './temporal-on-postgres';

export const ROOT = path.resolve(__dirname, '..');
export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Runs a bench entry point: its markdown section goes to bench/<name>.md and stdout, then the process exits. */
export function runBench(name: string, produce: () => Promise<string>): void {
  produce().then(
    (section) => {
      writeFileSync(path.join(ROOT, 'bench', `${name}.md`), section);
      process.stdout.write(section);
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

export function machine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB memory, Node ${process.version}`;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

export interface ChildService {
  child: ChildProcess;
  output: () => string;
  /** Calls `listener` with each whole line the service writes from now on. */
  onLine(listener: (line: string) => void): void;
  exited: Promise<number | null>;
  /** Signals the whole process group. */
  kill(signal: NodeJS.Signals): void;
}

const spawned = new Set<ChildService>();
// Services run in their own process groups: a bench that fails half-way must not leave them running.
process.on('exit', () => {
  for (const service of spawned) service.kill('SIGKILL');
});

export function spawnTsx(script: string, env: Record<string, string>, nodeOptions: string[] = [], cpuList?: string): ChildService {
  let output = '';
  // `node --import tsx` rather than the tsx command: one process per service, without tsx's ~47 MB relay process.
  const command = [process.execPath, ...nodeOptions, '--import', 'tsx', script];
  // taskset execs node in its own process, so every thread node starts is on those CPUs from the first.
  const [file, ...args] = cpuList ? ['taskset', '--cpu-list', cpuList, ...command] : command;
  const child = spawn(file, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a drill can kill -9 the service and anything it started.
    detached: true,
  });
  const lineListeners: Array<(line: string) => void> = [];
  const partial = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.on('data', (chunk) => {
      output = (output + chunk).slice(-20_000);
      if (lineListeners.length === 0) return;
      const lines = (partial[stream] + chunk).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) for (const listener of lineListeners) listener(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stopped = false;
  // A service that fails on its own says why.
  void exited.then((code) => {
    if (code && !stopped) log(`${script} exited with code ${code}:\n${output.slice(-4000)}`);
  });
  const kill = (signal: NodeJS.Signals) => {
    stopped = true;
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const service = { child, output: () => output, onLine: (listener: (line: string) => void) => void lineListeners.push(listener), exited, kill };
  spawned.add(service);
  void exited.then(() => spawned.delete(service));
  return service;
}

export /** The oldest process whose command line contains `text`: a server started with a path of this run's. */
function pidWithCommandLine(text: string): number {
  const matches = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(text);
      } catch {
        return false;
      }
    });
  if (matches.length === 0) throw new Error(`no process runs with ${text}`);
  return Math.min(...matches);
}

/** A process and all its descendants. */
export function processTree(rootPid: number): Set<number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      parents.set(Number(entry), Number(procStat(Number(entry))[1]));
    } catch {
      // the process ended while we looked
    }
  }
  const tree = new Set([rootPid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (tree.has(parent) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/** /proc/<pid>/stat from its state field on (the command name may hold spaces). */
export function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * User and system CPU seconds of a process tree so far (clock ticks of 1/100 s), with those of children that
 * ended and were reaped (a Postgres backend closing its connection): else the sum would fall when one ends.
 */
export function treeCpuSeconds(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const [utime, stime, cutime, cstime] = procStat(pid).slice(11, 15).map(Number);
      ticks += utime + stime + cutime + cstime;
    } catch {
      // ended
    }
  }
  return ticks / 100;
}

/**
 * Waits until the Temporal server has worked off what earlier load left it: it answers a start before its
 * visibility and transfer tasks run, and those go on for seconds after a burst ends, so a measurement started at
 * once pays for the one before it (seen: an empty start's p50 1.3 s while 40 clicks/s followed a row at 64 in
 * flight, 33 ms once it had settled). Settled: under a tenth of a core over two seconds; gives up after `timeoutMs`.
 */
export async function temporalSettled(stack: BenchStack, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const before = treeCpuSeconds(stack.temporalPid());
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const busy = (treeCpuSeconds(stack.temporalPid()) - before) / 2;
    if (busy < 0.1 || Date.now() > deadline) return;
  }
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * `--temporal-on-postgres`: the bench runs the full Temporal server with its state in the bench's Postgres,
 * as docker-compose does, instead of the CLI's dev server on SQLite.
 */
export const TEMPORAL_ON_POSTGRES = process.argv.includes('--temporal-on-postgres');

/**
 * `--split-cores`: the Temporal server gets CPU 0 to itself and everything else (Postgres, the API, the workers,
 * the load generators) the other CPUs, as where the Temporal server runs on machines of its own (docker-compose's
 * shape, Temporal Cloud). Both sides of every comparison run under the same split.
 */
export const SPLIT_CORES = process.argv.includes('--split-cores');
const TEMPORAL_CPUS = '0';
const APPLICATION_CPUS = `1-${Math.max(1, cpus().length - 1)}`;

/**
 * `--delivery-host`: the Temporal server and the workers (ours with the intake's dispatcher, and the ceiling's bare
 * worker) on CPU 0, as on a host of their own; Postgres, the API and the load generators on the other CPUs. What a
 * click waits for then shares no core with delivery, as in docker-compose's shape with the workers on their own
 * machines. Both sides of every comparison run under the same split.
 */
export const DELIVERY_HOST = process.argv.includes('--delivery-host');
/** The CPUs a worker process is started on: the delivery host's under `--delivery-host`, else the bench's own. */
export const WORKER_CPUS = DELIVERY_HOST ? TEMPORAL_CPUS : undefined;

/**
 * `--nice-temporal`: the Temporal server at niceness 10 on the shared cores, like the worker (WORKER_NICENESS): it
 * gets the CPU the API and Postgres leave, as where it runs on machines of its own, without the one core
 * `--split-cores` leaves the rest. Both sides of every comparison run against the same server.
 */
export const NICE_TEMPORAL = process.argv.includes('--nice-temporal');
const TEMPORAL_NICENESS = 10;

/**
 * `--idle-delivery`: the Temporal server and our worker (WORKER_CPU_CLASS=idle) in Linux's idle scheduling class: the
 * clicks a person waits for take the shared cores first, and delivery and journeys get what they leave. Both sides of
 * every comparison run against the same server; the bare workers keep their priority.
 */
export const IDLE_DELIVERY = process.argv.includes('--idle-delivery');

/** Sets the CPUs every thread of a process tree may run on (threads and processes started later inherit them). */
function pinTree(rootPid: number, cpuList: string) {
  for (const pid of processTree(rootPid)) {
    try {
      execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpuList, String(pid)], { stdio: 'ignore' });
    } catch {
      // the process ended while we pinned it
    }
  }
}

/**
 * A bench run's own Postgres (embedded, its own data folder) and Temporal server: the dev server (its own
 * SQLite file), or with --temporal-on-postgres the full server keeping its state in that Postgres.
 */
export interface BenchStack {
  dir: string;
  /** Which Temporal store the figures were measured on, for the report. */
  temporalStore: string;
  temporalPid(): number;
  postgres: RunningPostgres;
  pgPort: number;
  temporal: RunningTemporal;
  /** The dev server's own Prometheus metrics (absent for the full server on Postgres). */
  temporalMetricsUrl?: string;
  temporalPort: number;
  databaseUrl: string;
  /** Written once per run; workers read it as the production image's do (WORKFLOW_BUNDLE_PATH). */
  workflowBundle: string;
  restartTemporal(): Promise<void>;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  client(): Promise<Client>;
  stop(): Promise<void>;
}

export async function startBenchStack(options: { postgresSettings?: Record<string, string> } = {}): Promise<BenchStack> {
  // Postgres and every service started from here on inherit this process's CPUs; the Temporal server is moved.
  if (SPLIT_CORES || DELIVERY_HOST) pinTree(process.pid, APPLICATION_CPUS);
  const dir = mkdtempSync(path.join(tmpdir(), 'referral-bench-'));
  const pgPort = await freeLoopbackPort();
  const temporalPort = await freeLoopbackPort();
  const temporalMetricsPort = await freeLoopbackPort();
  const startPg = () => startPostgres({ dataDir: dir, port: pgPort, log, settings: options.postgresSettings });
  const postgres = await startPg();
  const onPostgres = TEMPORAL_ON_POSTGRES ? await prepareTemporalOnPostgres(dir, pgPort, postgres.databaseUrl, temporalPort) : undefined;
  const startTemporalServer = async () => {
    const temporal = await (onPostgres
      ? onPostgres.start()
      : startTemporal({ namespace: 'default', cliPath: process.env.TEMPORAL_CLI_PATH, dbFile: path.join(dir, 'temporal.sqlite'), port: temporalPort, metricsPort: temporalMetricsPort, log }));
    if (SPLIT_CORES || DELIVERY_HOST) pinTree(temporalPidOf(temporal), TEMPORAL_CPUS);
    if (NICE_TEMPORAL) for (const pid of processTree(temporalPidOf(temporal))) reniceThreads(pid, TEMPORAL_NICENESS);
    if (IDLE_DELIVERY) for (const pid of processTree(temporalPidOf(temporal))) idleThreads(pid);
    return temporal;
  };
  const temporalPidOf = (temporal: RunningTemporal) =>
    'pid' in temporal ? (temporal.pid as number) : pidWithCommandLine(path.join(dir, 'temporal.sqlite'));
  const stack: BenchStack = {
    dir,
    temporalStore: `${
      onPostgres ? 'the full Temporal server 1.29.1, state and visibility in the embedded Postgres, 4 history shards' : "the Temporal CLI's dev server on SQLite"
    }${SPLIT_CORES ? `, split cores: the Temporal server alone on CPU ${TEMPORAL_CPUS}, everything else on CPU ${APPLICATION_CPUS}` : ''}${
      DELIVERY_HOST ? `, a delivery host: the Temporal server and the workers on CPU ${TEMPORAL_CPUS}, Postgres, the API and the load on CPU ${APPLICATION_CPUS}` : ''
    }${
      NICE_TEMPORAL ? `, the Temporal server at niceness ${TEMPORAL_NICENESS}` : ''
    }${IDLE_DELIVERY ? ', the Temporal server and our worker in the idle scheduling class' : ''}`,
    temporalPid: () => temporalPidOf(stack.temporal),
    temporalMetricsUrl: onPostgres ? undefined : `http://127.0.0.1:${temporalMetricsPort}/metrics`,
    pgPort,
    temporalPort,
    postgres,
    temporal: await startTemporalServer(),
    databaseUrl: '',
    workflowBundle: await writeWorkflowBundle(path.join(dir, 'workflow-bundle.js')),
    async restartTemporal() {
      await stack.temporal.stop();
      stack.temporal = await startTemporalServer();
    },
    async stopPostgres() {
      await stack.postgres.stop();
    },
    async startPostgres() {
      stack.postgres = await startPg();
    },
    async client() {
      const connection = await Connection.connect({ address: stack.temporal.address });
      return new Client({ connection });
    },
    async stop() {
      await stack.temporal.stop().catch(() => undefined);
      await stack.postgres.stop().catch(() => undefined);
    },
  };
  stack.databaseUrl = stack.postgres.databaseUrl;
  await migrate(stack.databaseUrl);
  return stack;
}

/** Builds the server once, sets up its two databases in the bench's Postgres; then `start` (again after a stop). */
async function prepareTemporalOnPostgres(dir: string, pgPort: number, databaseUrl: string, port: number) {
  const build = await buildTemporalServer(log);
  const { username, password } = new URL(databaseUrl);
  const postgres = { host: '127.0.0.1', port: pgPort, user: username, password };
  await setUpTemporalSchema(build, postgres);
  return { start: () => startTemporalOnPostgres({ build, dir, postgres, port, log }) };
}

export const BENCH_SECRETS = {
  JWT_SECRET: 'bench-only-jwt-secret-0123456789abcdef',
  MEMBERSHIP_WEBHOOK_SECRET: 'bench-only-webhook-secret',
  HASH_SALT: 'bench-only-hash-salt-0000',
};

/** The API (without a worker) as its own process, against the bench stack; `nodeOptions` such as --cpu-prof. */
export async function startApi(stack: BenchStack, extra: Record<string, string> = {}, nodeOptions: string[] = []): Promise<ChildService & { url: string }> {
  const port = await freeLoopbackPort();
  const api = spawnTsx('src/main.ts', {
    ...BENCH_SECRETS,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporal.address,
    PORT: String(port),
    RUN_WORKER: 'false',
    RATE_LIMIT_PER_IP_PER_MINUTE: '100000000',
    RATE_LIMIT_PER_CODE_PER_MINUTE: '100000000',
    // Load generators click one code far above any normal rate; the defence has its own tests.
    BURST_CLICKS_PER_MINUTE: '100000000',
    DATA_DIR: stack.dir,
    ...extra,
  }, nodeOptions);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 120_000, 'API readiness');
  return { ...api, url };
}

/**
 * One worker as its own process, so a drill can kill it. It reads the run's prebuilt workflow bundle unless
 * told to bundle at start: a worker restarted under load must not spend its first seconds in webpack.
 */
export function startWorkerProcess(
  stack: BenchStack,
  extra: Record<string, string> = {},
  { bundleAtStart = false, nodeOptions = [] as string[] } = {},
): ChildService {
  return spawnTsx(
    'worker.ts',
    {
      ...BENCH_SECRETS,
      DATABASE_URL: stack.databaseUrl,
      TEMPORAL_ADDRESS: stack.temporal.address,
      ...(bundleAtStart ? {} : { WORKFLOW_BUNDLE_PATH: stack.workflowBundle }),
      ...(IDLE_DELIVERY ? { WORKER_CPU_CLASS: 'idle' } : {}),
      ...extra,
    },
    nodeOptions,
    WORKER_CPUS,
  );
}

/** An organisation with one mentor and one code, straight into Postgres. */
export async function seedCode(databaseUrl: string, settings: { attributionWindowSeconds?: number } = {}) {
  const pool = createPool(databaseUrl, () => undefined);
  const { randomUUID } = await import('node:crypto');
  const orgId = randomUUID();
  const mentorId = randomUUID();
  const codeId = randomUUID();
  const code = `b${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await pool.query('INSERT INTO organisations (id, name, attribution_window_seconds) VALUES ($1, $2, $3)', [orgId, 'Bench Org', settings.attributionWindowSeconds ?? 2_592_000]);
  await pool.query("INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', 'Bench Mentor')", [mentorId, orgId]);
  await pool.query('INSERT INTO referral_codes (id, code, mentor_id, org_id) VALUES ($1, $2, $3, $4)', [codeId, code, mentorId, orgId]);
  await pool.end();
  return { orgId, mentorId, codeId, code };
}

export interface BacklogSample {
  seconds: number;
  delivered: number;
  written: number;
  /** Taken clicks whose delivery Temporal refused or timed out at least once. */
  retried: number;
}

/**
 * Follows the clicks taken on `codeIds` until every one is written: when every one was delivered (its workflow exists)
 * and written (its referral counted), in seconds since `since`, and a sample every 5 s.
 */
export async function followBacklog(pool: Pool, codeIds: string[], since: number) {
  const sample = async (): Promise<BacklogSample & { taken: number }> => {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS taken, count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered, count(*) FILTER (WHERE attempts > 0)::int AS retried,
              (SELECT count(*)::int FROM referrals WHERE referral_code_id = ANY($1::uuid[])) AS written
       FROM intake WHERE referral_code_id = ANY($1::uuid[])`,
      [codeIds],
    );
    return { seconds: round((Date.now() - since) / 1000), ...rows[0] };
  };
  const samples: BacklogSample[] = [];
  let allDelivered: BacklogSample | undefined;
  let nextSampleAt = since + 5000;
  for (;;) {
    const now = await sample();
    if (!allDelivered && now.delivered >= now.taken) allDelivered = now;
    if (Date.now() >= nextSampleAt) {
      samples.push(now);
      nextSampleAt += 5000;
    }
    if (now.written >= now.taken) {
      return { taken: now.taken, allDelivered: allDelivered!, allWritten: now, samples };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export const backlogTable = (samples: BacklogSample[]) =>
  `| seconds | delivered | written | retried |\n| ---: | ---: | ---: | ---: |\n${samples.map((s) => `| ${s.seconds} | ${s.delivered} | ${s.written} | ${s.retried} |`).join('\n')}`;

/** A click's request body on `code` from a visitor never seen before. */
export const newVisitorClick = (code: string) => JSON.stringify({ code, visitorId: randomUUID(), metadata: { shareChannel: 'sms' } });

/** Clicks through the API on one code (or on several in turn), a new visitor per request, with autocannon. */
export async function clicksThroughApi(url: string, code: string | string[], options: { connections: number; seconds: number; overallRate?: number }) {
  const codes = [code].flat();
  let sent = 0;
  const result = await autocannon({
    url: `${url}/api/v1/referral-attributions`,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    overallRate: options.overallRate,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (request) => ({ ...request, body: newVisitorClick(codes[sent++ % codes.length]) }) }],
  });
  return {
    perSecond: result.requests.average,
    accepted: result['2xx'],
    served: result['2xx'],
    other: result.non2xx,
    errors: result.errors + result.timeouts,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statusCodes: result.statusCodeStats as Record<string, { count: number }>,
  };
}

/** Connections kept open between a load's requests, as a membership system's or an app's HTTP client keeps them. */
const loadAgent = new http.Agent({ keepAlive: true });

/**
 * A request of a load or a probe, through Node's own HTTP client: a POST when it has a JSON body, else a GET. The load
 * shares the cores it measures, and `fetch` cost it about four times the CPU a request (0.55 against 0.13 ms, ad hoc).
 */
export function requestOverHttp(url: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string }> {
  const { body } = options;
  const headers = body === undefined ? options.headers : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...options.headers };
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: body === undefined ? 'GET' : 'POST', agent: loadAgent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** One new visitor's click on `code`, as the app sends it. */
export const clickAsNewVisitor = (url: string, code: string) => requestOverHttp(`${url}/api/v1/referral-attributions`, { body: newVisitorClick(code) });

/**
 * One whole journey through the API: a click, `account_created` with the referral token, the signed
 * `member.registered` webhook. True when the webhook's answer confirms the clicked referral.
 */
export async function journeyThroughApi(url: string, code: string, index: number): Promise<boolean> {
  const post = async (pathname: string, body: unknown, headers: Record<string, string>) => {
    for (let attempt = 1; ; attempt += 1) {
      const response = await requestOverHttp(`${url}${pathname}`, { body: JSON.stringify(body), headers });
      // A 503 asks to come back, as the membership system and the app do; the journey's time includes the wait.
      if (response.status === 503 && attempt < 10) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (response.status >= 300) throw new Error(`${pathname} answered ${response.status}: ${response.text}`);
      return JSON.parse(response.text) as unknown;
    }
  };
  // Another person each time, so the risk check does not hold them for review as one device's accounts.
  const person = { 'x-forwarded-for': `198.18.${Math.floor(index / 250) % 256}.${index % 250}` };
  const clicked = (await post('/api/v1/referral-attributions', { code, visitorId: randomUUID() }, person)) as { referralId: string; referralToken: string };
  const newMemberId = randomUUID();
  await post(`/api/v1/referrals/${clicked.referralId}/events`, { type: 'account_created', idempotencyKey: 'account', newMemberId }, { ...person, authorization: `Bearer ${clicked.referralToken}` });
  const webhook = JSON.stringify({ event: 'member.registered', referralCode: code, newMemberId, occurredAt: new Date().toISOString(), deliveryId: randomUUID() });
  const at = Math.floor(Date.now() / 1000);
  const confirmed = (await post('/api/v1/webhooks/membership', JSON.parse(webhook), {
    'x-signature': `t=${at},v1=${signPayload(BENCH_SECRETS.MEMBERSHIP_WEBHOOK_SECRET, at, webhook)}`,
  })) as { conversion: { referralId: string; status: string } };
  return confirmed.conversion.referralId === clicked.referralId && confirmed.conversion.status === 'confirmed';
}
