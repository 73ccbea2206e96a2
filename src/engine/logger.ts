import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// Keys that may carry a secret if a connection config or URL is ever passed to a log call.
const REDACTED_PATHS = ['password', '*.password', 'connectionString', '*.connectionString', 'databaseUrl'];

/**
 * Logs go to stderr (stdout is reserved for `--json`): pino JSON when stderr is not a TTY, pretty lines
 * when it is.
 */
export function createLogger(level: LogLevel, secrets: readonly string[] = []): Logger {
  const pretty = process.stderr.isTTY === true;
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: { paths: REDACTED_PATHS, censor: '***' },
    hooks: {
      // Last line of defence: a password that slipped into a message or field is scrubbed.
      streamWrite: (line) => scrubLine(line, secrets),
    },
  };
  if (pretty) {
    const transport = pino.transport({
      target: 'pino-pretty',
      options: { destination: 2, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' },
    });
    return pino(options, transport);
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

function scrubLine(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    out = out.split(secret).join('***');
    // In a JSON line a password with a quote, backslash or control character appears escaped.
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join('***');
  }
  return out;
}
