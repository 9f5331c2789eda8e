import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** Every thread's niceness in a process that had threads before it yielded and started one after. */
function nicenessAfterYielding(niceness: string): number[] {
  const script = `
    const { readdirSync, readFileSync } = require('node:fs');
    const { Worker } = require('node:worker_threads');
    const { yieldCpuToRequests } = require('./src/worker/create-worker');
    const before = new Worker('setInterval(() => {}, 1000)', { eval: true });
    before.once('online', () => {
      yieldCpuToRequests({ WORKER_NICENESS: ${niceness} });
      const after = new Worker('setInterval(() => {}, 1000)', { eval: true });
      after.once('online', () => {
        // /proc/<pid>/task/<tid>/stat: the 19th field is the niceness, counted after the command's parenthesis.
        const nice = readdirSync('/proc/self/task').map((tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
        console.log(JSON.stringify(nice));
        process.exit(0);
      });
    });`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').pop()!) as number[];
}

test('a standalone worker gives every thread, those it had and those it starts, the niceness it is configured with', () => {
  const threads = nicenessAfterYielding('7');
  expect(threads.length).toBeGreaterThan(4);
  expect(new Set(threads)).toEqual(new Set([7]));
});
