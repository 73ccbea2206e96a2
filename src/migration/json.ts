/**
 * Lossless JSON: numbers that a JS double cannot hold exactly (integers beyond 2^53, floats with more
 * significant digits than a double keeps, exponents out of range) are parsed into lossless-json's
 * `LosslessNumber`, which keeps the number's text and writes it back unchanged. Every other number is a
 * plain JS number, so ordinary code (and the AI SDK's validator) sees ordinary values.
 */
import { isLosslessNumber, isSafeNumber, LosslessNumber, parse, stringify } from 'lossless-json';

export { isLosslessNumber, LosslessNumber };

export type JsonObject = Record<string, unknown>;

function parseNumber(text: string): number | LosslessNumber {
  return isSafeNumber(text) ? Number(text) : new LosslessNumber(text);
}

/** Last duplicate key wins, as in JSON.parse and in Postgres jsonb. */
function keepLastDuplicate(info: { newValue: unknown }): unknown {
  return info.newValue;
}

/**
 * A number token whose text might not survive a double: 15 or more digits (with any dots among them),
 * or an exponent. Any number with at most 15 significant digits and no exponent round-trips through a
 * double exactly (DBL_DIG = 15), so text without such a run can take the native parser. Digits inside
 * strings can match too; that only costs the slower path.
 */
const POSSIBLY_UNSAFE_NUMBER = /\d[\d.]{14}|\d[eE]/;

export function parseJson(text: string): unknown {
  if (!POSSIBLY_UNSAFE_NUMBER.test(text)) return JSON.parse(text);
  return parse(text, null, { parseNumber, onDuplicateKey: keepLastDuplicate });
}

export function stringifyJson(value: unknown): string {
  const text = stringify(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

/** A plain JSON object: not null, not an array, not a LosslessNumber or other class instance. */
export function isJsonObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every level and lossless numbers written as
 * their text: two values that mean the same JSON give the same string. Keys whose value is undefined
 * are left out and undefined array items become null, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalValue(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

function canonicalValue(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined;
  }
  if (isLosslessNumber(value)) return value.toString();
  if (Array.isArray(value)) {
    const items = value.map((item) => canonicalValue(item) ?? 'null');
    return `[${items.join(',')}]`;
  }
  if (value instanceof Date) return JSON.stringify(value);
  const object = value as JsonObject;
  const members: string[] = [];
  for (const key of Object.keys(object).sort()) {
    const member = canonicalValue(object[key]);
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
  }
  return `{${members.join(',')}}`;
}
