import express from 'express';
import type { AddressInfo } from 'node:net';
import { errorHandler } from '../../src/api/errors';

/** The status and error code the API answers when a route fails with `error`. */
async function answerFor(error: Error) {
  const app = express();
  app.use((req, _res, next) => {
    (req as unknown as { log: { error(): void; warn(): void } }).log = { error: () => undefined, warn: () => undefined };
    next();
  });
  app.get('/fails', () => {
    throw error;
  });
  app.use(errorHandler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/fails`);
    return { status: response.status, retryAfter: response.headers.get('retry-after'), code: ((await response.json()) as { error: { code: string } }).error.code };
  } finally {
    server.close();
  }
}

test('a gRPC status the Temporal client passes on unwrapped is an outage: 503 with Retry-After', async () => {
  // As an update-with-start's failed operation reaches the API: the gRPC error itself, its code a number.
  const unwrapped = Object.assign(new Error('Namespace default is not found.'), { code: 5, details: '', metadata: {} });
  expect(await answerFor(unwrapped)).toEqual({ status: 503, retryAfter: '5', code: 'temporarily_unavailable' });
});

test("an update its workflow cannot take while the workflow's task keeps failing is retried later: 503", async () => {
  // As the server refuses an update-with-start whose workflow task has failed or timed out several times in a row.
  const notReady = Object.assign(new Error('Unable to perform workflow execution update due to Workflow Task in failed state.'), { code: 9, details: '', metadata: {} });
  expect(await answerFor(notReady)).toEqual({ status: 503, retryAfter: '5', code: 'temporarily_unavailable' });
  // The task that carried the update failed (its worker killed mid-task): the server aborts the update's waiter.
  const aborted = Object.assign(new Error('Unable to perform workflow execution update due to unexpected workflow task failure.'), { code: 9, details: '', metadata: {} });
  expect(await answerFor(aborted)).toEqual({ status: 503, retryAfter: '5', code: 'temporarily_unavailable' });
  const otherPrecondition = Object.assign(new Error('workflow execution already completed'), { code: 9, details: '', metadata: {} });
  expect((await answerFor(otherPrecondition)).status).toBe(500);
});

test('an error with a numeric code that is not a gRPC status stays a 500', async () => {
  expect(await answerFor(Object.assign(new Error('something of ours broke'), { code: 5 }))).toEqual({ status: 500, retryAfter: null, code: 'internal' });
});

test.each([
  ['UNAVAILABLE', 14, 503],
  ['DEADLINE_EXCEEDED', 4, 503],
  ['RESOURCE_EXHAUSTED', 8, 503],
  ['CANCELLED', 1, 503],
  ['INVALID_ARGUMENT', 3, 500],
  ['PERMISSION_DENIED', 7, 500],
])('a Temporal ServiceError caused by gRPC %s (%i) answers %i', async (_name, grpcCode, status) => {
  const cause = Object.assign(new Error(`gRPC status ${grpcCode}`), { code: grpcCode, details: '', metadata: {} });
  const serviceError = Object.assign(new Error('Failed to signalWithStart Workflow'), { name: 'ServiceError', cause });
  expect((await answerFor(serviceError)).status).toBe(status);
});

test('a value Postgres refuses (SQLSTATE class 22) is the request\'s fault: 400', async () => {
  const refused = Object.assign(new Error('invalid input syntax for type timestamp with time zone: "1"'), { code: '22007' });
  expect(await answerFor(refused)).toEqual({ status: 400, retryAfter: null, code: 'invalid_value' });
});
