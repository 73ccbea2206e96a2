/**
 * Converter throughput over a mix built from the message fixtures, on one core, two ways: the
 * conversion alone (convertContent) and conversion plus the AI SDK's validation (convertMemory), which
 * every message also goes through. Not run by the tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { convertContent, convertMemory, type MemoryInput } from '../src/migration/convert.ts';
import { parseJson } from '../src/migration/json.ts';

const FIXTURE_DIR = new URL('../fixtures/messages/', import.meta.url);

/** Roughly how the shapes are spread over the data: the recent shapes dominate. */
const SHAPE_WEIGHTS: Record<string, number> = { S0: 1, S1: 1, S2: 2, S3: 2, S4: 4, S5: 6, fault: 1 };
const WARM_UP_MESSAGES = 2_000;

function loadMix(): MemoryInput[] {
  const mix: MemoryInput[] = [];
  for (const file of readdirSync(FIXTURE_DIR).filter((name) => name.endsWith('.json')).sort()) {
    const fixture = parseJson(readFileSync(new URL(file, FIXTURE_DIR), 'utf8')) as {
      shape: string;
      memory: { id: string; content: unknown; updatedAt: string };
    };
    const memory = { ...fixture.memory, updatedAt: new Date(fixture.memory.updatedAt) };
    for (let copy = 0; copy < (SHAPE_WEIGHTS[fixture.shape] ?? 1); copy++) mix.push(memory);
  }
  return mix;
}

export async function benchConverter(
  opts: { messages: number },
): Promise<{ messagesPerSecond: number; withValidationPerSecond: number }> {
  const mix = loadMix();
  const at = (index: number): MemoryInput => mix[index % mix.length] as MemoryInput;
  for (let i = 0; i < WARM_UP_MESSAGES; i++) await convertMemory(at(i));
  let started = performance.now();
  for (let i = 0; i < opts.messages; i++) {
    const memory = at(i);
    convertContent(memory.id, memory.content);
  }
  const conversionSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  for (let i = 0; i < opts.messages; i++) await convertMemory(at(i));
  const validationSeconds = (performance.now() - started) / 1000;
  return {
    messagesPerSecond: Math.round(opts.messages / conversionSeconds),
    withValidationPerSecond: Math.round(opts.messages / validationSeconds),
  };
}
