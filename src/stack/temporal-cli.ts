import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The last Temporal CLI release that `go install` accepts (later tags carry a `replace` directive). */
export const PINNED_TEMPORAL_CLI = 'v1.5.1';

export type TemporalCli =
  | { source: 'TEMPORAL_CLI_PATH' | 'PATH' | 'cache' | 'go install'; path: string }
  | { source: 'sdk download' };

interface ResolveOptions {
  explicitPath?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export function temporalCliCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(cacheRoot, 'referral-attribution', `temporal-cli-${PINNED_TEMPORAL_CLI}`);
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(binary: string, env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.map((dir) => path.join(dir, binary)).find(isExecutable);
}

/** The Go toolchain on PATH, else where this machine's image puts it. */
export function findGo(env: NodeJS.ProcessEnv): string | undefined {
  return findOnPath('go', env) ?? ['/usr/local/go/bin/go'].find(isExecutable);
}

/**
 * Finds the Temporal CLI in the order DESIGN.md section 7 gives: TEMPORAL_CLI_PATH, a `temporal`
 * on PATH, a cached build, a fresh `go install` of the pinned release, else the SDK's download.
 */
export async function resolveTemporalCli(options: ResolveOptions = {}): Promise<TemporalCli> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  if (options.explicitPath) {
    if (!isExecutable(options.explicitPath)) {
      throw new Error(`TEMPORAL_CLI_PATH: ${options.explicitPath} is not an executable file`);
    }
    return { source: 'TEMPORAL_CLI_PATH', path: options.explicitPath };
  }
  const onPath = findOnPath('temporal', env);
  if (onPath) return { source: 'PATH', path: onPath };

  const cacheDir = temporalCliCacheDir(env);
  const cached = path.join(cacheDir, 'temporal');
  if (isExecutable(cached)) return { source: 'cache', path: cached };

  const go = findGo(env);
  if (!go) return { source: 'sdk download' };
  log(
    `Building the Temporal CLI ${PINNED_TEMPORAL_CLI} with go install into ${cacheDir}; ` +
      'this happens once and takes a few minutes.',
  );
  mkdirSync(cacheDir, { recursive: true });
  await run(go, ['install', `github.com/temporalio/cli/cmd/temporal@${PINNED_TEMPORAL_CLI}`], {
    env: { ...env, GOBIN: cacheDir, GOFLAGS: '-mod=mod' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (!isExecutable(cached)) throw new Error(`go install finished but ${cached} is missing`);
  return { source: 'go install', path: cached };
}

if (require.main === module) {
  resolveTemporalCli({ explicitPath: process.env.TEMPORAL_CLI_PATH, log: (line) => console.log(line) })
    .then((cli) => console.log('path' in cli ? `${cli.path} (${cli.source})` : cli.source))
    .catch((error: Error) => {
      console.error(error.message);
      process.exit(1);
    });
}
