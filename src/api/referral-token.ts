import { createHmac } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { ReferralTokenClaims, StepReferral } from '../services/referral-service';

const AUDIENCE = 'referral-app';
const TOKEN_LIFETIME = '180d';

/** The token the app receives at click time and presents with each funnel step of that referral. */
export function createReferralTokens(secret: string) {
  // A key of their own, derived from the secret: a referral token is never a member's JWT, nor the other way round.
  const key = createHmac('sha256', secret).update('referral-tokens').digest();
  return {
    issue(claims: ReferralTokenClaims): Promise<string> {
      return new SignJWT({ cid: claims.referralCodeId, vh: claims.visitorHash })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(claims.referralId)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(TOKEN_LIFETIME)
        .sign(key);
    },
    /**
     * The referral the token names, begun by the click it was issued for; nothing for a token that is not a valid
     * referral token (a member's, say).
     */
    async read(token: string): Promise<StepReferral | undefined> {
      try {
        const { payload } = await jwtVerify(token, key, { audience: AUDIENCE, algorithms: ['HS256'] });
        if (typeof payload.sub !== 'string' || typeof payload.cid !== 'string' || typeof payload.vh !== 'string') return undefined;
        // Issued after its click, within the second `iat` names: that second's end is never before the click.
        const begunAt = typeof payload.iat === 'number' ? new Date(payload.iat * 1000 + 999).toISOString() : undefined;
        return { referralId: payload.sub, referralCodeId: payload.cid, visitorHash: payload.vh, begunAt };
      } catch {
        // expired, signed with another key, or not a token
        return undefined;
      }
    },
  };
}

export type ReferralTokens = ReturnType<typeof createReferralTokens>;
