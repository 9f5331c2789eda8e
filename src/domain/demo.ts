import type { Caller } from './access';

/** The demo organisation that `npm run demo` fills and development's sign-in link opens. */
export const DEMO_ORG = { id: '00000000-0000-4000-8000-00000000d000', name: 'Demo Organisation' } as const;

export const DEMO_ADMIN: { caller: Caller; name: string } = {
  caller: { userId: '00000000-0000-4000-8000-00000000d001', orgId: DEMO_ORG.id, role: 'org_admin' },
  name: 'Demo Admin',
};

/** Where development's `npm start` sends a newcomer: signs in as the demo admin. Not served in production. */
export const DEMO_SIGN_IN_PATH = '/dashboard/demo-sign-in';
