import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { PoolClient } from 'pg';
import { SignJWT } from 'jose';
import { createPool } from '../src/db/pool';
import { createReferralService } from '../src/services/referral-service';
import { clickSignal, confirmUpdate, funnelStepSignal } from '../src/workflows/messages';
import { referralWorkflow } from '../src/workflows/referral-workflow';
import { BARE_TASK_QUEUE } from './bare/worker';
import {
  type ChildService,
  BENCH_SECRETS,
  clicksThroughApi,
  runBench,
  freePort,
  journeyThroughApi,
  log,
  machine,
  median,
  newVisitorClick,
  percentile,
  pidWithCommandLine,
  processTree,
  round,
  seedCode,
  spawnTsx,
  startApi,
  startBenchStack,
  startWorkerProcess,
  temporalSettled,
  treeCpuSeconds,
  waitFor,
  type BenchStack,
} from './support';

const SHORT = process.argv.includes('--short');
// --only=start-cost,journeys,reads,memory,burst,busy-code,start runs just those (with --ceiling, benchmark 1 is skipped too).
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string) => !only || only.includes(name);
const results: string[] = [];
const record = (markdown: string) => {
  results.push(markdown);
  log(markdown);
};

function treeRssMb(rootPid: number): number {
  let kb = 0;
  for (const pid of processTree(rootPid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // ended
    }
  }
  return Math.round(kb / 1024);
}

/** The processes whose CPU a row accounts for, beside the Temporal server, Postgres and this bench process. */
type MeteredProcesses = { api?: number; worker?: number };
type CpuPerRequest = Record<'temporal' | 'postgres' | 'api' | 'worker' | 'bench', number | undefined>;

/**
 * Starts counting where CPU goes: the Temporal server, Postgres, the API and worker processes given, and this
 * process (the load generator or the bare client). The returned function divides it by the requests served.
 */
function startCpuMeter(stack: BenchStack, ours: MeteredProcesses): (served: number) => CpuPerRequest {
  const processes: Record<string, number> = {
    temporal: stack.temporalPid(),
    postgres: pidWithCommandLine(path.join(stack.dir, 'postgres')),
    ...ours,
  };
  const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, treeCpuSeconds(pid)]));
  const benchBefore = process.cpuUsage();
  return (served) => {
    const ms = (seconds: number) => round((seconds * 1000) / Math.max(1, served), 2);
    const spent = (name: string) => (processes[name] ? ms(treeCpuSeconds(processes[name]) - before[name]) : undefined);
    const bench = process.cpuUsage(benchBefore);
    return {
      temporal: spent('temporal'),
      postgres: spent('postgres'),
      api: spent('api'),
      worker: spent('worker'),
      bench: ms((bench.user + bench.system) / 1e6),
    };
  };
}

async function cpuPerRequest<T extends { served: number }>(stack: BenchStack, ours: MeteredProcesses, step: () => Promise<T>) {
  // Else the row would be charged for the earlier row's leftover work, and served at its pace.
  await temporalSettled(stack);
  const perRequest = startCpuMeter(stack, ours);
  const result = await step();
  return { ...result, cpu: perRequest(result.served) };
}

const cpuCells = (cpu: CpuPerRequest, parts: Array<keyof CpuPerRequest>) => parts.map((part) => cpu[part] ?? '-').join(' / ');

/** Benchmark 1's ceiling operation: a signal-with-start of an empty workflow no worker will run. */
function signalWithStartEmpty(client: Client) {
  return client.workflow.signalWithStart('emptyWorkflow', { taskQueue: 'bench-nobody', workflowId: `empty-${randomUUID()}`, signal: 'click', signalArgs: [{}] });
}

async function bareSignalWithStartCeiling(stack: BenchStack, concurrency: number, seconds: number, start: (client: Client) => Promise<unknown> = signalWithStartEmpty) {
  const client = await stack.client();
  const latencies: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const started = performance.now();
        await start(client);
        latencies.push(performance.now() - started);
      }
    }),
  );
  await client.connection.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, served: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/**
 * Latency at a fixed offered rate, open loop: one `send` every 1/rate s whatever the earlier ones are doing, each
 * timed from when it was due, so a queue cannot hide. Used for ours and the bare start alike. (autocannon's rate
 * mode sends each connection's quota for the second at once, and its coordinated-omission correction then assumes
 * 1 ms between requests: a 100 ms answer adds a hundred samples. The half-ceiling rows before run F used it.)
 */
async function latencyAtRate(rate: number, seconds: number, send: () => Promise<boolean>) {
  const latencies: number[] = [];
  let failed = 0;
  const sends: Array<Promise<void>> = [];
  const started = performance.now();
  for (let index = 0; index < rate * seconds; index += 1) {
    const due = started + (index * 1000) / rate;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    sends.push(
      send().then(
        (ok) => (ok ? void latencies.push(performance.now() - due) : void (failed += 1)),
        () => void (failed += 1),
      ),
    );
  }
  await Promise.all(sends);
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, served: latencies.length, p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), failed };
}

async function bareSignalWithStartAtRate(stack: BenchStack, rate: number, seconds: number) {
  const client = await stack.client();
  const result = await latencyAtRate(rate, seconds, () => signalWithStartEmpty(client).then(() => true));
  await client.connection.close();
  return result;
}

async function clicksAtRate(url: string, code: string, rate: number, seconds: number) {
  return latencyAtRate(rate, seconds, async () => {
    const response = await fetch(`${url}/api/v1/referral-attributions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: newVisitorClick(code),
    });
    await response.arrayBuffer();
    return response.status < 300;
  });
}

/**
 * While `load` runs for `seconds`, three probes at low rates, each timed as the load is: the API's `/healthz` (its
 * event loop and HTTP, nothing behind them), Postgres's `SELECT 1` and an empty signal-with-start (the Temporal
 * server). Whose tail a click's tail follows is whose queue it waited in.
 */
async function withTailProbes<T>(stack: BenchStack, apiUrl: string, seconds: number, load: () => Promise<T>) {
  await temporalSettled(stack);
  const pool = createPool(stack.databaseUrl, () => undefined);
  const client = await stack.client();
  const [loaded, healthz, postgres, temporal] = await Promise.all([
    load(),
    latencyAtRate(20, seconds, async () => {
      const response = await fetch(`${apiUrl}/healthz`);
      await response.arrayBuffer();
      return response.ok;
    }),
    latencyAtRate(20, seconds, () => pool.query('SELECT 1').then(() => true)),
    latencyAtRate(10, seconds, () => signalWithStartEmpty(client).then(() => true)),
  ]);
  await Promise.all([pool.end(), client.connection.close()]);
  const cell = (probe: { p50: number; p99: number }) => `${probe.p50} / ${probe.p99}`;
  return { ...loaded, probes: `${cell(healthz)} | ${cell(postgres)} | ${cell(temporal)}` };
}

const INGESTION_CPU: Array<keyof CpuPerRequest> = ['temporal', 'postgres', 'api', 'bench'];

async function clickIngestion(stack: BenchStack) {
  const { code, codeId } = await seedCode(stack.databaseUrl);
  const api = await startApi(stack);
  const seconds = SHORT ? 5 : 10;
  // The same operation on this machine moves by 15% or more from one run to the next (seen: 224-293 bare starts/s
  // in six runs in a row), so each concurrency alternates the two several times and the ratio is their median.
  const pairs = SHORT ? 1 : 3;
  const rows: string[] = [];
  const cpuRows: string[] = [];
  const medianRatios: string[] = [];
  let ceilingAtTop = 0;
  let apiAtTop = 0;
  let accepted = 0;
  // Ingestion against ingestion: no worker runs while the ceiling and our endpoint are measured,
  // so both runs ask the Temporal server for the same work (the signal-with-start).
  for (const concurrency of SHORT ? [16] : [8, 32, 64]) {
    const ratios: number[] = [];
    const ceilings: number[] = [];
    const ourRates: number[] = [];
    const measureCeiling = () => cpuPerRequest(stack, { api: api.child.pid! }, () => bareSignalWithStartCeiling(stack, concurrency, seconds));
    const measureOurs = () => cpuPerRequest(stack, { api: api.child.pid! }, () => clicksThroughApi(api.url, code, { connections: concurrency, seconds }));
    for (let pair = 1; pair <= pairs; pair += 1) {
      // Every other pair measures ours first, so neither side always runs on the fuller store.
      const oursFirst = pair % 2 === 0;
      const earlierOurs = oursFirst ? await measureOurs() : undefined;
      const ceiling = await measureCeiling();
      const ours = earlierOurs ?? (await measureOurs());
      cpuRows.push(`| ${concurrency} | ${pair} | ${cpuCells(ceiling.cpu, INGESTION_CPU)} | ${cpuCells(ours.cpu, INGESTION_CPU)} |`);
      accepted += ours.accepted;
      const ratio = ours.perSecond / ceiling.perSecond;
      ratios.push(ratio);
      ceilings.push(ceiling.perSecond);
      ourRates.push(ours.perSecond);
      rows.push(
        `| ${concurrency} | ${pair}${oursFirst ? ' (ours first)' : ''} | ${round(ceiling.perSecond)} | ${round(ceiling.p50)} / ${round(ceiling.p99)} | ${round(ours.perSecond)} | ${ours.p50} / ${ours.p99} | ${round(ratio, 2)} | ${ours.other + ours.errors} |`,
      );
    }
    medianRatios.push(`${round(median(ratios), 2)}x at ${concurrency}`);
    ceilingAtTop = median(ceilings);
    apiAtTop = median(ourRates);
  }
  const halfRate = Math.max(1, Math.floor(ceilingAtTop / 2));
  // First as the ceiling was measured, no worker running: the Temporal server takes the starts and nothing else.
  const halfAlone = await withTailProbes(stack, api.url, seconds, () => clicksAtRate(api.url, code, halfRate, seconds));
  accepted += halfAlone.served;
  const bareHalfAlone = await withTailProbes(stack, api.url, seconds, () => bareSignalWithStartAtRate(stack, halfRate, seconds));
  const worker = startWorkerProcess(stack);
  const pool = createPool(stack.databaseUrl, () => undefined);
  const drainStarted = Date.now();
  await waitFor(
    async () => ((await pool.query('SELECT count(*) AS n FROM click_events WHERE referral_code_id = $1', [codeId])).rows[0].n >= accepted ? true : undefined),
    30 * 60_000,
    'the backlog of accepted clicks',
  );
  const drainSeconds = round((Date.now() - drainStarted) / 1000);
  await pool.end();
  await temporalSettled(stack);
  const half = await clicksAtRate(api.url, code, halfRate, seconds);
  await temporalSettled(stack);
  const bareHalf = await bareSignalWithStartAtRate(stack, halfRate, seconds);
  record(
    `### 1. Click ingestion (${stack.temporalStore}; embedded Postgres; API in its own process)

| concurrency | pair | ceiling: bare signal-with-start/s | ceiling p50 / p99 ms | POST /referral-attributions/s | ours p50 / p99 ms | ours / ceiling | non-2xx |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Median of the pairs' ratios: ${medianRatios.join(', ')}.

CPU per request served, in ms (/proc user + system time of each process tree over the row, divided by the
requests answered 2xx): Temporal server / Postgres / API process / this bench process (the bare client, or autocannon).

| concurrency | pair | ceiling | ours |
| --- | --- | --- | --- |
${cpuRows.join('\n')}

No worker ran during those rows, nor at half the ceiling next (${halfRate}/s offered, each request sent on schedule and timed from then):
ours ${round(halfAlone.perSecond)} clicks/s served (${halfAlone.failed} not 2xx), p50 ${halfAlone.p50} ms, p99 ${halfAlone.p99} ms; the bare signal-with-start p50 ${bareHalfAlone.p50} ms,
p99 ${bareHalfAlone.p99} ms. Probes meanwhile, each timed as the load is (p50 / p99 ms; the API's /healthz at 20/s, Postgres's
SELECT 1 at 20/s, an empty signal-with-start at 10/s):

| load at half the ceiling | /healthz | SELECT 1 | empty signal-with-start |
| --- | --- | --- | --- |
| ours | ${halfAlone.probes} |
| the bare signal-with-start | ${bareHalfAlone.probes} |

Then one worker process worked off the ${accepted} accepted clicks in ${drainSeconds} s
(${round(accepted / drainSeconds)} journeys started and persisted per second).
At half the ceiling again with that worker running: ours ${round(half.perSecond)} clicks/s served (${half.failed} not 2xx), p50 ${half.p50} ms, p99 ${half.p99} ms;
the bare signal-with-start, worker still running, p50 ${bareHalf.p50} ms, p99 ${bareHalf.p99} ms.
Highest concurrency, medians: ours ${round(apiAtTop)}/s against a ceiling of ${round(ceilingAtTop)}/s.`,
  );
  worker.kill('SIGTERM');
  api.kill('SIGTERM');
  await Promise.all([worker.exited, api.exited]);
  return ceilingAtTop;
}

type StartOptions = Parameters<Client['workflow']['signalWithStart']>[1];

/**
 * The start options a click gives the Temporal server, exactly as the referral service builds them: the service
 * records one click on `code` against a client that keeps the options instead of sending them.
 */
async function clickStartOptions(stack: BenchStack, code: string): Promise<StartOptions> {
  let captured: StartOptions | undefined;
  const keeping = {
    withDeadline: (_deadline: number, send: () => Promise<unknown>) => send(),
    workflow: { signalWithStart: async (_workflow: unknown, options: StartOptions) => void (captured = options) },
  } as unknown as Client;
  const pool = createPool(stack.databaseUrl, () => undefined);
  await createReferralService({ pool, temporal: keeping, hashSalt: BENCH_SECRETS.HASH_SALT }).recordClick({ code, visitorId: randomUUID(), metadata: { shareChannel: 'sms' } });
  await pool.end();
  return captured!;
}

/**
 * 1b. What our start asks of the Temporal server beyond the empty one benchmark 1 measures against: the same
 * signal-with-start carrying our start's payload (the referral's identity and settings, the click), then also its
 * six search attributes, each to a workflow id of its own, no API and no Postgres in the way.
 */
async function startCost(stack: BenchStack) {
  const { code } = await seedCode(stack.databaseUrl);
  const ours = await clickStartOptions(stack, code);
  const freshId = () => `${ours.workflowId}-${randomUUID()}`;
  const variants: Record<string, (client: Client) => Promise<unknown>> = {
    'the empty start (benchmark 1\'s ceiling)': signalWithStartEmpty,
    // The options are the service's own for this workflow; only their type was lost on the way out.
    'our payload': (client) => client.workflow.signalWithStart(referralWorkflow, { ...ours, workflowId: freshId(), typedSearchAttributes: undefined } as never),
    'our payload and search attributes (what a click sends)': (client) => client.workflow.signalWithStart(referralWorkflow, { ...ours, workflowId: freshId() } as never),
  };
  const rounds = SHORT ? 1 : 3;
  const seconds = SHORT ? 5 : 10;
  const measured = new Map<string, Array<{ perSecond: number; cpu: number }>>(Object.keys(variants).map((name) => [name, []]));
  for (let round_ = 0; round_ < rounds; round_ += 1) {
    // Every other round runs the variants in the opposite order, so none always runs on the fullest store.
    const names = Object.keys(variants);
    for (const name of round_ % 2 === 0 ? names : names.reverse()) {
      const result = await cpuPerRequest(stack, {}, () => bareSignalWithStartCeiling(stack, 16, seconds, variants[name]));
      measured.get(name)!.push({ perSecond: result.perSecond, cpu: result.cpu.temporal! });
    }
  }
  const emptyRate = median(measured.get(Object.keys(variants)[0])!.map((row) => row.perSecond));
  const halfRate = Math.max(1, Math.floor(emptyRate / 2));
  const client = await stack.client();
  const rows: string[] = [];
  for (const [name, runs] of measured) {
    await temporalSettled(stack);
    const half = await latencyAtRate(halfRate, seconds, () => variants[name](client).then(() => true));
    const rate = median(runs.map((run) => run.perSecond));
    rows.push(`| ${name} | ${runs.map((run) => round(run.perSecond)).join(', ')} | ${runs.map((run) => run.cpu).join(', ')} | ${round(rate / emptyRate, 2)} | ${half.p50} / ${half.p99} |`);
  }
  await client.connection.close();
  record(
    `### 1b. What our start asks of the Temporal server (${stack.temporalStore}; 16 in flight, ${rounds} rounds of ${seconds} s, alternating order; then ${halfRate}/s, half the empty start's rate, on schedule)

| signal-with-start | starts/s | server CPU per start, ms | median starts/s / the empty start's | at ${halfRate}/s: p50 / p99 ms |
| --- | --- | --- | --- | --- |
${rows.join('\n')}`,
  );
}

/**
 * Runs `journey` in `concurrency` loops for `seconds` once the Temporal server has settled and after a warm-up;
 * journeys per second, their latency and the CPU each journey cost (metered from the end of the warm-up).
 */
async function journeysFor(
  stack: BenchStack,
  concurrency: number,
  seconds: number,
  startMeter: () => (served: number) => CpuPerRequest,
  journey: (slot: number, index: number) => Promise<boolean>,
) {
  await temporalSettled(stack);
  let index = 0;
  await Promise.all(Array.from({ length: concurrency }, (_, slot) => journey(slot, index++)));
  const cpuPerJourney = startMeter();
  const latencies: number[] = [];
  let failed = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (Date.now() < deadline) {
        const started = performance.now();
        if (await journey(slot, index++)) latencies.push(performance.now() - started);
        else failed += 1;
      }
    }),
  );
  const cpu = cpuPerJourney(latencies.length);
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, completed: latencies.length, failed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu };
}

/** Benchmark 2's ceiling: the bare journey workflow driven with the same messages from a plain client. */
async function bareJourneys(stack: BenchStack, concurrency: number, seconds: number) {
  const worker = spawnTsx('bench/bare/worker.ts', { TEMPORAL_ADDRESS: stack.temporal.address });
  const client = await stack.client();
  const result = await journeysFor(stack, concurrency, seconds, () => startCpuMeter(stack, { worker: worker.child.pid! }), async () => {
    const at = new Date().toISOString();
    const handle = await client.workflow.signalWithStart('bareJourneyWorkflow', {
      taskQueue: BARE_TASK_QUEUE,
      workflowId: `bare-${randomUUID()}`,
      signal: clickSignal,
      signalArgs: [{ clickId: randomUUID(), occurredAt: at, ipHash: null, userAgent: null, metadata: {}, selfReferral: false, burst: false }],
    });
    const newMemberId = randomUUID();
    await handle.signal(funnelStepSignal, { type: 'account_created', occurredAt: at, idempotencyKey: 'account', newMemberId });
    const record = await handle.executeUpdate(confirmUpdate, { args: [{ newMemberId, occurredAt: at, source: 'webhook' }] });
    return record.status === 'confirmed';
  });
  await client.connection.close();
  worker.kill('SIGTERM');
  await worker.exited;
  return result;
}

/** Benchmark 2, ours: click, account created and the membership webhook through the API, our worker running. */
async function apiJourneys(stack: BenchStack, api: ChildService & { url: string }, concurrency: number, seconds: number) {
  // A code per loop: the webhook may overtake the recorded account and match by "last click on the code" (rule 4(b)).
  const codes = await Promise.all(Array.from({ length: concurrency }, () => seedCode(stack.databaseUrl)));
  const worker = startWorkerProcess(stack);
  const meter = () => startCpuMeter(stack, { api: api.child.pid!, worker: worker.child.pid! });
  const result = await journeysFor(stack, concurrency, seconds, meter, (slot, index) => journeyThroughApi(api.url, codes[slot].code, index));
  worker.kill('SIGTERM');
  await worker.exited;
  return result;
}

const JOURNEY_CPU: Array<keyof CpuPerRequest> = ['temporal', 'postgres', 'api', 'worker', 'bench'];

async function wholeJourneys(stack: BenchStack) {
  const api = await startApi(stack);
  const seconds = SHORT ? 10 : 30;
  const rows: string[] = [];
  const cpuRows: string[] = [];
  for (const concurrency of SHORT ? [8] : [4, 16]) {
    const bare = await bareJourneys(stack, concurrency, seconds);
    const ours = await apiJourneys(stack, api, concurrency, seconds);
    rows.push(
      `| ${concurrency} | ${round(bare.perSecond)} | ${round(bare.p50)} / ${round(bare.p99)} | ${round(ours.perSecond)} | ${round(ours.p50)} / ${round(ours.p99)} | ${round(ours.perSecond / bare.perSecond, 2)} | ${bare.failed} / ${ours.failed} |`,
    );
    cpuRows.push(`| ${concurrency} | ${cpuCells(bare.cpu, JOURNEY_CPU)} | ${cpuCells(ours.cpu, JOURNEY_CPU)} |`);
  }
  record(
    `### 2. Whole journeys: click -> account created -> confirmed, ${seconds} s each (${stack.temporalStore})

Ceiling: a bare workflow taking the same click signal, funnel-step signal and confirmation update from a plain
client, with a no-op activity wherever ours has an activity, on its own worker process. Ours: the API's three
requests per journey (click, \`account_created\` with the referral token, the signed \`member.registered\` webhook
answered with the conversion), our worker process running. One worker at a time.

| journeys in flight | ceiling journeys/s | ceiling p50 / p99 ms | ours journeys/s | ours p50 / p99 ms | ours / ceiling | not confirmed (ceiling / ours) |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

CPU per confirmed journey, in ms (/proc, as in benchmark 1): Temporal server / Postgres / API process / worker
process / this bench process (the bare client, or the HTTP client driving ours).

| journeys in flight | ceiling | ours |
| --- | --- | --- |
${cpuRows.join('\n')}`,
  );
  api.kill('SIGTERM');
  await api.exited;
}

/**
 * A fresh code (and its organisation and mentor) with rows loaded straight into Postgres by `load`, in one
 * transaction. Bulk loading skips the triggers (one statement updating one counter row a million times is
 * quadratic): a loader that needs the mentor's counters sets them itself.
 */
async function bulkLoad(databaseUrl: string, load: (client: PoolClient, seeded: Awaited<ReturnType<typeof seedCode>>) => Promise<void>) {
  const seeded = await seedCode(databaseUrl);
  const pool = createPool(databaseUrl, () => undefined);
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('SET LOCAL session_replication_role = replica');
  await load(client, seeded);
  await client.query('COMMIT');
  client.release();
  await pool.query('ANALYZE click_events; ANALYZE referrals');
  await pool.end();
  return seeded;
}

/** Loads `clicks` click events (and a referral per ten clicks) for one mentor straight into Postgres. */
function loadClicks(databaseUrl: string, clicks: number) {
  const referrals = Math.max(1, Math.floor(clicks / 10));
  return bulkLoad(databaseUrl, async (client, seeded) => {
    await client.query(
      `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, stage, status,
         clicked_at, last_click_at, account_created_at, confirmed_at, new_member_id)
       SELECT gen_random_uuid(), $1, $2, $3, 'bench-' || gen_random_uuid(), md5(n::text),
         CASE WHEN n % 3 = 0 THEN 'account_created' ELSE 'clicked' END,
         CASE WHEN n % 9 = 0 THEN 'confirmed' ELSE 'pending' END,
         now() - (n || ' minutes')::interval, now() - (n || ' minutes')::interval,
         CASE WHEN n % 3 = 0 THEN now() - (n || ' minutes')::interval END,
         CASE WHEN n % 9 = 0 THEN now() - ((n - 1) || ' minutes')::interval END,
         CASE WHEN n % 9 = 0 THEN gen_random_uuid() END
       FROM generate_series(1, $4::int) AS n`,
      [seeded.orgId, seeded.codeId, seeded.mentorId, referrals],
    );
    await client.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, visitor_hash, device_metadata, is_duplicate)
       SELECT gen_random_uuid(), $2, r.id, $3, $1, r.clicked_at - (k || ' seconds')::interval, r.visitor_hash,
         jsonb_build_object('shareChannel', (ARRAY['sms','email','whatsapp','qr'])[1 + k % 4]), k = 9
       FROM (SELECT id, clicked_at, visitor_hash FROM referrals WHERE referral_code_id = $2) r, generate_series(0, 9) AS k`,
      [seeded.orgId, seeded.codeId, seeded.mentorId],
    );
    await client.query(
      `INSERT INTO mentor_counters (mentor_id, org_id, total_clicks, pending_count, confirmed_count)
       SELECT $1, $2,
         (SELECT count(*) FROM click_events WHERE mentor_id = $1 AND NOT is_duplicate),
         (SELECT count(*) FROM referrals WHERE mentor_id = $1 AND status = 'pending' AND account_created_at IS NOT NULL),
         (SELECT count(*) FROM referrals WHERE mentor_id = $1 AND status = 'confirmed')`,
      [seeded.mentorId, seeded.orgId],
    );
  });
}

async function timed(times: number, call: () => Promise<unknown>) {
  const latencies: number[] = [];
  for (let index = 0; index < times; index += 1) {
    const started = performance.now();
    await call();
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  return { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2) };
}

async function aggregateReads(stack: BenchStack) {
  const api = await startApi(stack, { COUNTS_CACHE_SECONDS: '0' });
  const pool = createPool(stack.databaseUrl, () => undefined);
  const rows: string[] = [];
  const times = SHORT ? 50 : 200;
  for (const size of SHORT ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]) {
    const loadStarted = Date.now();
    const seeded = await loadClicks(stack.databaseUrl, size);
    const loadSeconds = round((Date.now() - loadStarted) / 1000);
    const token = await new SignJWT({ role: 'org_admin', org_id: seeded.orgId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(randomUUID())
      .sign(new TextEncoder().encode(BENCH_SECRETS.JWT_SECRET));
    const headers = { authorization: `Bearer ${token}` };
    const get = async (pathname: string) => {
      const response = await fetch(`${api.url}${pathname}`, { headers });
      if (response.status !== 200) throw new Error(`${pathname} answered ${response.status}`);
      await response.arrayBuffer();
    };
    const bare = await timed(times, () => pool.query('SELECT count(*) FROM click_events WHERE mentor_id = $1 AND NOT is_duplicate', [seeded.mentorId]));
    const counts = await timed(times, () => get(`/api/v1/referral-attributions/mentor/${seeded.mentorId}/counts`));
    const from = new Date(Date.now() - 90 * 86_400_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const dashboard = await timed(Math.ceil(times / 4), () => get(`/api/v1/orgs/${seeded.orgId}/recruitment-dashboard?from=${from}&to=${to}&granularity=week`));
    rows.push(`| ${size.toLocaleString('en')} | ${loadSeconds} s | ${bare.p50} / ${bare.p99} | ${counts.p50} / ${counts.p99} | ${round(counts.p99 / bare.p99, 2)} | ${dashboard.p50} / ${dashboard.p99} |`);
  }
  record(
    `### 3. Aggregate reads, cache off (embedded Postgres; one mentor holding all the clicks; ${times} sequential requests)

| click events | load time | bare indexed COUNT p50 / p99 ms | /mentor/:id/counts p50 / p99 ms | counts p99 / bare p99 | org dashboard p50 / p99 ms |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}`,
  );
  await pool.end();
  api.kill('SIGTERM');
  await api.exited;
}

/**
 * Loads `clicks` click events on a fresh code, spread evenly over the last week, and `lastMinute` more in the
 * last few seconds, so the code's minute is busy. One referral holds them all: the burst check reads only the code's clicks.
 */
function loadWeekOfClicks(databaseUrl: string, clicks: number, lastMinute: number) {
  return bulkLoad(databaseUrl, async (client, seeded) => {
    const referralId = randomUUID();
    await client.query(
      `INSERT INTO referrals (id, org_id, referral_code_id, mentor_id, workflow_id, visitor_hash, stage, status, clicked_at, last_click_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'clicked', 'pending', now(), now())`,
      [referralId, seeded.orgId, seeded.codeId, seeded.mentorId, `bench-${referralId}`, referralId],
    );
    await client.query(
      `INSERT INTO click_events (id, referral_code_id, referral_id, mentor_id, org_id, occurred_at, visitor_hash)
       SELECT gen_random_uuid(), $2, $4, $3, $1,
         CASE WHEN n <= $6 THEN now() - (n * 0.01 || ' seconds')::interval ELSE now() - ((n - $6) * 604800.0 / $5 || ' seconds')::interval END,
         md5(n::text)
       FROM generate_series(1, $5::int + $6::int) AS n`,
      [seeded.orgId, seeded.codeId, seeded.mentorId, referralId, clicks, lastMinute],
    );
  });
}

/**
 * 7. A viral code: while a code's last minute is busy, every click on it also counts the code's clicks of the last
 * week (the burst check's yardstick). Sequential clicks on such a code against clicks on a quiet one, no worker running.
 */
async function busyCode(stack: BenchStack) {
  const threshold = 30;
  const api = await startApi(stack, { BURST_CLICKS_PER_MINUTE: String(threshold) });
  const times = SHORT ? 50 : 200;
  const click = (code: string) => async () => {
    const response = await fetch(`${api.url}/api/v1/referral-attributions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: newVisitorClick(code) });
    if (response.status !== 201) throw new Error(`a click answered ${response.status}`);
    await response.arrayBuffer();
  };
  const rows: string[] = [];
  for (const size of SHORT ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]) {
    const busy = await loadWeekOfClicks(stack.databaseUrl, size, 2 * threshold);
    const quiet = await seedCode(stack.databaseUrl);
    const quietClicks = await timed(times, click(quiet.code));
    const busyClicks = await timed(times, click(busy.code));
    rows.push(`| ${size.toLocaleString('en')} | ${quietClicks.p50} / ${quietClicks.p99} | ${busyClicks.p50} / ${busyClicks.p99} | ${round(busyClicks.p50 / quietClicks.p50, 2)} |`);
  }
  record(
    `### 7. A busy code with a large week (embedded Postgres; ${2 * threshold} clicks in the code's last minute, burst threshold ${threshold}/min; ${times} sequential clicks each)

| the code's clicks in the last week | quiet code p50 / p99 ms | busy code p50 / p99 ms | busy p50 / quiet p50 |
| --- | --- | --- | --- |
${rows.join('\n')}`,
  );
  api.kill('SIGTERM');
  await api.exited;
}

/** Sizes for benchmark 4, e.g. --memory-sizes=10000,100000 (open referrals held at once, cumulative). */
const memorySizes = process.argv
  .find((arg) => arg.startsWith('--memory-sizes='))
  ?.slice('--memory-sizes='.length)
  .split(',')
  .map(Number);

async function workerMemory(stack: BenchStack) {
  const sizes = memorySizes ?? (SHORT ? [1_000] : [10_000]);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 15_000));
  // Idle: how much of a worker is there before it holds any referral, bundling at start or not.
  const idle: string[] = [];
  for (const [how, bundleAtStart] of [['bundled at start', true], ['prebuilt bundle', false]] as const) {
    const worker = startWorkerProcess(stack, {}, { bundleAtStart });
    await settle();
    idle.push(`${how}: ${treeRssMb(worker.child.pid!)} MB`);
    worker.kill('SIGTERM');
    await worker.exited;
  }
  const worker = startWorkerProcess(stack);
  const { code, codeId } = await seedCode(stack.databaseUrl);
  const pool = createPool(stack.databaseUrl, () => undefined);
  const client = await stack.client();
  const service = createReferralService({ pool, temporal: client, hashSalt: BENCH_SECRETS.HASH_SALT });
  const rows: string[] = [];
  const started = Date.now();
  let sent = 0;
  let peakRss = 0;
  for (const size of sizes) {
    for (; sent < size; sent += 50) {
      await Promise.all(Array.from({ length: Math.min(50, size - sent) }, () => service.recordClick({ code, visitorId: randomUUID(), metadata: {} })));
    }
    await waitFor(
      async () => {
        peakRss = Math.max(peakRss, treeRssMb(worker.child.pid!));
        return (await pool.query('SELECT count(*) AS n FROM referrals WHERE referral_code_id = $1', [codeId])).rows[0].n >= size ? true : undefined;
      },
      6 * 60 * 60_000,
      `${size} open referrals`,
    );
    const seconds = round((Date.now() - started) / 1000);
    await settle();
    const open = await client.workflow.count(`WorkflowType = 'referralWorkflow' AND ExecutionStatus = 'Running' AND ReferralCode = '${code}'`);
    rows.push(`| ${size.toLocaleString('en')} | ${open.count.toLocaleString('en')} | ${treeRssMb(worker.child.pid!)} MB | ${peakRss} MB | ${seconds} s |`);
    log(rows[rows.length - 1]);
  }
  worker.kill('SIGTERM');
  await worker.exited;
  await client.connection.close();
  await pool.end();
  record(
    `### 4. Worker memory with open referrals waiting on their 30-day timers (one worker process, \`node --import tsx worker.ts\`, WORKER_MAX_CACHED_WORKFLOWS=250, prebuilt workflow bundle)

Idle worker (no referrals yet), 15 s after start: ${idle.join('; ')}.

| referrals clicked | open referral workflows (Temporal visibility) | worker RSS 15 s after the last was persisted | peak RSS while starting them | time from the first click |
| --- | --- | --- | --- | --- |
${rows.join('\n')}`,
  );
}

async function warmStart() {
  const dataDir = (await startBenchStack().then(async (stack) => {
    await stack.stop();
    return stack.dir;
  })) as string;
  const measurements: number[] = [];
  for (const attempt of [1, 2, 3]) {
    const port = await freePort();
    const started = Date.now();
    const main = spawnTsx('src/main.ts', {
      DATA_DIR: dataDir,
      PORT: String(port),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
      TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH ?? '',
    });
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 180_000, 'readiness');
    const seconds = (Date.now() - started) / 1000;
    if (attempt > 1) measurements.push(seconds);
    main.kill('SIGINT');
    await main.exited;
  }
  record(`### 5. Start-up, warm (binaries cached, data folder existing): \`npm start\`'s entry to /readyz 200

${measurements.map((seconds) => `${round(seconds, 2)} s`).join(', ')} (the first, cold run of each data folder is left out).`);
}

async function burst(stack: BenchStack, ceiling: number) {
  const { code, codeId } = await seedCode(stack.databaseUrl);
  const api = await startApi(stack, { RATE_LIMIT_PER_IP_PER_MINUTE: '100000000', RATE_LIMIT_PER_CODE_PER_MINUTE: '6000' });
  const worker = startWorkerProcess(stack);
  const seconds = SHORT ? 5 : 10;
  const offered = Math.ceil(ceiling * 10);
  const result = await clicksThroughApi(api.url, code, { connections: 200, seconds, overallRate: offered });
  const finished = Date.now();
  const pool = createPool(stack.databaseUrl, () => undefined);
  await waitFor(
    async () => ((await pool.query('SELECT count(*) AS n FROM click_events WHERE referral_code_id = $1', [codeId])).rows[0].n >= result.accepted ? true : undefined),
    30 * 60_000,
    'every accepted click in Postgres',
  );
  const settled = round((Date.now() - finished) / 1000);
  const stored = (await pool.query('SELECT count(*) AS n FROM click_events WHERE referral_code_id = $1', [codeId])).rows[0].n;
  const statuses = Object.entries(result.statusCodes).map(([status, { count }]) => `${status}: ${count}`).join(', ');
  record(`### 6. Burst: ${offered} clicks/s offered (10x the ceiling) for ${seconds} s on one code, per-code limit 6000/min

Answers: ${statuses}; connection errors and timeouts: ${result.errors}. Accepted ${result.accepted}, stored ${stored} click events (lost: ${Math.max(0, result.accepted - stored)}${stored > result.accepted ? `; ${stored - result.accepted} more than counted: in flight when autocannon stopped counting, accepted all the same` : ''}); every accepted click was in Postgres ${settled} s after the burst ended.`);
  await pool.end();
  worker.kill('SIGTERM');
  api.kill('SIGTERM');
  await Promise.all([worker.exited, api.exited]);
}

async function main(): Promise<string> {
  const started = new Date();
  const stack = await startBenchStack();
  const knownCeiling = process.argv.find((arg) => arg.startsWith('--ceiling='));
  try {
    // --ceiling=N skips benchmark 1 and takes its ceiling from an earlier run, for re-running the rest.
    const ceiling = knownCeiling ? Number(knownCeiling.split('=')[1]) : await clickIngestion(stack);
    if (wanted('start-cost')) await startCost(stack);
    if (wanted('journeys')) await wholeJourneys(stack);
    if (wanted('reads')) await aggregateReads(stack);
    if (wanted('memory')) await workerMemory(stack);
    if (wanted('burst')) await burst(stack, ceiling);
    if (wanted('busy-code')) await busyCode(stack);
  } finally {
    await stack.stop();
  }
  if (wanted('start')) await warmStart();
  const section = `## ${SHORT ? 'Short' : 'Full'} run, ${started.toISOString().slice(0, 16)}Z

Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`. Machine: ${machine()}. Every Temporal figure here is on
${stack.temporalStore}.

${results.join('\n\n')}
`;
  return section;
}

runBench(`results-${SHORT ? 'short' : 'full'}`, main);
