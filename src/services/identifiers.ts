import { createHash, createHmac } from 'node:crypto';

/** Visitor ids and IPs are kept only as salted hashes. */
export function saltedHash(salt: string, value: string): string {
  return createHmac('sha256', salt).update(value).digest('hex');
}

/** A name-based UUID (version 5 layout over SHA-256), so one referral always gets the same id. */
export function nameBasedUuid(name: string): string {
  const bytes = createHash('sha256').update(`referral-attribution:${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An erased member as the tombstone keeps them: salted, per organisation. */
export const erasedMemberHash = (salt: string, orgId: string, memberId: string) => saltedHash(salt, `erased:${orgId}:${memberId}`);

/** A direct referral's key on its code: the member's id salted, so it is in no workflow id in clear. */
export const directReferralKey = (salt: string, memberId: string, cancelledAt?: Date) =>
  `direct-${saltedHash(salt, cancelledAt ? `direct:${memberId}:after-cancellation:${cancelledAt.toISOString()}` : `direct:${memberId}`)}`;

export function referralWorkflowId(referralCodeId: string, visitorKey: string): string {
  return `referral-${referralCodeId}-${visitorKey}`;
}

/**
 * The network a client address stands for: an IPv4 address itself, an IPv6 address its /64 (one subscriber's
 * network, whose addresses change at will). Per-IP limits and the one-network risk check key by it.
 */
export function networkOf(address: string): string {
  const ip = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (!ip.includes(':')) return ip;
  const [head, tail = ''] = ip.split('::');
  const groups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const full = ip.includes('::') ? [...groups, ...Array(8 - groups.length - tailGroups.length).fill('0'), ...tailGroups] : groups;
  return `${full.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** An email address as the service keeps it once an invitation closes: salted, per organisation, case-folded. */
export const emailHash = (salt: string, orgId: string, email: string) => saltedHash(salt, `email:${orgId}:${email.trim().toLowerCase()}`);

/** The one-click unsubscribe token of an address in an organisation: its hash, signed. */
export function unsubscribeToken(salt: string, orgId: string, hash: string): string {
  return `${orgId}.${hash}.${saltedHash(salt, `unsubscribe:${orgId}:${hash}`).slice(0, 32)}`;
}

/** The organisation and address hash a token names, if the service signed it. */
export function readUnsubscribeToken(salt: string, token: string): { orgId: string; hash: string } | undefined {
  const [orgId, hash, signature] = token.split('.');
  if (!orgId || !hash || !signature) return undefined;
  return unsubscribeToken(salt, orgId, hash) === token ? { orgId, hash } : undefined;
}
