import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPool } from '../src/db/pool';
import {
  clicksThroughApi,
  journeyThroughApi,
  log,
  pidWithCommandLine,
  round,
  seedCode,
  startApi,
  startBenchStack,
  startWorkerProcess,
  treeCpuSeconds,
  waitFor,
} from './support';

type Profile = {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  /** When sampling began, in µs of the system's monotonic clock, which `monotonicMicros` reads too. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
};

/** What a load did, and when: the profiles' samples outside [from, to] are left out. */
interface Load {
  text: string;
  units: number;
  unit: string;
  from: number;
  to: number;
}

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

const PROFILED = (['worker', 'postgres'] as const).find((name) => process.argv.includes(`--process=${name}`)) ?? 'api';
const LOAD = PROFILED === 'worker' || process.argv.includes('--load=journeys') ? 'journeys' : 'clicks';

/**
 * Where a process's CPU goes under load, as self time by package and by function, largest first, in ms per click or
 * journey over the load alone (the processes' start and a warm-up left out): the API while autocannon clicks for 15 s
 * (`npx tsx bench/profile.ts`), or the worker, every thread of it, while 8 loops drive whole journeys through the API
 * for 15 s (`npx tsx bench/profile.ts --process=worker`), or the API under those journeys (`--load=journeys`).
 * `--process=postgres`: what Postgres spends delivering a click (`postgresPerDelivery`).
 */
async function main() {
  if (PROFILED === 'postgres') return postgresPerDelivery();
  const stack = await startBenchStack();
  const profileDir = path.join(stack.dir, 'cpu-profile');
  mkdirSync(profileDir);
  const profiling = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const api = await startApi(stack, {}, PROFILED === 'api' ? profiling : []);
  const worker = LOAD === 'journeys' ? startWorkerProcess(stack, {}, { nodeOptions: PROFILED === 'worker' ? profiling : [] }) : undefined;
  const load = LOAD === 'clicks' ? await clickLoad(api.url, stack.databaseUrl) : await journeyLoad(api.url, stack.databaseUrl);
  log(load.text);
  // The profile is written when the process exits on its own: a signal it handles, not SIGKILL.
  for (const service of [api, worker]) service?.kill('SIGINT');
  await Promise.all([api.exited, worker?.exited]);
  await stack.stop();
  const profiles = readdirSync(profileDir).map((file) => JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as Profile);
  const selfMs = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const profile of profiles) addSelfTimes(profile, load, selfMs, byPackage);
  const busyMs = [...byPackage.values()].reduce((sum, ms) => sum + ms, 0);
  const top = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, ms]) => `${(ms / load.units).toFixed(2)} ms  ${name}`)
      .join('\n');
  return (
    `${load.text}, ${profiles.length} profiled threads, busy ${(busyMs / load.units).toFixed(2)} ms a ${load.unit} (sampled time, which counts a thread ` +
    `descheduled in a system call as busy)\n\nby package, ms a ${load.unit}:\n${top(byPackage, 20)}\n\nby function, ms a ${load.unit}:\n${top(selfMs, 40)}\n`
  );
}

async function clickLoad(url: string, databaseUrl: string): Promise<Load> {
  const { code } = await seedCode(databaseUrl);
  const from = monotonicMicros();
  const result = await clicksThroughApi(url, code, { connections: 32, seconds: 15 });
  return { text: `${result.accepted} clicks accepted`, units: result.accepted, unit: 'click', from, to: monotonicMicros() };
}

async function journeyLoad(url: string, databaseUrl: string): Promise<Load> {
  // A code per loop, as in benchmark 2.
  const codes = await Promise.all(Array.from({ length: 8 }, () => seedCode(databaseUrl)));
  let index = 0;
  let confirmed = 0;
  const drive = async (seconds: number) => {
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(
      codes.map(async ({ code }) => {
        while (Date.now() < deadline) if (await journeyThroughApi(url, code, index++)) confirmed += 1;
      }),
    );
  };
  // Warmed up first: a worker's first workflows load its bundle into the sandbox.
  await drive(5);
  confirmed = 0;
  const from = monotonicMicros();
  await drive(15);
  return { text: `${confirmed} journeys confirmed`, units: confirmed, unit: 'journey', from, to: monotonicMicros() };
}

/** Clicks taken while no worker runs, then delivered by one; on one mentor's code, then spread over 16 mentors'. */
const DELIVERED_CLICKS = 3000;
const CLICKS_PER_SECOND = 150;
const MENTOR_SPREADS = [1, 16];

/**
 * What Postgres spends delivering a click into the read model: its CPU, and its statements (those run inside triggers
 * and functions too, from `pg_stat_statements`; a statement's time includes its waits for locks) and their WAL.
 * The clicks are taken first with no worker running, so only delivery runs while it is measured.
 */
async function postgresPerDelivery() {
  const stack = await startBenchStack({ postgresSettings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' } });
  const pool = createPool(stack.databaseUrl, () => undefined);
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const api = await startApi(stack);
  const postgresPid = pidWithCommandLine(path.join(stack.dir, 'postgres'));
  const sections: string[] = [];
  for (const mentors of MENTOR_SPREADS) {
    const codes = await Promise.all(Array.from({ length: mentors }, () => seedCode(stack.databaseUrl)));
    const taken = await clicksThroughApi(api.url, codes.map(({ code }) => code), {
      connections: 16,
      seconds: DELIVERED_CLICKS / CLICKS_PER_SECOND,
      overallRate: CLICKS_PER_SECOND,
    });
    await pool.query('SELECT pg_stat_statements_reset()');
    const cpuBefore = treeCpuSeconds(postgresPid);
    const started = Date.now();
    const worker = startWorkerProcess(stack);
    const written = async () =>
      (await pool.query('SELECT count(*)::int AS n FROM referrals WHERE referral_code_id = ANY($1::uuid[])', [codes.map(({ codeId }) => codeId)])).rows[0].n as number;
    await waitFor(async () => ((await written()) >= taken.accepted ? true : undefined), 900_000, `${taken.accepted} clicks delivered`);
    const seconds = (Date.now() - started) / 1000;
    const cpuSeconds = treeCpuSeconds(postgresPid) - cpuBefore;
    worker.kill('SIGINT');
    await worker.exited;
    const { rows } = await pool.query<{ query: string; calls: string; ms: number; planMs: number; wal: string; toplevel: boolean }>(
      `SELECT query, calls, total_exec_time AS ms, total_plan_time AS "planMs", wal_bytes AS wal, toplevel FROM pg_stat_statements
       WHERE query NOT LIKE '%pg_stat%' ORDER BY total_exec_time DESC`,
    );
    const per = (value: number) => round(value / taken.accepted, 2);
    const sum = (list: typeof rows, field: 'calls' | 'ms' | 'planMs' | 'wal') => list.reduce((total, row) => total + Number(row[field]), 0);
    const top = rows.filter((row) => row.toplevel);
    sections.push(
      `${taken.accepted} clicks on ${mentors > 1 ? `${mentors} mentors' codes` : "one mentor's code"}, delivered in ${round(seconds)} s: Postgres CPU ${per(cpuSeconds * 1000)} ms a click, ` +
        `${per(sum(top, 'calls'))} statements a click (${per(sum(rows, 'calls') - sum(top, 'calls'))} more inside them), ` +
        `${per(sum(top, 'ms'))} ms executing, ${per(sum(top, 'planMs'))} ms planning, ${round(sum(top, 'wal') / taken.accepted / 1024, 2)} kB of WAL\n\n` +
        `| ms a click | planning ms | calls a click | kind | statement |\n| ---: | ---: | ---: | --- | --- |\n` +
        rows
          .slice(0, 25)
          .map((row) => `| ${per(row.ms)} | ${per(row.planMs)} | ${per(Number(row.calls))} | ${row.toplevel ? 'top' : 'inner'} | ${row.query.replace(/\s+/g, ' ').slice(0, 110).replace(/\|/g, '\\|')} |`)
          .join('\n'),
    );
  }
  api.kill('SIGINT');
  await api.exited;
  await pool.end();
  await stack.stop();
  return `${sections.join('\n\n')}\n`;
}

function addSelfTimes(profile: Profile, window: Pick<Load, 'from' | 'to'>, selfMs: Map<string, number>, byPackage: Map<string, number>) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    at += profile.timeDeltas[index] ?? 0;
    const frame = byNode.get(id)!.callFrame;
    if (at < window.from || at > window.to || frame.functionName === '(idle)') return;
    const where = frame.url.replace(/^.*node_modules\//, '').replace(`file://${process.cwd()}/`, '');
    const name = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber}`;
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    selfMs.set(name, (selfMs.get(name) ?? 0) + ms);
    const pkg = frame.url.includes('node_modules/') ? frame.url.replace(/^.*node_modules\//, '').split('/').slice(0, frame.url.includes('node_modules/@') ? 2 : 1).join('/') : frame.url ? (frame.url.startsWith('node:') ? 'node core' : 'ours') : frame.functionName;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  });
}

main().then(
  (text) => {
    process.stdout.write(text);
    process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
