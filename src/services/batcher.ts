/**
 * Requests' items gathered into one call of `run` (one statement for many clicks): an item finding fewer than
 * `inFlight` calls running goes at once, alone; otherwise it waits for the next call to end and goes with everything
 * that waited meanwhile, up to `maxBatch`. Idle, nothing waits; busy, the statements per item fall with the load.
 * `run` answers one result per item, in order; when it throws, every item of its call gets the error.
 */
export function createBatcher<Item, Result>(options: { run: (items: Item[]) => Promise<Result[]>; inFlight: number; maxBatch: number }) {
  const waiting: Array<{ item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }> = [];
  let running = 0;

  function next() {
    if (running >= options.inFlight || waiting.length === 0) return;
    const batch = waiting.splice(0, options.maxBatch);
    running += 1;
    Promise.resolve()
      .then(() => options.run(batch.map((entry) => entry.item)))
      .then(
        (results) => batch.forEach((entry, index) => entry.resolve(results[index])),
        (error: unknown) => batch.forEach((entry) => entry.reject(error)),
      )
      .finally(() => {
        running -= 1;
        next();
      });
  }

  return {
    submit(item: Item): Promise<Result> {
      return new Promise<Result>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        next();
      });
    },
  };
}
