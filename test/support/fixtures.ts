import { readdirSync, readFileSync } from 'node:fs';
import { canonicalJson, parseJson, stringifyJson } from '../../src/migration/json.ts';

export interface MessageFixture {
  name: string;
  memoryId: string;
  /** The memory's content as JSON text, big integers exactly as written in the fixture file. */
  contentText: string;
  updatedAt: string;
  expected: { message: unknown } | { skip: string };
}

const DIR = new URL('../../fixtures/messages/', import.meta.url);

/** Every fixture in fixtures/messages, one per legacy shape and per fault. */
export function loadMessageFixtures(): MessageFixture[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const fixture = parseJson(readFileSync(new URL(file, DIR), 'utf8')) as {
        name: string;
        memory: { id: string; content: unknown; updatedAt?: string };
        expected: { message: unknown } | { skip: string };
      };
      return {
        name: fixture.name,
        memoryId: fixture.memory.id,
        contentText: stringifyJson(fixture.memory.content),
        updatedAt: fixture.memory.updatedAt ?? '2025-03-01T12:00:00.000Z',
        expected: fixture.expected,
      };
    });
}

export function canonical(value: unknown): string {
  return canonicalJson(value);
}
