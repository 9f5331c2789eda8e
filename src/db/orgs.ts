import type { Pool } from 'pg';
import type { Role } from '../domain/access';
import { withTransaction } from './transaction';

export interface OrgSettingsRow {
  name: string | null;
  attribution_window_seconds: number;
  confirmation_window_seconds: number;
  dedupe_window_seconds: number;
  badge_milestones: number[];
}

const SETTINGS_COLUMNS = 'name, attribution_window_seconds, confirmation_window_seconds, dedupe_window_seconds, badge_milestones';

export interface OrgSettingsChange {
  name?: string;
  attributionWindow?: number;
  confirmationWindow?: number;
  dedupeWindow?: number;
  badgeMilestones?: number[];
}

/** The organisations and users aggregate: settings, people and coordinators' mentors. */
export function createOrgStore(pool: Pool) {
  return {
    /** The organisation and the user known from a token's claims (a user of that organisation: the same id elsewhere is someone else). */
    async upsertMember(input: { userId: string; orgId: string; role: Role; name: string | null; email: string | null }): Promise<void> {
      await pool.query('INSERT INTO organisations (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [input.orgId]);
      await pool.query(
        `INSERT INTO users (id, org_id, role, display_name, email) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (org_id, id) DO UPDATE SET role = EXCLUDED.role, display_name = COALESCE(EXCLUDED.display_name, users.display_name),
           email = COALESCE(EXCLUDED.email, users.email)`,
        [input.userId, input.orgId, input.role, input.name, input.email],
      );
    },

    /** A mentor named by an upload, who need not have signed in yet. */
    async ensureMentor(mentorId: string, orgId: string, displayName: string | null): Promise<void> {
      await pool.query(
        `INSERT INTO users (id, org_id, role, display_name) VALUES ($1, $2, 'peer_mentor', $3)
         ON CONFLICT (org_id, id) DO UPDATE SET display_name = COALESCE(users.display_name, EXCLUDED.display_name)`,
        [mentorId, orgId, displayName],
      );
    },

    /** The organisation's peer mentors by name, those with none last. */
    async mentors(orgId: string): Promise<Array<{ id: string; displayName: string | null }>> {
      const result = await pool.query<{ id: string; display_name: string | null }>(
        "SELECT id, display_name FROM users WHERE org_id = $1 AND role = 'peer_mentor' ORDER BY display_name NULLS LAST, id",
        [orgId],
      );
      return result.rows.map((row) => ({ id: row.id, displayName: row.display_name }));
    },

    /** The organisation's coordinators by name, each with the mentors assigned to them. */
    async coordinators(orgId: string): Promise<Array<{ id: string; displayName: string | null; mentorIds: string[] }>> {
      const result = await pool.query<{ id: string; display_name: string | null; mentor_ids: string[] }>(
        `SELECT u.id, u.display_name, COALESCE(array_agg(a.mentor_id ORDER BY a.mentor_id) FILTER (WHERE a.mentor_id IS NOT NULL), '{}') AS mentor_ids
           FROM users u LEFT JOIN coordinator_assignments a ON a.org_id = u.org_id AND a.coordinator_id = u.id
          WHERE u.org_id = $1 AND u.role = 'coordinator'
          GROUP BY u.id, u.display_name ORDER BY u.display_name NULLS LAST, u.id`,
        [orgId],
      );
      return result.rows.map((row) => ({ id: row.id, displayName: row.display_name, mentorIds: row.mentor_ids }));
    },

    /** How many referrals the organisation holds (the demo fills an empty one only). */
    async referralCount(orgId: string): Promise<number> {
      return (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM referrals WHERE org_id = $1', [orgId])).rows[0].n;
    },

    /** The user's role in the organisation, or undefined for one it does not know. */
    async roleOf(userId: string, orgId: string): Promise<Role | undefined> {
      return (await pool.query<{ role: Role }>('SELECT role FROM users WHERE id = $1 AND org_id = $2', [userId, orgId])).rows[0]?.role;
    },

    async isMember(userId: string, orgId: string): Promise<boolean> {
      return ((await pool.query('SELECT 1 FROM users WHERE id = $1 AND org_id = $2', [userId, orgId])).rowCount ?? 0) > 0;
    },

    async settings(orgId: string): Promise<OrgSettingsRow | undefined> {
      const result = await pool.query<OrgSettingsRow>(`SELECT ${SETTINGS_COLUMNS} FROM organisations WHERE id = $1`, [orgId]);
      return result.rows[0];
    },

    async updateSettings(orgId: string, change: OrgSettingsChange): Promise<OrgSettingsRow | undefined> {
      const updated = await pool.query<OrgSettingsRow>(
        `UPDATE organisations SET
           attribution_window_seconds = COALESCE($2, attribution_window_seconds),
           confirmation_window_seconds = COALESCE($3, confirmation_window_seconds),
           dedupe_window_seconds = COALESCE($4, dedupe_window_seconds),
           badge_milestones = COALESCE($5, badge_milestones),
           name = COALESCE($6, name)
         WHERE id = $1
         RETURNING ${SETTINGS_COLUMNS}`,
        [orgId, change.attributionWindow ?? null, change.confirmationWindow ?? null, change.dedupeWindow ?? null, change.badgeMilestones ?? null, change.name ?? null],
      );
      return updated.rows[0];
    },

    /**
     * Replaces a coordinator's mentors in one transaction. Answers `no_coordinator` when the id is not a coordinator
     * of the organisation, or the ids that are not its peer mentors.
     */
    assignMentors(orgId: string, coordinatorId: string, mentorIds: string[]): Promise<'no_coordinator' | { unknown: string[] }> {
      return withTransaction(pool, async (client) => {
        const coordinator = await client.query("SELECT 1 FROM users WHERE id = $1 AND org_id = $2 AND role = 'coordinator'", [coordinatorId, orgId]);
        if (coordinator.rowCount === 0) return 'no_coordinator';
        const known = await client.query<{ id: string }>("SELECT id FROM users WHERE id = ANY($1::uuid[]) AND org_id = $2 AND role = 'peer_mentor'", [
          mentorIds,
          orgId,
        ]);
        const knownIds = new Set(known.rows.map((row) => row.id));
        const unknown = mentorIds.filter((id) => !knownIds.has(id));
        if (unknown.length > 0) return { unknown };
        await client.query('DELETE FROM coordinator_assignments WHERE org_id = $1 AND coordinator_id = $2', [orgId, coordinatorId]);
        await client.query(
          `INSERT INTO coordinator_assignments (coordinator_id, mentor_id, org_id) SELECT $1, mentor_id, $3 FROM unnest($2::uuid[]) AS mentor_id`,
          [coordinatorId, mentorIds, orgId],
        );
        return { unknown: [] };
      });
    },
  };
}

export type OrgStore = ReturnType<typeof createOrgStore>;
