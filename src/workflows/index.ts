export { referralWorkflow } from './referral-workflow';
export { deviceMetadataRetentionWorkflow } from './retention-workflow';
export { membershipReconciliationWorkflow } from './reconciliation-workflow';
export { invitationWorkflow } from './invitation-workflow';
