import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { clicksThroughApi, journeyThroughApi, log, seedCode, startApi, startBenchStack, startWorkerProcess } from './support';

type Profile = {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
};

const PROFILED = process.argv.includes('--process=worker') ? 'worker' : 'api';
const LOAD = PROFILED === 'worker' || process.argv.includes('--load=journeys') ? 'journeys' : 'clicks';

/**
 * Where a process's CPU goes under load, as self time by package and by function, largest first:
 * the API while autocannon clicks for 15 s (`npx tsx bench/profile.ts`), or the worker, every thread of it,
 * while 8 loops drive whole journeys through the API for 15 s (`npx tsx bench/profile.ts --process=worker`), or the
 * API under those journeys (`--load=journeys`).
 */
async function main() {
  const stack = await startBenchStack();
  const profileDir = path.join(stack.dir, 'cpu-profile');
  mkdirSync(profileDir);
  const profiling = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const api = await startApi(stack, {}, PROFILED === 'api' ? profiling : []);
  const worker = LOAD === 'journeys' ? startWorkerProcess(stack, {}, { nodeOptions: PROFILED === 'worker' ? profiling : [] }) : undefined;
  const load = LOAD === 'clicks' ? await clickLoad(api.url, stack.databaseUrl) : await journeyLoad(api.url, stack.databaseUrl);
  log(load);
  // The profile is written when the process exits on its own: a signal it handles, not SIGKILL.
  for (const service of [api, worker]) service?.kill('SIGINT');
  await Promise.all([api.exited, worker?.exited]);
  await stack.stop();
  const profiles = readdirSync(profileDir).map((file) => JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as Profile);
  const selfMs = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const profile of profiles) addSelfTimes(profile, selfMs, byPackage);
  const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => `${Math.round(ms)} ms  ${name}`).join('\n');
  return `${load}, ${profiles.length} profiled threads\n\nby package:\n${top(byPackage, 20)}\n\nby function:\n${top(selfMs, 40)}\n`;
}

async function clickLoad(url: string, databaseUrl: string) {
  const { code } = await seedCode(databaseUrl);
  const result = await clicksThroughApi(url, code, { connections: 32, seconds: 15 });
  return `${result.accepted} clicks accepted`;
}

async function journeyLoad(url: string, databaseUrl: string) {
  // A code per loop, as in benchmark 2.
  const codes = await Promise.all(Array.from({ length: 8 }, () => seedCode(databaseUrl)));
  let index = 0;
  let confirmed = 0;
  const deadline = Date.now() + 15_000;
  await Promise.all(
    codes.map(async ({ code }) => {
      while (Date.now() < deadline) if (await journeyThroughApi(url, code, index++)) confirmed += 1;
    }),
  );
  return `${confirmed} journeys confirmed`;
}

function addSelfTimes(profile: Profile, selfMs: Map<string, number>, byPackage: Map<string, number>) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, index) => {
    const frame = byNode.get(id)!.callFrame;
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
