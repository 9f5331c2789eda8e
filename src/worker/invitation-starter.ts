import type { InvitationStarts } from '../services/invitation-start';
import { startPollLoop, type PollLoop } from './poll-loop';

/** Longer than a request's own start may take: the starter leaves a row to the request that wrote it. */
const REQUEST_GRACE_MS = 10_000;

/**
 * Starts the workflows of invitations taken while Temporal did not answer in time, in every worker process: each is
 * started once ever, whichever process gets to it first.
 */
export function startInvitationStarter(options: { starts: InvitationStarts; pollMs: number; graceMs?: number; onError?: (error: unknown) => void }): PollLoop {
  const graceMs = options.graceMs ?? REQUEST_GRACE_MS;
  return startPollLoop({ pollMs: options.pollMs, round: () => options.starts.startAwaiting(graceMs), onError: options.onError });
}
