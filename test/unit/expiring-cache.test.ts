import { createExpiringCache } from '../../src/services/expiring-cache';

function cacheCounting(options: { ttlMs?: number; limit?: number } = {}) {
  let clock = 0;
  const loads: string[] = [];
  const cache = createExpiringCache<string>({ ttlMs: options.ttlMs ?? 1000, limit: options.limit ?? 10, now: () => clock });
  const get = (key: string) =>
    cache.get(key, async () => {
      loads.push(key);
      return `${key}@${clock}`;
    });
  return { get, loads, setClock: (at: number) => void (clock = at) };
}

test('a value is reused until its time is up, then loaded again', async () => {
  const { get, loads, setClock } = cacheCounting();
  expect(await get('a')).toBe('a@0');
  setClock(999);
  expect(await get('a')).toBe('a@0');
  setClock(1000);
  expect(await get('a')).toBe('a@1000');
  expect(loads).toEqual(['a', 'a']);
});

test('callers asking while a load is in flight share that load', async () => {
  const cache = createExpiringCache<number>({ ttlMs: 1000, limit: 10, now: () => 0 });
  let loads = 0;
  let finish: (value: number) => void = () => undefined;
  const load = () => {
    loads += 1;
    return new Promise<number>((resolve) => (finish = resolve));
  };
  const first = cache.get('busy', load);
  const second = cache.get('busy', load);
  finish(42);
  expect(await Promise.all([first, second])).toEqual([42, 42]);
  expect(loads).toBe(1);
});

test('a failed load is not kept: the next caller loads again', async () => {
  const cache = createExpiringCache<number>({ ttlMs: 1000, limit: 10, now: () => 0 });
  await expect(cache.get('k', () => Promise.reject(new Error('connection refused')))).rejects.toThrow('connection refused');
  expect(await cache.get('k', async () => 7)).toBe(7);
});

test('past its limit the cache lets go of the key held longest', async () => {
  const { get, loads } = cacheCounting({ limit: 2 });
  await get('a');
  await get('b');
  await get('c');
  await get('b');
  await get('a');
  expect(loads).toEqual(['a', 'b', 'c', 'a']);
});

test('a time of zero keeps nothing', async () => {
  const { get, loads } = cacheCounting({ ttlMs: 0 });
  await get('a');
  await get('a');
  expect(loads).toEqual(['a', 'a']);
});

test('a value is known without loading once its load has ended, until its time is up', async () => {
  let clock = 0;
  let finish: (value: number) => void = () => undefined;
  const cache = createExpiringCache<number>({ ttlMs: 1000, limit: 10, now: () => clock });
  expect(cache.known('a')).toBeUndefined();
  const loading = cache.get('a', () => new Promise<number>((resolve) => (finish = resolve)));
  expect(cache.known('a')).toBeUndefined();
  finish(7);
  await loading;
  expect(cache.known('a')).toBe(7);
  clock = 1000;
  expect(cache.known('a')).toBeUndefined();
  await expect(cache.get('b', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
  expect(cache.known('b')).toBeUndefined();
});
