import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import type { ReferralSnapshot } from '../domain/referral';

/** Custom search attributes operators filter referrals by in the Temporal UI and CLI. */
export const ReferralStage = defineSearchAttributeKey('ReferralStage', SearchAttributeType.KEYWORD);
export const AttributionStatus = defineSearchAttributeKey('AttributionStatus', SearchAttributeType.KEYWORD);
export const MentorId = defineSearchAttributeKey('MentorId', SearchAttributeType.KEYWORD);
export const OrgId = defineSearchAttributeKey('OrgId', SearchAttributeType.KEYWORD);
export const ReferralCode = defineSearchAttributeKey('ReferralCode', SearchAttributeType.KEYWORD);
export const ReferralStuck = defineSearchAttributeKey('ReferralStuck', SearchAttributeType.BOOL);

export const REFERRAL_SEARCH_ATTRIBUTES = [
  ReferralStage,
  AttributionStatus,
  MentorId,
  OrgId,
  ReferralCode,
  ReferralStuck,
];

/** A referral's search attributes, as its start carries them and its run keeps them current. */
export function searchAttributesOf(referral: Pick<ReferralSnapshot, 'stage' | 'status' | 'stuck' | 'mentorId' | 'orgId' | 'code'>): SearchAttributePair[] {
  return [
    { key: ReferralStage, value: referral.stage },
    { key: AttributionStatus, value: referral.status },
    { key: ReferralStuck, value: referral.stuck },
    { key: MentorId, value: referral.mentorId },
    { key: OrgId, value: referral.orgId },
    { key: ReferralCode, value: referral.code },
  ];
}
