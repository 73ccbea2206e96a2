import type { RunSummary } from './summary.ts';

const EXIT_MEANING: Record<number, string> = {
  0: 'ok',
  1: 'problems found',
  2: 'usage or precondition error',
  3: 'failed while running',
};

/** A short summary fit for a CI job summary: counts and reason codes, never message content. */
export function renderSummaryMarkdown(summary: RunSummary): string {
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
  const reasons = Object.entries(summary.reasons).sort(([a], [b]) => a.localeCompare(b));
  if (reasons.length > 0) {
    lines.push('', '| Reason code | count |', '|---|---:|');
    for (const [code, count] of reasons) lines.push(`| \`${code}\` | ${count} |`);
  }
  if (summary.reportDir) lines.push('', `Per-room details: \`${summary.reportDir}/rooms.jsonl\`.`);
  return `${lines.join('\n')}\n`;
}
