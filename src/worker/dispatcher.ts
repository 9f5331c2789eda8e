import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createIntakeStore } from '../db/intake';
import { createIntakeDelivery, retryDelayMs } from '../services/intake-delivery';
import { TASK_QUEUE } from '../workflows/messages';

export interface DispatcherOptions {
  pool: Pool;
  temporal: Client;
  taskQueue?: string;
  /** Messages leased and delivered at a time (100). */
  batchSize?: number;
  /** Signal-with-starts in flight at once (16). */
  concurrency?: number;
  /** How long one delivery may wait for Temporal (5 s). */
  deliveryTimeoutMs?: number;
  /** How often the intake is looked at when no notification comes (1 s). */
  pollMs?: number;
  /** How long a woken dispatcher waits for more before it leases (100 ms): a referral's messages then go together. */
  lingerMs?: number;
  onDispatched?: (delivered: number, failed: number) => void;
  onError?: (error: unknown) => void;
}

export interface RunningDispatcher {
  stop(): Promise<void>;
}

const PRUNE_EVERY_MS = 60_000;
/** How long delivered messages are kept for the burst rule's minute. */
const KEEP_DELIVERED_MS = 10 * 60_000;
/** How long delivered messages whose referral no worker has written yet are kept, for reads of it. */
const KEEP_UNWRITTEN_MS = 7 * 24 * 3_600_000;

/**
 * Delivers the intake to the referrals' workflows: a batch at a time, woken by the intake's NOTIFY or, failing
 * that, a poll; several dispatchers share the work without doubling it (each leases its batch, SKIP LOCKED).
 * While Temporal refuses, it backs off; the messages wait in Postgres.
 */
export function startDispatcher(options: DispatcherOptions): RunningDispatcher {
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const batchSize = options.batchSize ?? 100;
  const pollMs = options.pollMs ?? 1000;
  const lingerMs = options.lingerMs ?? 100;
  const intake = createIntakeStore(options.pool);
  const delivery = createIntakeDelivery({ temporal: options.temporal, intake, concurrency: options.concurrency, deliveryTimeoutMs: options.deliveryTimeoutMs });
  let stopped = false;
  let wake: (() => void) | undefined;
  /** A message was taken since this dispatcher last leased: it may not be in the batch being delivered. */
  let notified = false;
  /** The connection the dispatcher listens on, while it does. */
  let listener: { close(): Promise<void> } | undefined;
  let lastPruned = 0;

  /** Waits `ms`, or less when `wakeable` and a message is taken meanwhile (or was since the lease); stopping always wakes it. */
  const rest = (ms: number, wakeable: boolean) =>
    new Promise<void>((resolve) => {
      if (wakeable && notified) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = wakeable ? done : () => stopped && done();
    });

  /**
   * LISTEN on a connection of its own; lost, the poll serves until the next attempt. The connection is closed, never
   * handed back to the pool (it would go on listening), and its errors are heard after that: a connection Postgres
   * ends reports more than one.
   */
  async function listen() {
    if (listener) return;
    const connection = await options.pool.connect().catch((error: unknown) => void options.onError?.(error));
    if (!connection) return;
    const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
    let closed = false;
    const own = {
      /** Resolves once the connection has ended. */
      close(): Promise<void> {
        if (!closed) {
          closed = true;
          if (listener === own) listener = undefined;
          connection.release(true);
        }
        return ended;
      },
    };
    connection.on('error', () => void own.close());
    connection.on('notification', () => {
      notified = true;
      wake?.();
    });
    try {
      await intake.listen(connection);
      if (!closed) listener = own;
    } catch (error) {
      void own.close();
      options.onError?.(error);
    }
  }

  async function loop() {
    let failures = 0;
    while (!stopped) {
      let full = false;
      try {
        await listen();
        // While Temporal refuses, one message probes it: a batch would wait out a timeout per message.
        const limit = failures > 0 ? 1 : batchSize;
        notified = false;
        const outcome = await delivery.deliverBatch(taskQueue, limit);
        options.onDispatched?.(outcome.delivered, outcome.failed);
        if (outcome.failure) options.onError?.(outcome.failure);
        failures = outcome.failed > 0 && outcome.delivered === 0 ? failures + 1 : 0;
        full = outcome.delivered + outcome.failed >= limit;
        if (Date.now() - lastPruned > PRUNE_EVERY_MS) {
          lastPruned = Date.now();
          await intake.pruneDelivered(KEEP_DELIVERED_MS, KEEP_UNWRITTEN_MS);
        }
      } catch (error) {
        // Postgres out of reach: nothing was marked, the batch is delivered again once it is back.
        failures += 1;
        options.onError?.(error);
      }
      if (stopped) break;
      if (failures > 0) await rest(retryDelayMs(failures), false);
      else if (!full) {
        await rest(pollMs, true);
        // An app's steps, or a click and the install after it, often come moments apart: leased together, the
        // Temporal server hands them to the workflow in one task rather than one each.
        if (lingerMs > 0) await rest(lingerMs, false);
      }
    }
  }

  const running = loop();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await listener?.close();
    },
  };
}
