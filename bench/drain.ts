import path from 'node:path';
import { createPool } from '../src/db/pool';
import {
  clicksThroughApi,
  log,
  machine,
  pidWithCommandLine,
  round,
  runBench,
  seedCode,
  startApi,
  startBenchStack,
  startWorkerProcess,
  temporalSettled,
  treeCpuSeconds,
  waitFor,
} from './support';

const CLICKS = Number(process.argv.find((arg) => arg.startsWith('--clicks='))?.split('=')[1] ?? 3000);
const SAMPLE_MS = 5000;

/**
 * How a backlog becomes counts: `--clicks` clicks (3,000) on one code taken with no worker running, then one worker
 * (with its dispatcher) started. Every 5 s it reads how many the dispatcher has delivered (the workflow exists) and
 * how many the workflows have written (the referral is counted), and at the end the CPU each process spent a referral.
 */
async function main() {
  const stack = await startBenchStack();
  const pool = createPool(stack.databaseUrl, () => undefined);
  const api = await startApi(stack);
  const { code, codeId } = await seedCode(stack.databaseUrl);
  await clicksThroughApi(api.url, code, { connections: 32, seconds: Math.max(1, CLICKS / 600), overallRate: 600 });
  api.kill('SIGTERM');
  await api.exited;
  await temporalSettled(stack);
  const count = async (sql: string) => (await pool.query(sql, [codeId])).rows[0].n as number;
  const delivered = () => count('SELECT count(*)::int AS n FROM intake WHERE referral_code_id = $1 AND delivered_at IS NOT NULL');
  const written = () => count('SELECT count(*)::int AS n FROM referrals WHERE referral_code_id = $1');
  const taken = await count('SELECT count(*)::int AS n FROM intake WHERE referral_code_id = $1');
  const postgresPid = pidWithCommandLine(path.join(stack.dir, 'postgres'));
  const worker = startWorkerProcess(stack);
  await waitFor(async () => ((await delivered()) > 0 ? true : undefined), 120_000, 'the first delivery');
  const started = Date.now();
  const cpu = () => ({ temporal: treeCpuSeconds(stack.temporalPid()), worker: treeCpuSeconds(worker.child.pid!), postgres: treeCpuSeconds(postgresPid) });
  const cpuBefore = cpu();
  const samples: string[] = [];
  let allDelivered: { seconds: number; written: number } | undefined;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    const [nowDelivered, nowWritten] = [await delivered(), await written()];
    const seconds = round((Date.now() - started) / 1000);
    samples.push(`| ${seconds} | ${nowDelivered} | ${nowWritten} |`);
    if (!allDelivered && nowDelivered >= taken) allDelivered = { seconds, written: nowWritten };
    if (nowWritten >= taken) break;
  }
  const seconds = (Date.now() - started) / 1000;
  const cpuAfter = cpu();
  worker.kill('SIGTERM');
  await worker.exited;
  await pool.end();
  await stack.stop();
  const perReferral = (name: keyof typeof cpuAfter) => round(((cpuAfter[name] - cpuBefore[name]) * 1000) / taken, 2);
  const busy = round(Object.keys(cpuAfter).reduce((sum, name) => sum + cpuAfter[name as keyof typeof cpuAfter] - cpuBefore[name as keyof typeof cpuAfter], 0) / seconds, 2);
  log(`drained ${taken} in ${round(seconds)} s`);
  return `### A backlog of ${taken} clicks on one code, delivered and written by one worker

Command: \`npx tsx bench/drain.ts --clicks=${CLICKS}\`. Machine: ${machine()}. Temporal: ${stack.temporalStore}.

Every click delivered (its workflow exists) ${allDelivered?.seconds} s after the first delivery, with ${allDelivered?.written} of
${taken} written (counted) by then; every one written after **${round(seconds)} s** (${round(taken / seconds)}/s). CPU a
referral: the Temporal server ${perReferral('temporal')} ms, the worker ${perReferral('worker')} ms, Postgres ${perReferral('postgres')} ms; ${busy} of the 2 cores busy.

| seconds | delivered | written |
| ---: | ---: | ---: |
${samples.join('\n')}
`;
}

runBench('drain', main);
