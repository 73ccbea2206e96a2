import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/recoup-migrate.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON summary, when --json was given. */
  json: Record<string, any> | null;
}

/** Runs the real binary, as an operator would, with DATABASE_URL pointing at the test database. */
export async function runCli(args: readonly string[], options: { databaseUrl?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  delete env.GITHUB_STEP_SUMMARY;
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  let json: Record<string, any> | null = null;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(stdout) as Record<string, any>;
    } catch {
      json = null;
    }
  }
  return { code, signal, stdout, stderr, json };
}
