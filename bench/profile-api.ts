import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { clicksThroughApi, log, seedCode, startApi, startBenchStack } from './support';

/**
 * Where the API's CPU goes on the click path: the API under --cpu-prof while autocannon clicks for 15 s,
 * then the self time by function, largest first. `npx tsx bench/profile-api.ts`
 */
async function main() {
  const stack = await startBenchStack();
  const { code } = await seedCode(stack.databaseUrl);
  const profileDir = path.join(stack.dir, 'cpu-profile');
  mkdirSync(profileDir);
  const api = await startApi(stack, {}, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const result = await clicksThroughApi(api.url, code, { connections: 32, seconds: 15 });
  log(`${result.accepted} clicks accepted`);
  // The profile is written when the process exits on its own: a signal it handles, not SIGKILL.
  api.kill('SIGINT');
  await api.exited;
  await stack.stop();
  const file = path.join(profileDir, readdirSync(profileDir)[0]);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<string, number>();
  const byPackage = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const frame = byNode.get(id)!.callFrame;
    const where = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/work\/main\//, '');
    const name = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber}`;
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    selfMs.set(name, (selfMs.get(name) ?? 0) + ms);
    const pkg = frame.url.includes('node_modules/') ? frame.url.replace(/^.*node_modules\//, '').split('/').slice(0, frame.url.includes('node_modules/@') ? 2 : 1).join('/') : frame.url ? (frame.url.startsWith('node:') ? 'node core' : 'ours') : frame.functionName;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  });
  const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => `${Math.round(ms)} ms  ${name}`).join('\n');
  return `${result.accepted} clicks\n\nby package:\n${top(byPackage, 20)}\n\nby function:\n${top(selfMs, 40)}\n`;
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
