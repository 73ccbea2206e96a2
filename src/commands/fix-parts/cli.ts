import type { Command } from 'commander';
import { z } from 'zod';
import { fixParts } from './fix-parts.ts';
import { undoFixParts } from './undo.ts';
import { exitCodesHelp, STOPPED_BY_BUDGET } from '../../report/summary.ts';
import { connectionFlags, outputFlags, pacingFlags, refuseWithUndo, walkFlags } from '../../engine/config.ts';
import { addCommonOptions, addPacingOptions, dryRunOption, pacingFrom } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

// Chat ids are text: migrated chats carry their room's uuid, chats the app created carry its own ids.
const CHAT_ID_MAX_LENGTH = 200;
const chatId = z.string().min(1).max(CHAT_ID_MAX_LENGTH);
const runId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid (a run id)');

export const fixPartsFlags = z
  .object({
    ...connectionFlags,
    ...outputFlags,
    ...pacingFlags,
    batchSize: walkFlags.batchSize,
    concurrency: walkFlags.concurrency,
    since: walkFlags.since,
    limit: walkFlags.limit,
    room: z.array(chatId).optional(),
    chat: z.array(chatId).optional(),
    dryRun: z.boolean().default(false),
    undo: runId.optional(),
  })
  .strict()
  .superRefine(refuseWithUndo(['room', 'chat', 'since', 'limit', 'targetBatchMs', 'timeBudget']));

export function registerFixParts(program: Command, setExitCode: (code: number) => void): void {
  addPacingOptions(addCommonOptions(program.command('fix-parts')))
    .description("repair chat_messages.parts the original script wrote (v4 parts, bare arrays), with backup and --undo")
    .option('--batch-size <n>', 'chat_messages rows per batch (one read and one write transaction each)', '2000')
    .option('--concurrency <n>', 'batches in flight in this process', '2')
    .option('--room <id>', 'only this chat (repeatable; a migrated chat has its room id)', collect)
    .option('--chat <id>', 'alias of --room', collect)
    .option('--since <time>', "only messages created since this ISO time, or whose memory changed since")
    .option('--limit <n>', 'at most this many messages')
    .addOption(dryRunOption())
    .option('--undo <runId>', 'put back the old values of that run, where rows still hold what it wrote')
    .addHelpText(
      'after',
      `
Rows that hold exactly what the original script wrote from a memory are rebuilt from the memory, and
its copies of memories the converter skips (a step-start-only or empty message) are removed; rows that
fail AI SDK v6 validation are repaired from themselves; rows the tool wrote with an earlier converter are
upgraded; valid rows the app wrote are never touched. Every changed or removed row is backed up first in
<state-schema>.parts_backup.

Examples:
  $ recoup-migrate fix-parts --dry-run                     preview: real SQL, rolled back
  $ recoup-migrate fix-parts --json > fix-parts.json
  $ recoup-migrate fix-parts --chat 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed
  $ recoup-migrate fix-parts --undo <runId>                restore what that run changed
  $ recoup-migrate fix-parts --time-budget 25m             a cron window; the next run does the rest

Several processes (on one machine or many) started with the same scope join one run and share its
batches; the last one standing finishes it.

${exitCodesHelp({ 0: `done (${STOPPED_BY_BUDGET})`, 1: 'some rows cannot be repaired, or their write failed (status "unrepairable" or "failed" in rooms.jsonl)' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('fix-parts', fixPartsFlags, flags, (f, context) => {
          const chats = [...(f.room ?? []), ...(f.chat ?? [])];
          const common = { dryRun: f.dryRun, statementTimeoutMs: f.statementTimeout, lockTimeoutMs: f.lockTimeout };
          return f.undo
            ? undoFixParts({ runId: f.undo, batchSize: f.batchSize, ...common }, context)
            : fixParts(
                {
                  scope: { chats: chats.length > 0 ? chats : undefined, since: f.since, limit: f.limit },
                  batchSize: f.batchSize,
                  concurrency: f.concurrency,
                  ...pacingFrom(f),
                  ...common,
                },
                context,
              );
        }),
      );
    });
}
