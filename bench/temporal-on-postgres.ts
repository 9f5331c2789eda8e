import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { findGo, isExecutable, PINNED_TEMPORAL_CLI, temporalCliCacheDir } from '../src/stack/temporal-cli';
import type { RunningTemporal } from '../src/stack/temporal';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../src/workflows/search-attributes';

const run = promisify(execFile);
const { IndexedValueType } = temporal.api.enums.v1;

/** The server release inside the pinned CLI (its dev server reports it): the same server code, its own store. */
const SERVER_MODULE = 'go.temporal.io/server';

export interface TemporalServerBuild {
  server: string;
  sqlTool: string;
  /** The server module's Postgres schema folder (temporal/ and visibility/, each with versioned/). */
  schemaDir: string;
}

function go(): string {
  const found = findGo(process.env);
  if (!found) throw new Error('Temporal on Postgres is built with Go, and no go is on PATH or at /usr/local/go/bin');
  return found;
}

/**
 * Builds the full Temporal server and its SQL schema tool, at the versions the pinned CLI depends on, once,
 * beside the CLI's cache: a Go module that requires what the CLI's go.mod requires, so nothing newer is picked.
 */
export async function buildTemporalServer(log: (line: string) => void): Promise<TemporalServerBuild> {
  const dir = path.join(path.dirname(temporalCliCacheDir()), `temporal-server-for-cli-${PINNED_TEMPORAL_CLI}`);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  const env = { ...process.env, GOFLAGS: '-mod=mod' };
  if (!existsSync(path.join(dir, 'go.mod'))) {
    mkdirSync(dir, { recursive: true });
    const { stdout } = await run(go(), ['mod', 'download', '-json', `github.com/temporalio/cli@${PINNED_TEMPORAL_CLI}`], { env, maxBuffer: 16 * 1024 * 1024 });
    const cliGoMod = readFileSync((JSON.parse(stdout) as { GoMod: string }).GoMod, 'utf8');
    writeFileSync(path.join(dir, 'go.mod'), cliGoMod.replace(/^module .*$/m, 'module referralbench/temporalserver'));
  }
  for (const [binary, pkg] of [
    [server, `${SERVER_MODULE}/cmd/server`],
    [sqlTool, `${SERVER_MODULE}/cmd/tools/sql`],
  ]) {
    if (isExecutable(binary)) continue;
    log(`Building ${pkg} into ${dir}; this happens once and takes a few minutes.`);
    await run(go(), ['build', '-o', binary, pkg], { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 });
  }
  const { stdout: moduleDir } = await run(go(), ['list', '-m', '-f', '{{.Dir}}', SERVER_MODULE], { cwd: dir, env });
  return { server, sqlTool, schemaDir: path.join(moduleDir.trim(), 'schema', 'postgresql', 'v12') };
}

export interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The server's two databases, as temporal-sql-tool (what temporalio/auto-setup runs) creates them. */
export async function setUpTemporalSchema(build: TemporalServerBuild, postgres: PostgresEndpoint) {
  const sql = (database: string, ...args: string[]) =>
    run(build.sqlTool, ['--plugin', 'postgres12', '--ep', postgres.host, '--port', String(postgres.port), '--user', postgres.user, '--password', postgres.password, '--database', database, ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
  for (const [database, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    await sql(database, 'create-database');
    await sql(database, 'setup-schema', '-v', '0.0');
    await sql(database, 'update-schema', '-d', path.join(build.schemaDir, schema, 'versioned'));
  }

}

export interface TemporalOnPostgresOptions {
  build: TemporalServerBuild;
  /** Where the config and the server's log go. */
  dir: string;
  postgres: PostgresEndpoint;
  /** Frontend gRPC port; the other services take the ports after it. */
  port: number;
  log: (line: string) => void;
}

/**
 * The production shape of docker-compose without Docker: the full Temporal server (frontend, history,
 * matching, worker services in one process, 4 history shards as temporalio/auto-setup has) keeping its state
 * and its visibility in Postgres, with the namespace and our search attributes registered.
 */
export async function startTemporalOnPostgres(options: TemporalOnPostgresOptions): Promise<RunningTemporal & { pid: number }> {
  const { build, postgres } = options;
  const configDir = path.join(options.dir, 'temporal-config');
  mkdirSync(configDir, { recursive: true });
  const dynamicConfig = path.join(configDir, 'dynamic.yaml');
  // What the CLI's dev server sets, so the two stores are compared with the same server settings.
  writeFileSync(
    dynamicConfig,
    [
      ['system.forceSearchAttributesCacheRefreshOnRead', true],
      ['frontend.persistenceMaxQPS', 10000],
      ['history.persistenceMaxQPS', 45000],
      ['history.hostLevelCacheMaxSize', 8096],
      ['frontend.namespaceRPS.visibility', 100],
    ]
      .map(([key, value]) => `${key}:\n  - value: ${value}\n`)
      .join(''),
  );
  const datastore = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${postgres.host}:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const membershipPorts = await freeMembershipPorts(4);
  const service = (offset: number) => ({
    rpc: { grpcPort: options.port + offset, membershipPort: membershipPorts[offset], bindOnLocalHost: true },
  });
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: { 'postgres-default': datastore('temporal', 20), 'postgres-visibility': datastore('temporal_visibility', 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: { rpc: { ...service(0).rpc, httpPort: options.port + 50 } },
      history: service(1),
      matching: service(2),
      worker: service(3),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${options.port}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfig, pollInterval: '10s' },
  };
  // JSON is YAML: the server reads config/<env>.yaml.
  writeFileSync(path.join(configDir, 'development.yaml'), JSON.stringify(config, null, 2));

  let output = '';
  const child = spawn(build.server, ['--root', options.dir, '--config', 'temporal-config', '--env', 'development', '--allow-no-auth', 'start'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
  child.stderr.on('data', (chunk) => (output = (output + chunk).slice(-20_000)));
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      // A server that ends on its own says why.
      if (!stopping) options.log(`Temporal on Postgres exited (${code ?? signal}):\n${output.slice(-4000)}`);
      resolve();
    }),
  );
  const address = `127.0.0.1:${options.port}`;
  try {
    await registerNamespaceAndSearchAttributes(address);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`Temporal on Postgres did not come up: ${String(error)}\n${output.slice(-4000)}`);
  }
  options.log(`Temporal server on Postgres at ${address} (pid ${child.pid})`);
  return {
    address,
    pid: child.pid!,
    stop: async () => {
      stopping = true;
      process.kill(-child.pid!, 'SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 15_000))]);
      // Its ports must be free before a restart binds them again.
      if (!stopped) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

/** The server stores membership ports as smallint: free ports below 32768. */
async function freeMembershipPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if (ports.includes(candidate)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(candidate, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) ports.push(candidate);
  }
  return ports;
}

async function registerNamespaceAndSearchAttributes(address: string) {
  const deadline = Date.now() + 120_000;
  const retrying = async <T>(what: string, attempt: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${what}: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  const connection = await retrying('connect', () => Connection.connect({ address, connectTimeout: 2000 }));
  try {
    await retrying('register the namespace', async () => {
      try {
        await connection.workflowService.registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('1 day') });
      } catch (error) {
        if (!String(error).includes('already')) throw error;
      }
    });
    await retrying('add the search attributes', () =>
      connection.operatorService.addSearchAttributes({
        namespace: 'default',
        searchAttributes: Object.fromEntries(
          REFERRAL_SEARCH_ATTRIBUTES.map((key) => [
            key.name,
            key.type === 'BOOL' ? IndexedValueType.INDEXED_VALUE_TYPE_BOOL : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
          ]),
        ),
      }),
    );
    // A new namespace reaches every service's cache within seconds: wait until a listing answers.
    await retrying('use the namespace', () => connection.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1 }));
  } finally {
    await connection.close();
  }
}
