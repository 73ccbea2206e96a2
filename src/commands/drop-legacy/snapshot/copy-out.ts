import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { StreamDigest, type FileDigest } from './file-digest.ts';
import { SNAPSHOT_FILE_MODE } from './manifest.ts';

/**
 * Streams one or more `COPY … TO STDOUT`, one after another, into a new file (mode 0600, never an
 * existing one, fsynced on close), digesting the bytes on their way to disk. `lines` has each
 * statement's row count.
 */
export async function copyToFile(client: pg.ClientBase, statements: readonly string[], path: string): Promise<{ digest: FileDigest; lines: number[] }> {
  const digest = new StreamDigest();
  const lines: number[] = [];
  async function* copied(): AsyncGenerator<Buffer> {
    for (const statement of statements) {
      const before = digest.lines;
      for await (const chunk of client.query(copyTo(statement))) {
        digest.update(chunk as Buffer);
        yield chunk as Buffer;
      }
      lines.push(digest.lines - before);
    }
  }
  await pipeline(copied, createWriteStream(path, { mode: SNAPSHOT_FILE_MODE, flags: 'wx', flush: true }));
  return { digest: digest.result(), lines };
}
