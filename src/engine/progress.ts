import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number): void;
  increment(by: number): void;
  /** Shows why the run is paused (the throttle), or clears it with null. */
  pause(reason: string | null): void;
  stop(): void;
}

const SILENT: Progress = { start() {}, increment() {}, pause() {}, stop() {} };

/**
 * A progress bar with rate and ETA on stderr, only on a TTY and unless --no-progress: a bar in a CI
 * log is noise, and stdout belongs to --json.
 */
/** `unit`: what the run counts (rooms, messages), as the bar and its rate show it. */
export function createProgress(label: string, enabled: boolean, unit: 'rooms' | 'messages'): Progress {
  if (!enabled || process.stderr.isTTY !== true) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} {note}`,
      etaBuffer: 50,
      fps: 5,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = 0;
  let done = 0;
  let note = '';
  const increment = (by: number) => {
    done += by;
    const seconds = (Date.now() - startedAt) / 1000;
    bar.increment(by, { rate: seconds > 0 ? (done / seconds).toFixed(0) : '0', note });
  };
  return {
    start(total) {
      startedAt = Date.now();
      bar.start(total, 0, { rate: '0', note: '' });
    },
    increment,
    pause(reason) {
      note = reason ? `paused: ${reason}` : '';
      if (reason) increment(0);
    },
    stop() {
      bar.stop();
    },
  };
}
