import { ATTENTION_CAP, type AttentionEntry, type AttentionList } from './attention.ts';
import type { RunSummary } from './summary.ts';

const EXIT_MEANING: Record<number, string> = {
  0: 'ok',
  1: 'problems found',
  2: 'usage or precondition error',
  3: 'failed while running',
};

/**
 * A short summary fit for a CI job summary: counts, reason codes, and the rooms that need a person (with
 * their codes and errors), never message content.
 */
export function renderSummaryMarkdown(summary: RunSummary, attention?: AttentionList): string {
  const lines: string[] = [];
  const mode = summary.dryRun ? ' (dry run)' : '';
  lines.push(`## recoup-migrate ${summary.command}${mode}: exit ${summary.exitCode} (${EXIT_MEANING[summary.exitCode]})`);
  lines.push('');
  lines.push(`Run \`${summary.runId}\`, ${summary.startedAt} → ${summary.finishedAt}${summary.complete ? '' : ', **incomplete**'}.`);
  if (summary.error) lines.push('', `**Error:** ${summary.error}`);
  for (const problem of summary.problems ?? []) lines.push('', `**Problem:** ${problem}`);
  for (const [title, counters] of [['Rooms', summary.rooms], ['Messages', summary.messages]] as const) {
    if (!counters) continue;
    lines.push('', `| ${title} | count |`, '|---|---:|');
    for (const [key, value] of Object.entries(counters)) lines.push(`| ${key} | ${value} |`);
  }
  // In the reference's order: the summary given here is canonicalSummary's.
  const reasons = Object.entries(summary.reasons);
  if (reasons.length > 0) {
    lines.push('', '| Reason code | count |', '|---|---:|');
    for (const [code, count] of reasons) lines.push(`| \`${code}\` | ${count} |`);
  }
  if (attention) {
    lines.push(...attentionTable('Rooms that need a person', attention.needsPerson, attention.needsPersonTotal, `the first ${ATTENTION_CAP}`, 'errors'));
    const mostSkipped = [...attention.skipped].sort((a, b) => b.skipped - a.skipped);
    lines.push(...attentionTable('Rooms with skipped memories', mostSkipped, attention.skippedTotal, `the ${ATTENTION_CAP} with the most`, 'skips'));
  }
  if (summary.reportDir) lines.push('', `Per-room details: \`${summary.reportDir}/rooms.jsonl\`.`);
  return `${lines.join('\n')}\n`;
}

/** A table of rooms; the one of rooms that need a person has their errors, the one of skips their counts. */
function attentionTable(title: string, entries: readonly AttentionEntry[], total: number, listed: string, columns: 'errors' | 'skips'): string[] {
  if (total === 0) return [];
  const withError = columns === 'errors';
  const lines = ['', `### ${title} (${total})`, ''];
  lines.push(withError ? '| room | status | reason codes | error |' : '| room | status | skipped memories | reason codes |');
  lines.push(withError ? '|---|---|---|---|' : '|---|---|---:|---|');
  for (const e of entries) {
    const codes = e.reasons.map((code) => `\`${code}\``).join(' ');
    lines.push(withError ? `| \`${e.id}\` | ${e.status} | ${codes} | ${cell(e.error ?? '')} |` : `| \`${e.id}\` | ${e.status} | ${e.skipped} | ${codes} |`);
  }
  if (total > entries.length) lines.push('', `…and ${total - entries.length} more (${listed} are listed); every one is in rooms.jsonl.`);
  return lines;
}

/** Text for one table cell: one line, no pipe to break the table. */
function cell(text: string): string {
  return text.replace(/\s+/g, ' ').replaceAll('|', '\\|');
}
