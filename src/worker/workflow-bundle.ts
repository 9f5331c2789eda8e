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
 * The frames a stack holds in the workflows' sandbox. The SDK's promise hook captures and source-maps a stack for
 * every promise workflow code creates (for the stack-trace query); V8's default of 10 frames cost the worker about a
 * tenth of its CPU per journey (BENCHMARKS.md). The hook's own two frames come first: two of the workflow's stay.
 */
const SANDBOX_STACK_TRACE_LIMIT = 4;

/** The workflows' bundle, whichever way a worker gets it. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundlerLogger });
  // Run as the bundle loads, before the SDK freezes the sandbox's globals; on the first line, so the source map holds.
  return `Error.stackTraceLimit = ${SANDBOX_STACK_TRACE_LIMIT};${code}`;
}

/**
 * Bundles the workflows ahead of time. A worker given the file (WORKFLOW_BUNDLE_PATH) skips webpack at
 * start, which otherwise takes seconds and leaves its memory in the worker's heap.
 */
export async function writeWorkflowBundle(file = DEFAULT_WORKFLOW_BUNDLE): Promise<string> {
  const code = await bundleWorkflows();
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
