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
 * double exactly (DBL_DIG = 15), so text without such a number can take the native parser.
 */
const POSSIBLY_UNSAFE_NUMBER = /\d[\d.]{14}|\d[eE]/g;
const BACKSLASH = 92;

export function parseJson(text: string): unknown {
  if (!hasPossiblyUnsafeNumber(text)) return JSON.parse(text);
  return parse(text, null, { parseNumber, onDuplicateKey: keepLastDuplicate });
}

/**
 * Whether a match of POSSIBLY_UNSAFE_NUMBER lies outside every string literal. Most matches are inside
 * strings (uuids: "…4e…", long ids), and those need no lossless parse. Malformed text answers true, so
 * that it reaches the lossless parser and its error.
 */
export function hasPossiblyUnsafeNumber(text: string): boolean {
  let from = 0;
  let stringsScannedTo = 0;
  for (;;) {
    POSSIBLY_UNSAFE_NUMBER.lastIndex = from;
    const match = POSSIBLY_UNSAFE_NUMBER.exec(text);
    if (match === null) return false;
    // Walk the strings that open before the match, starting where the last walk stopped.
    let position = Math.max(from, stringsScannedTo);
    let insideStringEndingAt = -1;
    for (;;) {
      const open = text.indexOf('"', position);
      if (open === -1 || open > match.index) break;
      const close = closingQuote(text, open);
      if (close === -1) return true;
      if (close > match.index) {
        insideStringEndingAt = close;
        break;
      }
      position = close + 1;
    }
    if (insideStringEndingAt === -1) return true;
    from = insideStringEndingAt + 1;
    stringsScannedTo = from;
  }
}

function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/** JSON text of a value; LosslessNumbers are written as their exact text. */
export function stringifyJson(value: unknown): string {
  // Item by item: one message with a big integer must not send a whole page through the slower writer.
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : stringifyJson(item))).join(',')}]`;
  const text = containsLosslessNumber(value) ? stringify(value) : JSON.stringify(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

function containsLosslessNumber(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (containsLosslessNumber(item)) return true;
    return false;
  }
  if (isLosslessNumber(value)) return true;
  for (const key in value) {
    if (containsLosslessNumber((value as JsonObject)[key])) return true;
  }
  return false;
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

/**
 * canonicalJson(a) === canonicalJson(b), without building either string: key order aside, lossless
 * numbers compared by their text, undefined object values absent and undefined array items null.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return a !== undefined;
  const aIsContainer = isContainer(a);
  if (aIsContainer !== isContainer(b)) return false;
  if (!aIsContainer) {
    const value = canonicalValue(a);
    return value !== undefined && value === canonicalValue(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      if (!jsonEqual(a[i] === undefined ? null : a[i], b[i] === undefined ? null : b[i])) return false;
    }
    return true;
  }
  const left = a as JsonObject;
  const right = b as JsonObject;
  let leftKeys = 0;
  for (const key of Object.keys(left)) {
    if (left[key] === undefined) continue;
    leftKeys += 1;
    if (!Object.hasOwn(right, key) || !jsonEqual(left[key], right[key])) return false;
  }
  let rightKeys = 0;
  for (const key of Object.keys(right)) if (right[key] !== undefined) rightKeys += 1;
  return leftKeys === rightKeys;
}

/** An array or a plain object (compared member by member); everything else compares as its JSON text. */
function isContainer(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return Array.isArray(value) || !(isLosslessNumber(value) || value instanceof Date);
}
