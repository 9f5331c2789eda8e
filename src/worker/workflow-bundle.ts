import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

export const DEFAULT_WORKFLOW_BUNDLE = path.resolve(__dirname, '..', '..', 'dist', 'workflow-bundle.js');

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

/**
 * Bundles the workflows ahead of time. A worker given the file (WORKFLOW_BUNDLE_PATH) skips webpack at
 * start, which otherwise takes seconds and leaves its memory in the worker's heap.
 */
export async function writeWorkflowBundle(file = DEFAULT_WORKFLOW_BUNDLE): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, code);
  return file;
}

if (require.main === module) {
  writeWorkflowBundle(process.argv[2] ? path.resolve(process.argv[2]) : undefined).then(
    (file) => console.log(`workflow bundle written to ${file}`),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
