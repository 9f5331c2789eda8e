import { settingsOf, type CodeRow } from '../db/codes';
import { NEW_REFERRAL, type ReferralIdentity } from '../domain/referral';
import type { referralWorkflow } from '../workflows/referral-workflow';
import { searchAttributesOf } from '../workflows/search-attributes';
import { nameBasedUuid, referralWorkflowId } from './identifiers';

/** The referral of a visitor (or, for a direct referral, a member) on a code. */
export function identityFor(code: Pick<CodeRow, 'id' | 'code' | 'org_id' | 'mentor_id'>, visitorKey: string, direct: boolean): ReferralIdentity {
  const workflowId = referralWorkflowId(code.id, visitorKey);
  return {
    referralId: nameBasedUuid(workflowId),
    workflowId,
    orgId: code.org_id,
    mentorId: code.mentor_id,
    referralCodeId: code.id,
    code: code.code,
    visitorHash: direct ? null : visitorKey,
    direct,
  };
}

/** How a referral's workflow is started, by whichever message reaches it first (a direct one's: its registration). */
export function startOptions(identity: ReferralIdentity, code: CodeRow, taskQueue: string, first: { registeredAt?: string; fresh?: boolean } = {}) {
  const { registeredAt, fresh } = first;
  return {
    taskQueue,
    workflowId: identity.workflowId,
    args: [{ identity, settings: settingsOf(code), ...(identity.direct && registeredAt ? { registeredAt } : {}), ...(fresh ? { fresh } : {}) }] as [
      Parameters<typeof referralWorkflow>[0],
    ],
    // All of them from the start, as a new referral's first run publishes them: that run then upserts none.
    typedSearchAttributes: searchAttributesOf({ ...identity, ...NEW_REFERRAL }),
  };
}
