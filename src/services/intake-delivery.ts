import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { IntakeRow, IntakeStore } from '../db/intake';
import { ServiceUnavailableError } from '../errors';
import type { TakenMessage } from '../domain/referral';
import { takenSignal } from '../workflows/messages';
import { referralWorkflow } from '../workflows/referral-workflow';
import { identityFor, startOptions } from './referral-start';

export interface IntakeDeliveryDependencies {
  temporal: Client;
  intake: IntakeStore;
  /** Signal-with-starts in flight at once (16). */
  concurrency?: number;
  /** How long one delivery may wait for Temporal (5 s). */
  deliveryTimeoutMs?: number;
}

export interface BatchOutcome {
  delivered: number;
  failed: number;
  /** The error of a failed delivery, for the log. */
  failure?: unknown;
}

/** A message delivered again after this many failed attempts waits at most this long: Temporal may be down for minutes. */
const MAX_RETRY_DELAY_MS = 10_000;
export const retryDelayMs = (attempts: number) => Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** attempts);
/** How long messages a direct send delivers first are kept from the dispatchers: longer than a delivery may take. */
const FLUSH_LEASE_MS = 30_000;
/** How often a direct send looks again for messages a dispatcher is delivering, and for how long before it takes them. */
const FLUSH_WAIT_MS = 20;
const LEASE_PATIENCE_MS = 2000;
/** A referral's messages in one signal at most: a backlog of a busy visitor's clicks stays far below Temporal's payload limit. */
const MESSAGES_PER_SIGNAL = 100;
/** A dispatcher's lease on its batch beyond the longest its deliveries may take. */
const LEASE_MARGIN_MS = 5_000;

const takenMessage = ({ kind, message }: IntakeRow) => ({ kind, message }) as TakenMessage;

/** Runs `work` over `items` with at most `limit` in flight, answering each result in order. */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < items.length; index = next++) results[index] = await work(items[index]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * Hands the intake's messages to their workflows: a signal-with-start each, leased first and marked delivered after.
 * A dispatcher killed between the signal and the mark leaves the message to be delivered again when its lease runs
 * out, which the workflow recognises by the click's id or the step's idempotency key.
 */
export function createIntakeDelivery(deps: IntakeDeliveryDependencies) {
  const concurrency = deps.concurrency ?? 16;
  const timeoutMs = deps.deliveryTimeoutMs ?? 5000;

  /** One workflow's messages in one signal-with-start: the server takes them in one write and hands them over in one task. */
  function deliver(rows: IntakeRow[]): Promise<unknown> {
    const [first] = rows;
    const identity = identityFor(first, first.visitor_hash, false);
    return deps.temporal.withDeadline(Date.now() + timeoutMs, () =>
      deps.temporal.workflow.signalWithStart(referralWorkflow, { ...startOptions(identity, first, first.task_queue, { fresh: first.fresh }), signal: takenSignal, signalArgs: [rows.map(takenMessage)] }),
    );
  }

  /** Marks what Temporal took delivered and defers what it refused, by the attempts of the first: they share a cause. */
  async function settle(delivered: IntakeRow[], refused: IntakeRow[]): Promise<void> {
    await deps.intake.markDelivered(delivered);
    if (refused.length > 0) await deps.intake.defer(refused.map((row) => row.intake_id), retryDelayMs(refused[0].attempts));
  }

  /** Delivers one workflow's `rows` in order, up to a signal's worth at a time, answering those Temporal took before it refused some. */
  async function deliverInOrder(rows: IntakeRow[]): Promise<{ delivered: IntakeRow[]; refused: IntakeRow[]; failure?: unknown }> {
    for (let start = 0; start < rows.length; start += MESSAGES_PER_SIGNAL) {
      try {
        await deliver(rows.slice(start, start + MESSAGES_PER_SIGNAL));
      } catch (failure) {
        return { delivered: rows.slice(0, start), refused: rows.slice(start), failure };
      }
    }
    return { delivered: rows, refused: [] };
  }

  /** Delivers `rows` in order and settles them; throws when Temporal refused some. */
  async function deliverAll(rows: IntakeRow[]): Promise<void> {
    const { delivered, refused, failure } = await deliverInOrder(rows);
    await settle(delivered, refused);
    if (failure) throw failure;
  }

  /**
   * One workflow's undelivered messages, for a message sent to it directly. Those a dispatcher is delivering are waited
   * for a while, then taken too: that dispatcher may be dead.
   */
  async function leaseForDirectSend(workflowId: string, deadline: number): Promise<IntakeRow[]> {
    const patientUntil = Date.now() + LEASE_PATIENCE_MS;
    for (;;) {
      const { rows, busy } = await deps.intake.leaseForWorkflow(workflowId, FLUSH_LEASE_MS, Date.now() >= patientUntil);
      if (!busy) return rows;
      if (Date.now() + FLUSH_WAIT_MS >= deadline) throw new ServiceUnavailableError();
      await new Promise((resolve) => setTimeout(resolve, FLUSH_WAIT_MS));
    }
  }

  return {
    /** Delivers up to `limit` referrals' oldest undelivered messages, each with those behind it; those Temporal refuses are deferred. */
    async deliverBatch(taskQueue: string, limit: number): Promise<BatchOutcome> {
      // Leased for a timeout per round of lanes: a dispatcher that dies meanwhile leaves them to the others when the
      // lease runs out. A referral's later messages may outlast it while Temporal is slow; delivered again, they change nothing.
      const rows = await deps.intake.leaseBatch(taskQueue, limit, timeoutMs * Math.ceil(limit / concurrency) + LEASE_MARGIN_MS);
      const byWorkflow = new Map<string, IntakeRow[]>();
      for (const row of rows) {
        const messages = byWorkflow.get(row.workflow_id);
        if (messages) messages.push(row);
        else byWorkflow.set(row.workflow_id, [row]);
      }
      const outcomes = await mapLimited([...byWorkflow.values()], concurrency, deliverInOrder);
      const delivered = outcomes.flatMap((outcome) => outcome.delivered);
      const failed = outcomes.flatMap((outcome) => outcome.refused);
      await settle(delivered, failed);
      return { delivered: delivered.length, failed: failed.length, failure: outcomes.find((outcome) => outcome.refused.length > 0)?.failure };
    },

    /**
     * Delivers one workflow's undelivered messages before a message sent to it directly (a review, a cancellation), so
     * the workflow hears them in the order they were taken. Throws when Temporal does not take them; they are then
     * deferred to the dispatchers.
     */
    async flush(workflowId: string, deadline: number): Promise<void> {
      await deliverAll(await leaseForDirectSend(workflowId, deadline));
    },

    /**
     * Sends a message to one workflow directly with its undelivered messages in the same call (a confirmation): `send`
     * hands them over ahead of its own, and `fresh` says nothing of the referral came before them, so a run they start
     * has nothing to load. A failure the workflow answered came after it took them; any other leaves them to the
     * dispatchers.
     */
    async sendWithTaken<T>(workflowId: string, deadline: number, send: (taken: TakenMessage[], fresh: boolean) => Promise<T>): Promise<T> {
      let rows = await leaseForDirectSend(workflowId, deadline);
      if (rows.length > MESSAGES_PER_SIGNAL) {
        await deliverAll(rows);
        rows = [];
      }
      try {
        const result = await send(rows.map(takenMessage), rows[0]?.fresh ?? false);
        await settle(rows, []);
        return result;
      } catch (error) {
        await (error instanceof WorkflowUpdateFailedError ? settle(rows, []) : settle([], rows));
        throw error;
      }
    },
  };
}

export type IntakeDelivery = ReturnType<typeof createIntakeDelivery>;
