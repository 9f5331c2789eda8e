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
