import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Sets the niceness of every thread of a process: Linux keeps one per thread, and a thread started later takes its
 * creator's. A thread that ends meanwhile is skipped.
 */
export function reniceThreads(pid: number | 'self', niceness: number): void {
  const tasks = `/proc/${pid}/task`;
  const threads = existsSync(tasks) ? readdirSync(tasks).map(Number) : [pid === 'self' ? 0 : pid];
  for (const thread of threads) {
    try {
      setPriority(thread, niceness);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ESRCH') throw error;
    }
  }
}

/**
 * Puts every thread of a process in Linux's idle scheduling class (SCHED_IDLE): it runs only on CPU that every other
 * process leaves unused, and a thread started later stays in it. Uses util-linux's `chrt`.
 */
export function idleThreads(pid: number | 'self'): void {
  execFileSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(pid === 'self' ? process.pid : pid)], { stdio: 'ignore' });
}
