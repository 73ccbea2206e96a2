/** Runs the real binary as a child process and reads its duration (from its summary) and peak RSS. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/recoup-migrate.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';
// How often /proc/<pid>/status is read when GNU time is absent.
const RSS_POLL_MS = 50;

export interface ChildRun {
  code: number | null;
  /** The command's own run time (finishedAt − startedAt in its summary): no Node start-up in it. */
  seconds: number;
  peakRssMb: number | null;
  summary: Record<string, any>;
}

export async function runBinary(args: readonly string[]): Promise<ChildRun> {
  const useTime = existsSync(GNU_TIME);
  const command = useTime ? GNU_TIME : process.execPath;
  const argv = useTime ? ['-v', process.execPath, BIN, ...args] : [BIN, ...args];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GITHUB_STEP_SUMMARY: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let polledKb = 0;
  const poll = useTime ? null : setInterval(() => (polledKb = Math.max(polledKb, readHighWaterKb(child.pid))), RSS_POLL_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  if (poll) clearInterval(poll);
  let summary: Record<string, any>;
  try {
    summary = JSON.parse(stdout) as Record<string, any>;
  } catch {
    throw new Error(`recoup-migrate ${args[0]} printed no JSON summary (exit ${code}): ${stderr.slice(-2000)}`);
  }
  const timeKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
  const peakKb = timeKb ? Number(timeKb) : polledKb;
  const seconds = (Date.parse(summary.finishedAt) - Date.parse(summary.startedAt)) / 1000;
  return { code, seconds, peakRssMb: peakKb > 0 ? peakKb / 1024 : null, summary };
}

function readHighWaterKb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}
