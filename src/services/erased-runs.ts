import { WorkflowNotFoundError, type Client } from '@temporalio/client';

const GRPC_NOT_FOUND = 5;

/** Temporal not knowing the workflow (never started, already deleted) is what erasure wants; anything else stops it. */
export function unlessNotFound(error: unknown): void {
  // A namespace not found is Temporal's own store out of reach, not a workflow that is gone.
  const { code, message } = error as { code?: unknown; message?: unknown };
  const notFound = error instanceof WorkflowNotFoundError || (code === GRPC_NOT_FOUND && !/namespace/i.test(String(message)));
  if (!notFound) throw error;
}

/** Deletes an erased referral's latest run with its history: Temporal terminates it first if it runs, and deletes behind the answer. */
export async function deleteReferralRun(temporal: Client, workflowId: string): Promise<void> {
  await temporal.workflowService
    .deleteWorkflowExecution({ namespace: temporal.options.namespace, workflowExecution: { workflowId } })
    .catch(unlessNotFound);
}
