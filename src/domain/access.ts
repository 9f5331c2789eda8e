import { ForbiddenError } from '../errors';

export const ROLES = ['peer_mentor', 'coordinator', 'org_admin', 'platform_admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is asking, as their verified token says. */
export interface Caller {
  userId: string;
  orgId: string;
  role: Role;
}

/** `own`: only what is the caller's (their figures, their codes, their own coordinator view); `org`: anything of their organisation. */
export type Scope = 'own' | 'org';

/**
 * Who may do what, on which scope (DESIGN.md section 2): one table for every route. A role not listed for an action
 * may not do it. Another organisation's ids are answered 404 before this is asked, so they cannot be probed.
 */
export const ACCESS = {
  readMentor: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  listReferrals: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  readReferral: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  readCoordinator: { coordinator: 'own', org_admin: 'org' },
  readDashboard: { coordinator: 'org', org_admin: 'org' },
  readSettings: { peer_mentor: 'org', coordinator: 'org', org_admin: 'org' },
  listMentors: { coordinator: 'org', org_admin: 'org' },
  manageOrganisation: { org_admin: 'org' },
  review: { coordinator: 'org', org_admin: 'org' },
  erase: { org_admin: 'org' },
  createCode: { peer_mentor: 'own', org_admin: 'org' },
  listCodes: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  readCode: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  revokeCode: { peer_mentor: 'own', org_admin: 'org' },
  bulkCodes: { org_admin: 'org' },
  readPlatformTotals: { platform_admin: 'org' },
  manageNotifications: { peer_mentor: 'own', org_admin: 'org' },
  invite: { peer_mentor: 'own', org_admin: 'org' },
  bulkInvite: { org_admin: 'org' },
  listInvitations: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  manageInvitation: { peer_mentor: 'own', org_admin: 'org' },
  readRewards: { peer_mentor: 'own', coordinator: 'org', org_admin: 'org' },
  readRewardRules: { peer_mentor: 'org', coordinator: 'org', org_admin: 'org' },
} as const satisfies Record<string, Partial<Record<Role, Scope>>>;

export type Action = keyof typeof ACCESS;

/**
 * The caller's scope for `action`, or a 403. With `ownerId` (whose mentor, code or coordinator view it is), an `own`
 * scope must be the caller's.
 */
export function authorise(caller: Caller, action: Action, ownerId?: string): Scope {
  const scope = (ACCESS[action] as Partial<Record<Role, Scope>>)[caller.role];
  if (!scope) {
    throw new ForbiddenError(caller.role === 'platform_admin' ? 'Platform admins see cross-organisation totals only' : 'Your role may not do this');
  }
  if (scope === 'own' && ownerId !== undefined && ownerId !== caller.userId) throw new ForbiddenError('You may do this for yourself only');
  return scope;
}
