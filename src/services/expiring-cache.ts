/**
 * Values kept for `ttlMs` after their load started, for at most `limit` keys (the longest held goes first). A load
 * in flight is shared by every caller asking for its key meanwhile, so a busy key is loaded once, not once per
 * caller; a load that fails is not kept.
 */
export function createExpiringCache<V>(options: { ttlMs: number; limit: number; now: () => number }) {
  const entries = new Map<string, { at: number; value: Promise<V>; settled?: { value: V } }>();
  const fresh = (key: string) => {
    const cached = entries.get(key);
    return cached && options.now() - cached.at < options.ttlMs ? cached : undefined;
  };
  return {
    get(key: string, load: () => Promise<V>): Promise<V> {
      const cached = fresh(key);
      if (cached) return cached.value;
      const entry: { at: number; value: Promise<V>; settled?: { value: V } } = { at: options.now(), value: load() };
      entries.delete(key);
      if (entries.size >= options.limit) entries.delete(entries.keys().next().value as string);
      entries.set(key, entry);
      entry.value.then(
        (value) => void (entry.settled = { value }),
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return entry.value;
    },

    /** The key's value if one was loaded and is still fresh, without loading: for a caller that cannot wait. */
    known(key: string): V | undefined {
      return fresh(key)?.settled?.value;
    },
  };
}
