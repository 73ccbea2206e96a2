import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

const NEWLINE = 0x0a;
// Larger than the 64 KiB default: fewer chunks (and hash calls) per file, still nothing held in memory.
const READ_CHUNK_BYTES = 1024 * 1024;

/** What a snapshot file's bytes are: sha256, size, and lines (one per row in COPY text and in JSONL). */
export interface FileDigest {
  sha256: string;
  bytes: number;
  lines: number;
}

/**
 * Digest of a byte stream, fed chunk by chunk: the same code digests the COPY stream as it is written
 * and the file when it is read back, so the two are comparable byte for byte. COPY text ends every row
 * with a newline and escapes newlines inside values (`\n`), so lines are rows.
 */
export class StreamDigest {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private lineCount = 0;

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) this.lineCount += 1;
  }

  /** Lines so far. */
  get lines(): number {
    return this.lineCount;
  }

  result(): FileDigest {
    return { sha256: this.hash.digest('hex'), bytes: this.bytes, lines: this.lineCount };
  }
}

/** Reads a file once, streamed, and digests it. */
export async function digestFile(path: string): Promise<FileDigest> {
  const digest = new StreamDigest();
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) digest.update(chunk as Buffer);
  return digest.result();
}

/** Makes a directory's entries (new files, their names) durable, as fsync of each file makes their bytes. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
