import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { CommandContext } from '../engine/context.ts';
import { createPool, resolveConnection } from '../engine/connection.ts';
import { confirmsTransactionPooling, refuseTransactionPooler, TRANSACTION_POOLER_PORT } from '../engine/pooler.ts';
import { assertReportDirWritable, defaultReportDir } from '../report/report-writer.ts';
import { canonicalSummary, summaryHead, type ExitCode, type RunSummary } from '../report/summary.ts';
import { renderHuman } from '../report/summary-text.ts';
import { describeFlagErrors, type BaseFlags } from '../engine/config.ts';
import { DEFAULT_STATE_SCHEMA } from '../engine/state-schema.ts';
import { describeRunError, errorMessage, PreconditionError, scrubSecrets } from '../engine/errors.ts';
import { createLogger } from '../engine/logger.ts';

// Pool clients beyond the batch workers: the planner's keyset reads, lease heartbeats, run records.
const EXTRA_POOL_CLIENTS = 2;

/**
 * The one wrapper around every command: flags → trusted config (exit 2 on any problem), a pool, the
 * command, its summary on stdout, and the exit code. Commands return data; only this decides 0/1/2/3.
 */
export async function runCommand<S extends z.ZodType<BaseFlags & { concurrency?: number }>>(
  command: string,
  schema: S,
  rawFlags: Record<string, unknown>,
  run: (flags: z.infer<S>, context: CommandContext) => Promise<RunSummary>,
  /** `needsSession`: why the command cannot run through a transaction pooler (it is refused there). */
  options: { needsSession?: string } = {},
): Promise<ExitCode> {
  const runId = randomUUID();
  const startedAt = new Date();
  const parsed = schema.safeParse(rawFlags);
  const wantsJson = rawFlags.json === true;
  if (!parsed.success) {
    return finish(failureSummary(command, runId, startedAt, 2, `Invalid flags:\n${describeFlagErrors(parsed.error)}`), wantsJson);
  }
  const flags = parsed.data;
  let secrets: readonly string[] = [];
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\nSecond ${signal}: exiting now. Committed batches stay; re-run to continue.\n`);
      process.exit(3);
    }
    process.stderr.write(`\n${signal}: finishing the batches in flight, then writing the report (again to force).\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // The commands that take --report-dir write reports: find out now that they can, not after the lease.
    if (takesReportDir(schema)) await assertReportDirWritable(flags.reportDir ?? defaultReportDir(command, runId));
    const connection = resolveConnection(flags);
    secrets = connection.secrets;
    const logger = createLogger(flags.logLevel, secrets).child({ command, runId });
    for (const warning of connection.warnings) logger.warn(warning);
    if (connection.port === TRANSACTION_POOLER_PORT) {
      if (options.needsSession) throw refuseTransactionPooler(command, options.needsSession);
      logger.info(`Port ${TRANSACTION_POOLER_PORT} is Supabase's transaction pooler: ${command} keeps no session state, so it runs there.`);
    }
    const pool = createPool(connection, (flags.concurrency ?? 1) + EXTRA_POOL_CLIENTS);
    try {
      await pool.query('select 1').catch((error: unknown) => {
        throw new PreconditionError(`Cannot connect to ${connection.display}: ${describeRunError(error)}`);
      });
      if (options.needsSession && (await confirmsTransactionPooling(pool))) throw refuseTransactionPooler(command, options.needsSession);
      const context: CommandContext = {
        pool,
        connection,
        logger,
        // A command without a shared group's flags gets that group's defaults.
        stateSchema: flags.stateSchema ?? DEFAULT_STATE_SCHEMA,
        runId,
        startedAt,
        reportDir: flags.reportDir ?? defaultReportDir(command, runId),
        progress: flags.progress ?? false,
        showValues: flags.showValues ?? false,
        stopSignal: controller.signal,
      };
      const summary = await run(flags, context);
      return finish(summary, flags.json);
    } finally {
      await pool.end().catch(() => {});
    }
  } catch (error) {
    const code: ExitCode = error instanceof PreconditionError ? 2 : 3;
    // A PreconditionError's message already says what to do (the connection check describes its cause).
    const message = scrubSecrets(error instanceof PreconditionError ? errorMessage(error) : describeRunError(error), secrets);
    return finish(failureSummary(command, runId, startedAt, code, message), flags.json);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function takesReportDir(schema: z.ZodType): boolean {
  const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape !== undefined && 'reportDir' in shape;
}

function failureSummary(command: string, runId: string, startedAt: Date, exitCode: ExitCode, error: string): RunSummary {
  return {
    ...summaryHead(command, { runId, startedAt }, { dryRun: false, complete: false, exitCode }),
    reasons: {},
    reportDir: null,
    error,
  };
}

/** The result to stdout (the summary, or its one JSON object); the error, if any, to stderr as well. */
function finish(finished: RunSummary, json: boolean): ExitCode {
  const summary = canonicalSummary(finished);
  if (summary.error) process.stderr.write(`error: ${summary.error}\n`);
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : renderHuman(summary));
  return summary.exitCode;
}
