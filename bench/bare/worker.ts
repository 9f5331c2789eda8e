import { NativeConnection, Worker } from '@temporalio/worker';
import type { BareActivities } from './workflow';

export const BARE_TASK_QUEUE = 'bench-bare';

/** The worker for benchmark 2's ceiling: the bare journey workflow, no-op activities, the same cache as ours. */
async function runBareWorker(): Promise<void> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const activities: BareActivities = { noop: async () => undefined };
  const worker = await Worker.create({
    connection,
    taskQueue: BARE_TASK_QUEUE,
    workflowsPath: require.resolve('./workflow'),
    activities,
    maxCachedWorkflows: Number(process.env.WORKER_MAX_CACHED_WORKFLOWS ?? 250),
  });
  await worker.run();
  await connection.close();
}

if (require.main === module) {
  runBareWorker().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
