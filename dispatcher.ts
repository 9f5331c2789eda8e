import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from './src/config';
import { createJourneyPool } from './src/db/pool';
import { createLogger } from './src/logger';
import { startConfiguredDispatcher, startConfiguredMetricsServer, yieldCpuToRequests } from './src/worker/create-worker';

/** The intake's dispatcher on its own (the worker process runs one too): it needs DATABASE_URL and TEMPORAL_ADDRESS. */
async function runDispatcher(): Promise<void> {
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    throw new ConfigError('Invalid configuration: DATABASE_URL and TEMPORAL_ADDRESS must be set for a standalone dispatcher');
  }
  yieldCpuToRequests(config);
  const logger = createLogger(config.LOG_LEVEL);
  const pool = createJourneyPool(config.DATABASE_URL, (error) => logger.warn({ err: error }, 'idle Postgres connection lost'));
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const dispatcher = startConfiguredDispatcher(config, pool, new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), logger);
  const metricsServer = await startConfiguredMetricsServer(config, pool);
  logger.info('dispatcher running');
  const stop = async () => {
    await dispatcher.stop();
    await metricsServer?.stop();
    await connection.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

runDispatcher().catch((error: Error) => {
  console.error(error instanceof ConfigError ? error.message : `Dispatcher failed: ${error.message}`);
  process.exit(1);
});
