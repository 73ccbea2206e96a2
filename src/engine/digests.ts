/**
 * Digests of target rows, computed by the server so that what is compared is what is stored (values
 * sent back through JavaScript could differ: JSON.parse changes big integers). jsonb's text form is
 * canonical (sorted keys, normalised spacing), and epochs avoid any TimeZone/DateStyle dependence.
 *
 * Each function takes a table alias and returns an SQL expression over the same columns, so the same
 * digest can be taken of a stored row and of an expected row sent as jsonb.
 */
export function sessionDigestSql(alias: string, withArtistId: boolean): string {
  const artist = withArtistId ? `${alias}.artist_id::text` : 'null::text';
  return `md5(row(${alias}.account_id::text, ${alias}.title, ${artist})::text)`;
}

export function chatDigestSql(alias: string): string {
  return `md5(row(${alias}.session_id, ${alias}.title)::text)`;
}

export function messageDigestSql(alias: string): string {
  return `md5(row(${alias}.chat_id, ${alias}.role, extract(epoch from ${alias}.created_at), ${alias}.parts::text)::text)`;
}
