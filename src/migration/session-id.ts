import { v5 as uuidv5 } from 'uuid';

/** The namespace production used: uuid_generate_v5('f47ac10b-…'::uuid, rooms.id::text). */
export const SESSION_ID_NAMESPACE = 'f47ac10b-58cc-4372-a567-0e02b2c3d479';

/**
 * The session id of a legacy room: uuid v5 of the room id's lower-case text form. Computed here rather
 * than with SQL's uuid_generate_v5, whose schema (Supabase: `extensions`) may not be on the search_path.
 */
export function sessionIdForRoom(roomId: string): string {
  return uuidv5(roomId.toLowerCase(), SESSION_ID_NAMESPACE);
}
