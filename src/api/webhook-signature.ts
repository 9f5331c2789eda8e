import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors';

export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

export function signPayload(secret: string, timestamp: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex');
}

/** `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (hex in either case), within five minutes. */
export function verifySignature(secret: string, header: string | undefined, rawBody: string, nowSeconds: number): void {
  const fail = (why: string) => new AppError(401, 'invalid_signature', why);
  if (!header) throw fail('The X-Signature header is missing');
  const parts = Object.fromEntries(
    header.split(',').map((part) => {
      const [name, ...value] = part.trim().split('=');
      return [name, value.join('=')];
    }),
  );
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || !/^[0-9a-f]{64}$/i.test(parts.v1 ?? '')) {
    throw fail('The X-Signature header is malformed');
  }
  if (timestamp - nowSeconds > SIGNATURE_TOLERANCE_SECONDS) throw fail('The signature timestamp is in the future: it is Unix time in seconds');
  if (nowSeconds - timestamp > SIGNATURE_TOLERANCE_SECONDS) throw fail('The signature timestamp is too old');
  const expected = Buffer.from(signPayload(secret, timestamp, rawBody), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(parts.v1, 'hex'))) throw fail('The signature does not match');
}
