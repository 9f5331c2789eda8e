import { signPayload, verifySignature } from '../../src/api/webhook-signature';
import { AppError } from '../../src/errors';

const secret = 'unit-test-webhook-secret';
const body = '{"event":"member.registered"}';
const now = 1_700_000_000;

function failure(header: string | undefined, at = now): AppError {
  try {
    verifySignature(secret, header, body, at);
  } catch (error) {
    return error as AppError;
  }
  throw new Error('expected the signature to be refused');
}

test('a fresh, matching signature passes', () => {
  expect(() => verifySignature(secret, `t=${now},v1=${signPayload(secret, now, body)}`, body, now + 299)).not.toThrow();
});

test('the hex digest may come in capitals, as .NET writes it, and the parts with spaces between', () => {
  const digest = signPayload(secret, now, body);
  expect(() => verifySignature(secret, `t=${now},v1=${digest.toUpperCase()}`, body, now)).not.toThrow();
  expect(() => verifySignature(secret, `t=${now}, v1=${digest}`, body, now)).not.toThrow();
});

test('missing, malformed, stale and wrong signatures are 401 with the reason', () => {
  expect(failure(undefined)).toMatchObject({ status: 401, message: 'The X-Signature header is missing' });
  expect(failure('v1=abc')).toMatchObject({ status: 401, message: 'The X-Signature header is malformed' });
  expect(failure(`t=${now},v1=${signPayload(secret, now, body)}`, now + 301)).toMatchObject({
    status: 401,
    message: 'The signature timestamp is too old',
  });
  // Milliseconds where seconds belong.
  expect(failure(`t=${now * 1000},v1=${signPayload(secret, now * 1000, body)}`)).toMatchObject({
    status: 401,
    message: 'The signature timestamp is in the future: it is Unix time in seconds',
  });
  expect(failure(`t=${now},v1=${signPayload('another-secret', now, body)}`)).toMatchObject({
    status: 401,
    message: 'The signature does not match',
  });
});
