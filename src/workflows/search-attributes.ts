import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

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
