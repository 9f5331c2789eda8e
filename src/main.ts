import type { Server } from 'node:http';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from './api/app';
import { ConfigError, loadConfig, type Config } from './config';
import { migrate } from './db/migrate';
import { createJourneyPool, createPool, isPostgresReachable } from './db/pool';
import { DEMO_SIGN_IN_PATH } from './domain/demo';
import { createLogger, type Logger } from './logger';
import { startPostgres } from './stack/postgres';
import { startTemporal } from './stack/temporal';
import { configuredWorkerOptions, createReferralWorker, installTemporalMetrics, productionDependencies, startConfiguredDispatcher, startConfiguredErasedRunSweeper, startConfiguredInvitationStarter, startConfiguredNotifier, startConfiguredRewardSettler } from './worker/create-worker';
import { ensureSchedules } from './worker/schedules';

export interface RunningStack {
  apiUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  /** Where development's mail is written (no SMTP_URL). */
  mailFolder?: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * Brings up Postgres, migrations, Temporal, the worker and the API, in that order; the API's /metrics appends the
 * Temporal SDK's from `temporalMetricsUrl`.
 */
export async function startStack(config: Config, logger: Logger, temporalMetricsUrl?: string): Promise<RunningStack> {
  const stops: Array<() => Promise<unknown>> = [];
  let mailFolder: string | undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const step of stops.reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'error while stopping'));
    }
  };
  const log = (line: string) => logger.info(line);
  try {
    const postgres = await startPostgres({
      databaseUrl: config.DATABASE_URL,
      dataDir: config.DATA_DIR,
      port: config.EMBEDDED_POSTGRES_PORT,
      log,
      // The stack stops it last, after the Temporal dev server: a signal sent to this process alone stops all of it.
      exitOnSignal: false,
    });
    stops.push(() => postgres.stop());
    const applied = await migrate(config.DATABASE_OWNER_URL ?? postgres.databaseUrl, (line) => logger.debug(line), postgres.databaseUrl);
    logger.info({ applied }, `migrations applied: ${applied.length}`);

    const temporal = await startTemporal({
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      cliPath: config.TEMPORAL_CLI_PATH,
      dbFile: path.resolve(config.DATA_DIR, 'temporal.sqlite'),
      port: config.TEMPORAL_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      log,
    });
    stops.push(() => temporal.stop());

    // Stopping, an embedded Postgres may go first (Ctrl-C reaches it too): its connections' ends are expected then.
    const onIdleError = (error: Error) => {
      if (!stopping) logger.warn({ err: error }, 'idle Postgres connection lost');
    };
    const pool = createPool(postgres.databaseUrl, onIdleError);
    stops.push(() => pool.end());
    const journeyPool = createJourneyPool(postgres.databaseUrl, onIdleError);
    stops.push(() => journeyPool.end());
    const workerConnection = await NativeConnection.connect({ address: temporal.address });
    stops.push(() => workerConnection.close());
    const clientConnection = await Connection.connect({ address: temporal.address });
    stops.push(() => clientConnection.close());
    const temporalClient = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });

    await ensureSchedules(temporalClient, {
      retentionDays: config.DEVICE_METADATA_RETENTION_DAYS,
      reconcile: config.MEMBERSHIP_API_URL !== undefined,
    });
    if (config.RUN_WORKER) {
      const worker = await createReferralWorker({
        connection: workerConnection,
        namespace: config.TEMPORAL_NAMESPACE,
        ...productionDependencies(config, journeyPool, temporalClient),
        ...configuredWorkerOptions(config),
      });
      const workerRun = worker.run();
      stops.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await workerRun;
      });
      if (config.RUN_DISPATCHER) {
        const dispatcher = startConfiguredDispatcher(config, journeyPool, temporalClient, logger);
        stops.push(() => dispatcher.stop());
      }
      const notifier = startConfiguredNotifier(config, journeyPool, logger);
      if (notifier) stops.push(() => notifier.stop());
      const settler = startConfiguredRewardSettler(config, journeyPool, logger);
      stops.push(() => settler.stop());
      const invitationStarter = startConfiguredInvitationStarter(config, journeyPool, temporalClient, logger);
      stops.push(() => invitationStarter.stop());
      const erasedRunSweeper = startConfiguredErasedRunSweeper(config, journeyPool, temporalClient, logger);
      stops.push(() => erasedRunSweeper.stop());
      mailFolder = notifier?.folder;
    }

    const app = createApp({
      logger,
      pool,
      intakePool: journeyPool,
      temporal: temporalClient,
      config,
      temporalMetricsUrl,
      readiness: {
        postgres: () => isPostgresReachable(pool),
        temporal: async () => {
          try {
            await clientConnection.withDeadline(Date.now() + 2000, () =>
              clientConnection.workflowService.getSystemInfo({}),
            );
            return true;
          } catch {
            return false;
          }
        },
      },
    });
    const server = await listen(app, config.PORT);
    stops.push(() => closeServer(server));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    return {
      apiUrl: `http://localhost:${port}`,
      temporalAddress: temporal.address,
      temporalUiUrl: temporal.uiUrl,
      mailFolder,
      databaseUrl: postgres.databaseUrl,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function listen(app: ReturnType<typeof createApp>, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function redactPassword(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL);
  const stack = await startStack(config, logger, await installTemporalMetrics(config));
  logger.info(
    {
      api: stack.apiUrl,
      temporal: stack.temporalAddress,
      temporalUi: stack.temporalUiUrl,
      database: redactPassword(stack.databaseUrl),
    },
    'referral attribution is running',
  );
  console.log(
    [
      '',
      `  API          ${stack.apiUrl}  (readiness: ${stack.apiUrl}/readyz)`,
      `  Temporal     ${stack.temporalAddress}`,
      stack.temporalUiUrl ? `  Temporal UI  ${stack.temporalUiUrl}` : undefined,
      `  Postgres     ${redactPassword(stack.databaseUrl)}`,
      `  Dashboard    ${stack.apiUrl}/dashboard`,
      stack.mailFolder ? `  Mail         written to ${stack.mailFolder} (no SMTP_URL)` : undefined,
      config.NODE_ENV === 'development' ? `  Demo sign-in ${stack.apiUrl}${DEMO_SIGN_IN_PATH}  (the demo organisation's admin; npm run demo fills it)` : undefined,
      '  Press Ctrl-C to stop.',
      '',
    ]
      .filter((line) => line !== undefined)
      .join('\n'),
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`Start-up failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
