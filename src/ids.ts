import { z } from 'zod';

/**
 * An id as Postgres's uuid type reads it: 8-4-4-4-12 hex digits, of any version. Members' and users' ids come from
 * other systems (a CRM's sequential GUIDs, an identity provider's subjects), which RFC 9562's version and variant
 * bits (`z.uuid()`) would refuse. In lower case, as Postgres writes it back, so one id compares and hashes the same
 * however it was written.
 */
export const uuid = z.guid({ error: 'Invalid UUID' }).transform((id) => id.toLowerCase());
