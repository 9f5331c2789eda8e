export interface PollLoop {
  stop(): Promise<void>;
}

/**
 * Runs `round` every `pollMs` (the first after one wait) until stopped; a failed round (Postgres out of reach) is
 * reported and the next one tries again. Stopping cuts the wait short and lets a running round finish.
 */
export function startPollLoop(options: { pollMs: number; round: () => Promise<unknown>; onError?: (error: unknown) => void }): PollLoop {
  let stopped = false;
  let wake: (() => void) | undefined;
  const rest = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.pollMs);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const running = (async () => {
    for (await rest(); !stopped; await rest()) {
      try {
        await options.round();
      } catch (error) {
        options.onError?.(error);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
