import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { REASON_CODES } from '../../src/migration/reasons.ts';
import { buildProgram } from '../../src/main.ts';

// Keeps the reference in docs/commands/ and each command's --help in agreement, and every example in the
// docs runnable as written after `npm ci`.

const DOCS = new URL('../../docs/', import.meta.url);
const COMMAND_DOCS = new URL('commands/', DOCS);
const SHARED = 'shared-flags.md';

/** README.md and every page under docs/, as paths from the project root. */
const MARKDOWN = ['README.md', ...readdirSync(DOCS, { recursive: true, encoding: 'utf8' }).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));

const program = buildProgram(() => {});
const commands = new Map(program.commands.filter((c) => c.name() !== 'help').map((c) => [c.name(), c]));

/** The flags --help prints for a command, without --help itself. */
function helpFlags(command: Command): string[] {
  const flags = command
    .helpInformation()
    .split('\n')
    .map((line) => /^\s{2}(?:-\w, )?(--[a-z0-9-]+)/.exec(line)?.[1])
    .filter((flag): flag is string => flag !== undefined && flag !== '--help');
  return [...new Set(flags)].sort();
}

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) return '';
  const rest = markdown.slice(start + heading.length + 5);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The first cell of each row of the markdown tables in `text`, header and rule lines left out. */
function tableRowsFirstCells(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|?$/.test(line))
    .map((line) => line.split('|')[1] ?? '');
}

/** The flags named in the first cell of a section's table rows. */
function tableFlags(text: string): string[] {
  return tableRowsFirstCells(text).flatMap((cell) => [...cell.matchAll(/`(--[a-z0-9-]+)/g)].map((m) => m[1]!));
}

const shared = readFileSync(new URL(SHARED, COMMAND_DOCS), 'utf8');
/** Each `## ` section of shared-flags.md is a group, named by its anchor: the flags of its table. */
const GROUPS: Record<string, string[]> = Object.fromEntries(
  [...shared.matchAll(/^## (.+)$/gm)].map(([, title]) => [title!.toLowerCase().replace(/\s+/g, '-'), tableFlags(section(shared, title!))]),
);

/** What a command's page documents: its Flags table, plus each shared group its Flags section links to. */
function documentedFlags(page: string): string[] {
  const flagsSection = section(page, 'Flags');
  const linked = Object.keys(GROUPS).filter((group) => flagsSection.includes(`${SHARED}#${group}`));
  return [...new Set([...tableFlags(flagsSection), ...linked.flatMap((group) => GROUPS[group]!)])].sort();
}

describe('docs/commands/ and --help', () => {
  it('has a page for every command and a command for every page', () => {
    const pages = readdirSync(COMMAND_DOCS)
      .filter((name) => name.endsWith('.md') && name !== SHARED && name !== 'README.md')
      .map((name) => name.replace(/\.md$/, ''))
      .sort();
    expect(pages).toEqual([...commands.keys()].sort());
  });

  it('reads the shared groups from shared-flags.md', () => {
    expect(Object.keys(GROUPS)).toEqual(['connection-and-output', 'state', 'reports', 'values', 'progress', 'timeouts', 'pacing']);
    expect(GROUPS['connection-and-output']).toContain('--database-url');
    expect(GROUPS.pacing).toContain('--time-budget');
  });

  for (const [name, command] of commands) {
    it(`documents exactly the flags of ${name}`, () => {
      const page = readFileSync(new URL(`${name}.md`, COMMAND_DOCS), 'utf8');
      const help = helpFlags(command);
      expect(help.length).toBeGreaterThan(0);
      expect(documentedFlags(page)).toEqual(help);
    });
  }
});

describe('examples in README.md and docs/', () => {
  const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  /** Lines of fenced code blocks, with their file. */
  const codeLines = MARKDOWN.flatMap((file) => {
    const blocks = read(file).split(/^```.*$/m).filter((_, i) => i % 2 === 1);
    return blocks.flatMap((block) => block.split('\n').map((line) => ({ file, line: line.trim() })));
  });

  it('call the tool as npx recoup-migrate, which is on PATH after npm ci', () => {
    const bare = codeLines.filter(({ line }) => /^recoup-migrate\s/.test(line)).map(({ file, line }) => `${file}: ${line}`);
    expect(bare).toEqual([]);
    expect(codeLines.filter(({ line }) => line.startsWith('npx recoup-migrate ')).length).toBeGreaterThan(20);
  });

  it('use only commands and flags that exist', () => {
    const wrong: string[] = [];
    for (const { file, line } of codeLines) {
      const call = /^npx recoup-migrate\s+([a-z-]+)(.*)$/.exec(line);
      if (!call) continue;
      const command = commands.get(call[1]!);
      if (!command) {
        wrong.push(`${file}: ${line}: no command ${call[1]}`);
        continue;
      }
      const known = new Set(helpFlags(command));
      const args = call[2]!.replace(/#.*$/, '');
      for (const [, flag] of args.matchAll(/(?:^|\s)(--[a-z0-9-]+)/g)) {
        if (flag !== '--help' && !known.has(flag!)) wrong.push(`${file}: ${line}: ${call[1]} has no ${flag}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('links in README.md and docs/', () => {
  /** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
  const anchorsOf = (markdown: string) =>
    new Set([...markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.*)$/gm)].map(([, heading]) => slug(heading!)));

  it('point at files and headings that exist', () => {
    const root = new URL('../../', import.meta.url);
      const broken: string[] = [];
    for (const file of MARKDOWN) {
      const text = readFileSync(new URL(file, root), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#');
        const resolved = path ? new URL(path, new URL(file, root)) : new URL(file, root);
        let content: string;
        try {
          content = path?.endsWith('/') ? (readdirSync(resolved), '') : readFileSync(resolved, 'utf8');
        } catch {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (anchor && !anchorsOf(content).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('docs/reason-codes.md', () => {
  it('documents every reason code, in the order summaries list them', () => {
    const table = readFileSync(new URL('reason-codes.md', DOCS), 'utf8');
    const documented = tableRowsFirstCells(table).flatMap((cell) => [...cell.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
    expect(documented).toEqual([...REASON_CODES]);
  });
});
