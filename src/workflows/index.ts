export { referralWorkflow } from './referral-workflow';
export { deviceMetadataRetentionWorkflow } from './retention-workflow';
