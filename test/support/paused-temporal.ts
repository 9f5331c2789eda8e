import { createServer, type Socket } from 'node:net';
import { Client, Connection } from '@temporalio/client';

/**
 * A Temporal client whose server takes connections and never answers, as a paused Temporal server does (SIGSTOP):
 * each call waits until its deadline.
 */
export async function pausedTemporal(): Promise<{ client: Client; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const connection = Connection.lazy({ address: `127.0.0.1:${port}` });
  return {
    client: new Client({ connection }),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
