import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number): void;
  increment(by: number, note?: string): void;
  stop(): void;
}

const SILENT: Progress = { start() {}, increment() {}, stop() {} };

/**
 * A progress bar with rate and ETA on stderr, only on a TTY and unless --no-progress: a bar in a CI
 * log is noise, and stdout belongs to --json.
 */
export function createProgress(label: string, enabled: boolean): Progress {
  if (!enabled || process.stderr.isTTY !== true) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} rooms | {rate} rooms/s | ETA {eta_formatted} {note}`,
      etaBuffer: 50,
      fps: 5,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = 0;
  let done = 0;
  return {
    start(total) {
      startedAt = Date.now();
      bar.start(total, 0, { rate: '0', note: '' });
    },
    increment(by, note = '') {
      done += by;
      const seconds = (Date.now() - startedAt) / 1000;
      bar.increment(by, { rate: seconds > 0 ? (done / seconds).toFixed(0) : '0', note });
    },
    stop() {
      bar.stop();
    },
  };
}
