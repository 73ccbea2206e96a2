import type { Command } from 'commander';
import { z } from 'zod';
import { explain, type ExplainedMessage, type ExplainedRoom, type ExplainSummary, type Fix, type LegacyShape, type MessageDiff } from './explain.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { sharedFlags } from '../../engine/config.ts';
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// explain only reads: the ledger (state), values on request, its own timeouts; no report, no bar.
const EXPLAIN_GROUPS = ['state', 'values', 'timeouts'] as const;
const explainFlags = z
  .object({
    ...sharedFlags(EXPLAIN_GROUPS),
    room: z.guid({ error: 'must be a uuid (a room id)' }),
  })
  .strict();

export function registerExplain(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('explain'), EXPLAIN_GROUPS)
    .description("one room in depth: each memory beside what the converter makes of it and what the target holds, its verdict and the command that fixes it (read-only)")
    .requiredOption('--room <uuid>', 'the room to explain (rooms.id, which is also its chat id)')
    .addHelpText(
      'after',
      `
Examples:
  $ recoup-migrate explain --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed
  $ recoup-migrate explain --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed --show-values    with message values (truncated)
  $ recoup-migrate explain --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed --json | jq '.entries[] | select(.verdict != "clean")'

Judges the room with reconcile's own code, in one read-only transaction, so the two always agree. Verdicts:
clean, missing, mismatch (with the parts that differ), skipped (with its reason code), unexpected (a row for
a memory the converter skips), changed_in_app (information), and app (a message the app wrote; not drift).
Without --show-values it shows ids, roles, part types, counts, digests and reason codes, never content.
A room that does not exist is exit 2.

${exitCodesHelp({ 0: 'the room is clean (expected skips and information allowed)', 1: 'the room has drift: see each memory\'s verdict and fix', 3: 'it failed while reading; it writes nothing' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('explain', explainFlags, flags, async (f, context) => {
          const summary = await explain({ roomId: f.room, statementTimeoutMs: f.statementTimeout, lockTimeoutMs: f.lockTimeout }, context);
          if (f.json) return summary;
          // For a person: the room and every message, then the usual summary lines (exit, problem, reasons).
          process.stdout.write(renderExplanation(summary));
          const { entries: _entries, ...footer } = summary;
          return footer;
        }),
      );
    });
}

const LABEL = 11;
const row = (label: string, text: string) => `  ${label.padEnd(LABEL)}${text}`;
const more = (text: string) => `  ${' '.repeat(LABEL)}${text}`;

/** The explanation as a person reads it: the room, then one block per memory, then the app's messages. */
export function renderExplanation(summary: ExplainSummary): string {
  const lines = renderRoom(summary);
  const memories = summary.entries.filter((m) => m.memoryId !== null);
  memories.forEach((message, index) => lines.push('', ...renderMessage(message, `memory ${index + 1} of ${memories.length}`)));
  for (const message of summary.entries.filter((m) => m.memoryId === null)) lines.push('', ...renderMessage(message, 'app message'));
  return `${lines.join('\n')}\n\n`;
}

function renderRoom(summary: ExplainSummary): string[] {
  const { room, verdicts } = summary;
  const lines = [`room ${room.id}: ${room.status}`];
  lines.push(row('account', room.accountId === null ? 'none' : `${room.accountId} (${room.accountExists ? 'exists' : 'gone'})`));
  lines.push(row('artist', room.artistId === null ? 'none' : `${room.artistId} (${room.artistExists ? 'exists' : 'account gone'})`));
  const topic = room.topic ? 'present' : 'none (the chat is titled Untitled)';
  lines.push(row('topic', room.topicValue !== undefined ? `${topic}: ${JSON.stringify(room.topicValue)}` : room.topic ? `${topic} (--show-values shows it)` : topic));
  lines.push(row('session', room.sessionId), row('chat', room.chatId));
  lines.push(row('target', targetText(room)));
  const app = [room.app?.renamed && 'renamed', room.app?.archived && 'archived', room.app?.addedMessages && `${room.app.addedMessages} message(s) added`].filter(Boolean);
  if (app.length > 0) lines.push(row('in the app', `${app.join(', ')} (never drift)`));
  lines.push(row('ledger', ledgerText(room, summary.ledger)));
  const counts = Object.entries(verdicts).filter(([verdict, n]) => n > 0 && verdict !== 'app').map(([verdict, n]) => `${verdict} ${n}`);
  lines.push(row('memories', `${room.memories}${counts.length > 0 ? `: ${counts.join(', ')}` : ''}${verdicts.app > 0 ? `; app messages ${verdicts.app}` : ''}`));
  for (const item of room.items) {
    lines.push(row(item.level, `${item.code} (${item.kind} ${item.id}${item.fields ? `: ${item.fields.join(', ')}` : ''})`));
    if (item.fix) lines.push(...renderFix(item.fix).map((line, index) => more(index === 0 ? `fix: ${line}` : `     ${line}`)));
  }
  return lines;
}

function targetText(room: ExplainedRoom): string {
  switch (room.target) {
    case 'present':
      return 'present';
    case 'missing':
      return 'missing: no session or chat, and nothing says the room was migrated before';
    case 'deleted':
      return 'deleted in the app (the chat is gone): never re-created, its memories no longer expected';
    case 'skipped':
      return `not expected: the room is skipped (${room.skipReason})`;
  }
}

function ledgerText(room: ExplainedRoom, ledger: boolean): string {
  if (!ledger) return 'no state schema: a backfill would walk this room';
  const entry = room.backfill.ledger === null ? 'no entry' : `recorded as ${room.backfill.ledger}`;
  return `${entry}; ${room.backfill.walksRoom ? 'a backfill would walk this room' : 'unchanged since: backfill skips this room until its legacy rows change'}`;
}

function renderMessage(message: ExplainedMessage, title: string): string[] {
  const lines = [`${title}  ${message.messageId}  ${message.role ?? '(no role)'}  ${message.createdAt ?? ''}`.trimEnd()];
  if (message.legacy) lines.push(row('legacy', legacyText(message.legacy)), ...valueLine(message.legacy.value));
  const converted = message.converted;
  if (converted) {
    if (converted.ok) {
      const metadata = converted.metadata ? ` · metadata ${converted.metadata.join(', ')}` : '';
      lines.push(row('converted', `role ${converted.role} · parts ${types(converted.parts)}${metadata}`), ...valueLine(converted.value));
    } else {
      lines.push(row('converted', `skipped (${converted.reason})`));
    }
  }
  const target = message.target;
  lines.push(row('target', target.present ? `${target.shape} · role ${target.role ?? '(none)'} · parts ${types(target.parts ?? [])}` : 'absent'), ...valueLine(target.value));
  const differ = message.diff ? `: ${message.diff.fields.join(', ')} differ` : '';
  lines.push(row('verdict', `${message.verdict}${message.reasons.length > 0 ? ` (${message.reasons.join(', ')})` : ''}${differ}`));
  if (message.detail) lines.push(row('detail', message.detail));
  if (message.diff) lines.push(...renderDiff(message.diff));
  if (message.note) lines.push(row('note', message.note));
  if (message.fix) lines.push(...renderFix(message.fix).map((line, index) => (index === 0 ? row('fix', line) : more(line))));
  return lines;
}

function legacyText(legacy: LegacyShape): string {
  if (legacy.json !== 'object') return `a JSON ${legacy.json}, not a message object`;
  const parts = Array.isArray(legacy.parts) ? `parts ${types(legacy.parts)}` : `parts ${legacy.parts ?? 'absent'}`;
  const bits = [`role ${legacy.role ?? '(none)'}`, parts];
  if (legacy.contentChars !== undefined) bits.push(`content ${legacy.contentChars} chars`);
  if (legacy.toolInvocations !== undefined) bits.push(`toolInvocations ${legacy.toolInvocations}`);
  if (legacy.attachments !== undefined) bits.push(`attachments ${legacy.attachments}`);
  if (legacy.keys) bits.push(`also ${legacy.keys.join(', ')}`);
  return bits.join(' · ');
}

/** Part types in order, a run of the same type counted: [step-start, tool-search ×2, text]. */
function types(list: readonly (string | null)[]): string {
  const runs: string[] = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j < list.length && list[j] === list[i]) j += 1;
    const name = list[i] ?? '(no type)';
    runs.push(j - i > 1 ? `${name} ×${j - i}` : name);
    i = j;
  }
  return `[${runs.join(', ')}]`;
}

function valueLine(value: string | undefined): string[] {
  return value === undefined ? [] : [more(`value ${value}`)];
}

function renderDiff(diff: MessageDiff): string[] {
  const lines: string[] = [];
  for (const [field, sides] of Object.entries(diff.values ?? {})) {
    lines.push(`${field}: ${JSON.stringify(sides.expected)} in the converter's, ${JSON.stringify(sides.actual)} in the target`);
  }
  if (diff.shape) lines.push(`target form: ${diff.shape.actual} (the converter's: ${diff.shape.expected})`);
  if (diff.envelope) lines.push(`envelope keys that differ: ${diff.envelope.join(', ')}`);
  for (const part of diff.parts) {
    const type = part.expected === part.actual || part.actual === null ? ` (${part.expected})` : part.expected === null ? ` (${part.actual})` : '';
    const what = {
      differs: type ? 'differs' : `${part.expected} in the converter's, ${part.actual} in the target`,
      missing: "in the converter's, missing from the target",
      extra: "extra in the target, not in the converter's",
    }[part.change];
    lines.push(`part ${part.index}${type}: ${what}`);
    if (part.values?.expected !== undefined) lines.push(`  converter's ${part.values.expected}`);
    if (part.values?.actual !== undefined) lines.push(`  target's    ${part.values.actual}`);
  }
  if (diff.fields.includes('parts') && diff.parts.length === 0 && !diff.shape && !diff.envelope) lines.push('parts: the same parts, in a different JSON text');
  lines.push(`digests: ${diff.digest.expected} in the converter's, ${diff.digest.actual} in the target`);
  return lines.map((line, index) => (index === 0 ? row('diff', line) : more(line)));
}

/** The fix's commands, one a line, then why; or, when nothing in the tool fixes it, why not. */
function renderFix(fix: Fix): string[] {
  if (fix.commands.length === 0) return [fix.note];
  return [...fix.commands, `why: ${fix.note}`];
}
