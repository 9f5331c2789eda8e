import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig } from './src/config';
import { migrate } from './src/db/migrate';
import { createJourneyPool } from './src/db/pool';
import { createLogger } from './src/logger';
import { configuredWorkerOptions, createReferralWorker, installTemporalMetrics, productionDependencies, startConfiguredDispatcher, startConfiguredErasedRunSweeper, startConfiguredInvitationStarter, startConfiguredMetricsServer, startConfiguredNotifier, startConfiguredRewardSettler, yieldCpuToRequests } from './src/worker/create-worker';

/**
 * A worker on its own, with the intake's dispatcher, for the production shape (docker-compose runs N of them): it needs
 * DATABASE_URL and TEMPORAL_ADDRESS and serves nothing but its /metrics (WORKER_METRICS_PORT). `npm start` runs one
 * in-process instead.
 */
async function runWorker(): Promise<void> {
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    throw new ConfigError('Invalid configuration: DATABASE_URL and TEMPORAL_ADDRESS must be set for a standalone worker');
  }
  yieldCpuToRequests(config);
  const logger = createLogger(config.LOG_LEVEL);
  await migrate(config.DATABASE_OWNER_URL ?? config.DATABASE_URL, undefined, config.DATABASE_URL);
  const temporalMetricsUrl = await installTemporalMetrics(config);
  const pool = createJourneyPool(config.DATABASE_URL, (error) => logger.warn({ err: error }, 'idle Postgres connection lost'));
  const metricsServer = await startConfiguredMetricsServer(config, pool, temporalMetricsUrl);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const clientConnection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  const worker = await createReferralWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...productionDependencies(config, pool, client),
    ...configuredWorkerOptions(config),
  });
  const dispatcher = config.RUN_DISPATCHER ? startConfiguredDispatcher(config, pool, client, logger) : undefined;
  const notifier = startConfiguredNotifier(config, pool, logger);
  const settler = startConfiguredRewardSettler(config, pool, logger);
  const invitationStarter = startConfiguredInvitationStarter(config, pool, client, logger);
  const erasedRunSweeper = startConfiguredErasedRunSweeper(config, pool, client, logger);
  logger.info({ taskQueue: 'referrals' }, 'worker running');
  // The Temporal runtime drains the worker on SIGINT and SIGTERM; run() resolves once it has.
  await worker.run();
  await dispatcher?.stop();
  await notifier?.stop();
  await settler.stop();
  await invitationStarter.stop();
  await erasedRunSweeper.stop();
  await metricsServer?.stop();
  await clientConnection.close();
  await connection.close();
  await pool.end();
}

runWorker().catch((error: Error) => {
  console.error(error instanceof ConfigError ? error.message : `Worker failed: ${error.message}`);
  process.exit(1);
});
