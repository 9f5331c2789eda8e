import express from 'express';
import type { AddressInfo } from 'node:net';
import { errorHandler } from '../../src/api/errors';
import { inFlightLimit } from '../../src/api/load-shedding';

test('beyond the limit of requests in progress, the next is answered 503 with Retry-After at once', async () => {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const app = express();
  app.use((req, _res, next) => {
    (req as unknown as { log: { error(): void; warn(): void } }).log = { error: () => undefined, warn: () => undefined };
    next();
  });
  app.get('/click', inFlightLimit(2), async (_req, res) => {
    await gate;
    res.json({ ok: true });
  });
  app.use(errorHandler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/click`;
  try {
    const held = [fetch(url), fetch(url)];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shed = await fetch(url);
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(((await shed.json()) as { error: { code: string } }).error.code).toBe('overloaded');
    open();
    expect((await Promise.all(held)).map((response) => response.status)).toEqual([200, 200]);
    expect((await fetch(url)).status).toBe(200);
  } finally {
    server.close();
  }
});
