import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/**
 * Every thread's niceness and scheduling policy in a process that had threads before it yielded and started one after.
 * /proc/<pid>/task/<tid>/stat, counted after the command's parenthesis: the 19th field is the niceness, the 41st the policy.
 */
function threadsAfterYielding(config: string): Array<{ nice: number; policy: number }> {
  const script = `
    const { readdirSync, readFileSync } = require('node:fs');
    const { Worker } = require('node:worker_threads');
    const { yieldCpuToRequests } = require('./src/worker/create-worker');
    const before = new Worker('setInterval(() => {}, 1000)', { eval: true });
    before.once('online', () => {
      yieldCpuToRequests(${config});
      const after = new Worker('setInterval(() => {}, 1000)', { eval: true });
      after.once('online', () => {
        const threads = readdirSync('/proc/self/task').map((tid) => {
          const fields = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ');
          return { nice: Number(fields[16]), policy: Number(fields[38]) };
        });
        console.log(JSON.stringify(threads));
        process.exit(0);
      });
    });`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!) as Array<{ nice: number; policy: number }>;
}

/** Linux's scheduling policies as /proc shows them. */
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

test('a standalone worker gives every thread, those it had and those it starts, the niceness it is configured with', () => {
  const threads = threadsAfterYielding("{ WORKER_NICENESS: 7, WORKER_CPU_CLASS: 'nice' }");
  expect(threads.length).toBeGreaterThan(4);
  expect(new Set(threads.map((thread) => `${thread.policy}/${thread.nice}`))).toEqual(new Set([`${SCHED_OTHER}/7`]));
});

test('in the idle class, every thread of the worker, those it had and those it starts, is scheduled only on CPU left idle', () => {
  const threads = threadsAfterYielding("{ WORKER_NICENESS: 7, WORKER_CPU_CLASS: 'idle' }");
  expect(threads.length).toBeGreaterThan(4);
  expect(new Set(threads.map((thread) => thread.policy))).toEqual(new Set([SCHED_IDLE]));
});
