import { createBatcher } from '../../src/services/batcher';

/** A batcher whose calls end when the test says, recording what each call was given. */
function controlled(inFlight: number, maxBatch: number) {
  const calls: Array<{ items: number[]; end: () => void; fail: (error: Error) => void }> = [];
  const batcher = createBatcher({
    run: (items: number[]) =>
      new Promise<string[]>((resolve, reject) => {
        calls.push({ items, end: () => resolve(items.map((item) => `done ${item}`)), fail: reject });
      }),
    inFlight,
    maxBatch,
  });
  return { batcher, calls };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('an item goes at once while fewer calls than the limit run, then with what waited, each getting its own result', async () => {
  const { batcher, calls } = controlled(2, 3);
  const results = [1, 2, 3, 4, 5, 6, 7].map((item) => batcher.submit(item));
  await settle();
  expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
  calls[0].end();
  await settle();
  expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5]]);
  calls[1].end();
  await settle();
  expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5], [6, 7]]);
  calls[2].end();
  calls[3].end();
  expect(await Promise.all(results)).toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5', 'done 6', 'done 7']);
});

test("a call that fails fails its own items only, and the next call still goes", async () => {
  const { batcher, calls } = controlled(1, 10);
  const first = batcher.submit(1);
  const [second, third] = [batcher.submit(2), batcher.submit(3)];
  await settle();
  calls[0].end();
  await settle();
  expect(calls[1].items).toEqual([2, 3]);
  calls[1].fail(new Error('connection lost'));
  await expect(second).rejects.toThrow('connection lost');
  await expect(third).rejects.toThrow('connection lost');
  expect(await first).toBe('done 1');
  const fourth = batcher.submit(4);
  await settle();
  expect(calls[2].items).toEqual([4]);
  calls[2].end();
  expect(await fourth).toBe('done 4');
});

test('a run that throws before its promise still frees its place', async () => {
  let attempts = 0;
  const batcher = createBatcher({
    run: (items: number[]) => {
      attempts += 1;
      if (attempts === 1) throw new Error('refused at once');
      return Promise.resolve(items);
    },
    inFlight: 1,
    maxBatch: 10,
  });
  await expect(batcher.submit(1)).rejects.toThrow('refused at once');
  expect(await batcher.submit(2)).toBe(2);
});
