import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { resolveTemporalCli } from './temporal-cli';

export interface RunningTemporal {
  address: string;
  uiUrl?: string;
  dbFile?: string;
  stop(): Promise<void>;
}

export interface TemporalOptions {
  /** When set, that server is used and no dev server is started. */
  address?: string;
  namespace: string;
  cliPath?: string;
  /** SQLite file of the dev server; omitted, the server keeps its state in memory. */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  /** Where the dev server serves its own Prometheus metrics; omitted, a port of its choosing. */
  metricsPort?: number;
  log: (line: string) => void;
}

/** Connects to TEMPORAL_ADDRESS, or starts the Temporal CLI's dev server with our search attributes. */
export async function startTemporal(options: TemporalOptions): Promise<RunningTemporal> {
  if (options.address) {
    const connection = await Connection.connect({ address: options.address });
    await connection.close();
    return { address: options.address, stop: async () => undefined };
  }
  // Development only: the production image carries no dev server launcher.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const cli = await resolveTemporalCli({ explicitPath: options.cliPath, log: options.log });
  if (options.dbFile) mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: 'path' in cli ? { type: 'existing-path', path: cli.path } : { type: 'cached-download' },
      namespace: options.namespace,
      dbFilename: options.dbFile,
      port: options.port,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      searchAttributes: REFERRAL_SEARCH_ATTRIBUTES,
      // WAL with synchronous=NORMAL is fast and survives a process crash (not a power cut).
      extraArgs: [
        ...(options.dbFile ? ['--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=NORMAL'] : []),
        ...(options.metricsPort !== undefined ? ['--metrics-port', String(options.metricsPort)] : []),
        // The dev server otherwise reads the search attributes from its store on every use (for attributes added while
        // it runs); ours are registered as it starts, so it caches them as a production server does.
        '--dynamic-config-value',
        'system.forceSearchAttributesCacheRefreshOnRead=false',
      ],
    },
  });
  return {
    address: env.address,
    uiUrl: options.uiPort !== undefined ? `http://localhost:${options.uiPort}` : undefined,
    dbFile: options.dbFile,
    stop: () => env.teardown(),
  };
}
