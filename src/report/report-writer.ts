import { createWriteStream, type WriteStream } from 'node:fs';
import { appendFile, chmod, mkdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errorMessage, PreconditionError } from '../engine/errors.ts';
import { AttentionList } from './attention.ts';
import { renderSummaryMarkdown } from './summary-markdown.ts';
import { canonicalSummary, type RunSummary } from './summary.ts';

// Reports name users' rooms and messages: only the operator may read them.
const REPORT_DIR_MODE = 0o700;
const REPORT_FILE_MODE = 0o600;

export function defaultReportDir(command: string, runId: string): string {
  return resolve('recoup-migrate-reports', `${command}-${runId}`);
}

/**
 * Before any lease or write: the report folder can be made, and written to. Probed for real (a file
 * written and removed in its parent), since access() says yes to root for places like /proc that refuse
 * every file. The folder itself is made later by the run, which may pick another one when it joins a
 * shared run.
 */
export async function assertReportDirWritable(dir: string): Promise<void> {
  const absolute = resolve(dir);
  const refuse = (why: string) =>
    new PreconditionError(`Cannot write reports to ${absolute}: ${why}. Pass --report-dir with a folder this user can create and write.`);
  const existing = await stat(absolute).catch(() => null);
  if (existing && !existing.isDirectory()) throw refuse('it exists and is not a folder');
  // Into the folder itself when it exists (it may be read-only while its parent is not), else beside it.
  const parent = existing ? absolute : dirname(absolute);
  const probe = join(parent, `.recoup-migrate-write-test-${process.pid}`);
  try {
    await mkdir(parent, { recursive: true, mode: REPORT_DIR_MODE });
    await writeFile(probe, '', { mode: REPORT_FILE_MODE });
  } catch (error) {
    throw refuse(errorMessage(error));
  }
  await unlink(probe).catch(() => {});
}

/**
 * Writes one run's reports: rooms.jsonl as rooms finish (streamed, so memory stays flat), then
 * summary.json and summary.md at the end.
 */
export class ReportWriter {
  readonly dir: string;
  private readonly rooms: WriteStream;
  private lines = 0;
  private readonly attention = new AttentionList();

  private constructor(dir: string, rooms: WriteStream) {
    this.dir = dir;
    this.rooms = rooms;
  }

  static async open(dir: string): Promise<ReportWriter> {
    const absolute = resolve(dir);
    await mkdir(absolute, { recursive: true, mode: REPORT_DIR_MODE });
    const roomsFile = join(absolute, 'rooms.jsonl');
    const stream = createWriteStream(roomsFile, { flags: 'w', mode: REPORT_FILE_MODE });
    await new Promise<void>((ok, fail) => {
      stream.once('open', () => ok());
      stream.once('error', fail);
    });
    // `mode` applies only when the file is created: one left by an earlier run into this dir keeps its own.
    await chmod(roomsFile, REPORT_FILE_MODE);
    return new ReportWriter(absolute, stream);
  }

  /** Appends one line to rooms.jsonl. Waits when the stream is backed up, so memory stays bounded. */
  async writeRoom(line: object): Promise<void> {
    this.lines += 1;
    this.attention.add(line);
    await writeLine(this.rooms, line);
  }

  /** Writes `lines` to a JSONL file of its own in the report folder; returns how many it wrote. */
  async writeLines(name: string, lines: AsyncIterable<object>): Promise<number> {
    const path = join(this.dir, name);
    const stream = createWriteStream(path, { flags: 'w', mode: REPORT_FILE_MODE });
    let count = 0;
    for await (const line of lines) {
      count += 1;
      await writeLine(stream, line);
    }
    await endStream(stream);
    return count;
  }

  get roomLines(): number {
    return this.lines;
  }

  async finish(finished: RunSummary): Promise<void> {
    await endStream(this.rooms);
    const summary = canonicalSummary(finished);
    const markdown = renderSummaryMarkdown(summary, this.attention);
    for (const [name, text] of [['summary.json', `${JSON.stringify(summary, null, 2)}\n`], ['summary.md', markdown]] as const) {
      await writeFile(join(this.dir, name), text, { mode: REPORT_FILE_MODE });
      await chmod(join(this.dir, name), REPORT_FILE_MODE);
    }
    // CI job summaries (GitHub Actions) take markdown appended to this file.
    const stepSummary = process.env.GITHUB_STEP_SUMMARY;
    if (stepSummary) await appendFile(stepSummary, `${markdown}\n`);
  }
}

/** One JSON line; waits while the stream is backed up, so memory stays bounded. */
async function writeLine(stream: WriteStream, line: object): Promise<void> {
  if (!stream.write(`${JSON.stringify(line)}\n`)) await new Promise<void>((ok) => stream.once('drain', () => ok()));
}

function endStream(stream: WriteStream): Promise<void> {
  return new Promise<void>((ok, fail) => stream.end((error?: Error | null) => (error ? fail(error) : ok())));
}
