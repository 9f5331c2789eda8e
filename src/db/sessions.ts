import type { Pool } from 'pg';
import type { Caller, Role } from '../domain/access';

interface SessionRow {
  user_id: string;
  org_id: string;
  role: Role;
}

/** Dashboard sessions, found by the hash of the id their cookie carries. */
export function createSessionStore(pool: Pool) {
  return {
    /** A new session; ended ones go at the same time, so the table holds only live sessions. */
    async create(idHash: string, caller: Caller, expiresAt: Date, now: Date): Promise<void> {
      await pool.query('DELETE FROM dashboard_sessions WHERE expires_at <= $1', [now]);
      await pool.query('INSERT INTO dashboard_sessions (id_hash, user_id, org_id, role, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        idHash,
        caller.userId,
        caller.orgId,
        caller.role,
        expiresAt,
      ]);
    },

    async find(idHash: string, now: Date): Promise<Caller | undefined> {
      const result = await pool.query<SessionRow>('SELECT user_id, org_id, role FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2', [idHash, now]);
      const row = result.rows[0];
      return row ? { userId: row.user_id, orgId: row.org_id, role: row.role } : undefined;
    },

    async remove(idHash: string): Promise<void> {
      await pool.query('DELETE FROM dashboard_sessions WHERE id_hash = $1', [idHash]);
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
