import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * The rule of the house (docs/architecture.md) as code: which folder of src/ may import which.
 * Bottom to top; a file may import its own folder and any layer below its own.
 */
export const LAYERS = ['migration', 'engine', 'report', 'cli', 'commands', 'main'] as const;
type Layer = (typeof LAYERS)[number];

/** The pure converter does no I/O: these are the only packages it may use. */
export const MIGRATION_PACKAGES = new Set(['ai', 'lossless-json', 'uuid', 'zod']);

/** One file's imports, as paths relative to src/ (`engine/runs.ts`) or bare package names. */
export type ImportGraph = Map<string, string[]>;

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)'([^']+)'/gm;

export function readImportGraph(srcDir: string): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string) => {
    for (const entry of readdirSync(posix.join(srcDir, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts')) graph.set(path, importsOf(path, readFileSync(posix.join(srcDir, path), 'utf8')));
    }
  };
  walk('');
  return graph;
}

function importsOf(file: string, text: string): string[] {
  return [...text.matchAll(IMPORT)].map(([, spec]) => {
    if (!spec!.startsWith('.')) return packageName(spec!);
    return posix.normalize(posix.join(posix.dirname(file), spec!));
  });
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function layerOf(path: string): Layer | null {
  if (path === 'main.ts') return 'main';
  const top = path.split('/')[0] as Layer;
  return (LAYERS as readonly string[]).includes(top) && top !== 'main' ? top : null;
}

/** `commands/backfill/batch.ts` → `backfill`. */
function commandOf(path: string): string | null {
  const [top, name] = path.split('/');
  return top === 'commands' && name !== undefined ? name : null;
}

/** Every import that breaks the rule, as `from → to: why`. Empty when the house is in order. */
export function violations(graph: ImportGraph): string[] {
  const found: string[] = [];
  for (const [file, imports] of graph) {
    const layer = layerOf(file);
    if (layer === null) {
      found.push(`${file}: not in a folder of the house (${LAYERS.join(', ')})`);
      continue;
    }
    for (const target of imports) {
      const why = breaks(file, layer, target);
      if (why) found.push(`${file} → ${target}: ${why}`);
    }
  }
  return found;
}

function breaks(file: string, layer: Layer, target: string): string | null {
  if (!target.endsWith('.ts')) {
    if (layer !== 'migration' || MIGRATION_PACKAGES.has(target)) return null;
    return `the converter does no I/O; it may use only ${[...MIGRATION_PACKAGES].join(', ')}`;
  }
  const targetLayer = layerOf(target);
  if (targetLayer === null) return 'imports outside src/';
  if (LAYERS.indexOf(targetLayer) > LAYERS.indexOf(layer)) return `${layer} may not import ${targetLayer} (a layer above it)`;
  if (layer === 'commands' && targetLayer === 'commands') {
    const own = commandOf(file);
    const other = commandOf(target);
    if (own !== other && target !== `commands/${other}/${other}.ts`) {
      return `a command uses another only through its entry file commands/${other}/${other}.ts`;
    }
  }
  return null;
}
