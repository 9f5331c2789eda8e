import path from 'node:path';
import { createPool } from '../src/db/pool';
import {
  backlogTable,
  clicksThroughApi,
  followBacklog,
  log,
  machine,
  pidWithCommandLine,
  round,
  runBench,
  seedCode,
  startApi,
  startBenchStack,
  startWorkerProcess,
  TEMPORAL_ON_POSTGRES,
  temporalSettled,
  treeCpuSeconds,
  waitFor,
} from './support';

const option = (name: string, fallback: number) => Number(process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const CLICKS = option('clicks', 3000);
const MENTORS = option('mentors', 1);

/**
 * How a backlog becomes counts: `--clicks` clicks (3,000) taken with no worker running, on one code or spread over
 * `--mentors` mentors' codes (each mentor's counts take turns on the mentor's aggregates lock), then one worker
 * (with its dispatcher) started. Every 5 s it reads how many the dispatcher has delivered (the workflow exists) and
 * how many the workflows have written (the referral is counted), and at the end the CPU each process spent a referral.
 */
async function main() {
  const stack = await startBenchStack();
  const pool = createPool(stack.databaseUrl, () => undefined);
  const api = await startApi(stack);
  const codes = await Promise.all(Array.from({ length: MENTORS }, () => seedCode(stack.databaseUrl)));
  const codeIds = codes.map(({ codeId }) => codeId);
  await clicksThroughApi(api.url, codes.map(({ code }) => code), { connections: 32, seconds: Math.max(1, CLICKS / 600), overallRate: 600 });
  api.kill('SIGTERM');
  await api.exited;
  await temporalSettled(stack);
  const delivered = async () => (await pool.query('SELECT count(*)::int AS n FROM intake WHERE referral_code_id = ANY($1::uuid[]) AND delivered_at IS NOT NULL', [codeIds])).rows[0].n as number;
  const postgresPid = pidWithCommandLine(path.join(stack.dir, 'postgres'));
  const worker = startWorkerProcess(stack);
  await waitFor(async () => ((await delivered()) > 0 ? true : undefined), 120_000, 'the first delivery');
  const started = Date.now();
  const cpu = () => ({ temporal: treeCpuSeconds(stack.temporalPid()), worker: treeCpuSeconds(worker.child.pid!), postgres: treeCpuSeconds(postgresPid) });
  const cpuBefore = cpu();
  const { taken, allDelivered, allWritten, samples } = await followBacklog(pool, codeIds, started);
  const cpuAfter = cpu();
  worker.kill('SIGTERM');
  await worker.exited;
  await pool.end();
  await stack.stop();
  const { seconds } = allWritten;
  const perReferral = (name: keyof typeof cpuAfter) => round(((cpuAfter[name] - cpuBefore[name]) * 1000) / taken, 2);
  const busy = round(Object.keys(cpuAfter).reduce((sum, name) => sum + cpuAfter[name as keyof typeof cpuAfter] - cpuBefore[name as keyof typeof cpuAfter], 0) / seconds, 2);
  log(`drained ${taken} in ${seconds} s`);
  return `### A backlog of ${taken} clicks on ${MENTORS > 1 ? `${MENTORS} mentors' codes` : 'one code'}, delivered and written by one worker

Command: \`npx tsx bench/drain.ts --clicks=${CLICKS} --mentors=${MENTORS}${TEMPORAL_ON_POSTGRES ? ' --temporal-on-postgres' : ''}\`. Machine: ${machine()}. Temporal: ${stack.temporalStore}.

Every click delivered (its workflow exists) ${allDelivered.seconds} s after the first delivery, with ${allDelivered.written} of
${taken} written (counted) by then; every one written after **${seconds} s** (${round(taken / seconds)}/s). CPU a
referral: the Temporal server ${perReferral('temporal')} ms, the worker ${perReferral('worker')} ms, Postgres ${perReferral('postgres')} ms; ${busy} of the 2 cores busy.

${backlogTable(samples)}
`;
}

runBench('drain', main);
