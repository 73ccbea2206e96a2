import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImportGraph, violations, type ImportGraph } from '../support/import-rules.ts';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

describe('the rule of the house (docs/architecture.md)', () => {
  it('holds for every import in src/', () => {
    const graph = readImportGraph(SRC);
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('main.ts')).toContain('commands/backfill/cli.ts');
    expect(violations(graph)).toEqual([]);
  });

  const graph = (entries: Record<string, string[]>): ImportGraph => new Map(Object.entries(entries));

  it('refuses an import of a layer above', () => {
    expect(violations(graph({ 'engine/runs.ts': ['report/summary.ts'] }))).toEqual([
      'engine/runs.ts → report/summary.ts: engine may not import report (a layer above it)',
    ]);
    expect(violations(graph({ 'migration/map-room.ts': ['engine/source-reads.ts'] }))).toHaveLength(1);
    expect(violations(graph({ 'cli/options.ts': ['commands/backfill/backfill.ts'] }))).toHaveLength(1);
    expect(violations(graph({ 'report/summary.ts': ['cli/options.ts'] }))).toHaveLength(1);
  });

  it('lets a command reach another only through its entry file', () => {
    expect(violations(graph({ 'commands/seed/demo.ts': ['commands/backfill/backfill.ts'] }))).toEqual([]);
    expect(violations(graph({ 'commands/fix-parts/isolate.ts': ['commands/backfill/isolate.ts'] }))).toEqual([
      'commands/fix-parts/isolate.ts → commands/backfill/isolate.ts: a command uses another only through its entry file commands/backfill/backfill.ts',
    ]);
    expect(violations(graph({ 'commands/drop-legacy/run.ts': ['commands/drop-legacy/snapshot/write.ts'] }))).toEqual([]);
  });

  it('keeps the converter free of I/O', () => {
    expect(violations(graph({ 'migration/convert.ts': ['ai', 'lossless-json'] }))).toEqual([]);
    expect(violations(graph({ 'migration/convert.ts': ['pg'] }))).toHaveLength(1);
    expect(violations(graph({ 'migration/convert.ts': ['node:fs'] }))).toHaveLength(1);
  });

  it('refuses a file outside the folders of the house', () => {
    expect(violations(graph({ 'db/runs.ts': [] }))).toEqual(['db/runs.ts: not in a folder of the house (migration, engine, report, cli, commands, main)']);
  });
});
