// Structured logs: JSON lines by default, readable text when stderr is a terminal. Library code
// never logs directly; it publishes on diagnostics channels and subscribeLogs() turns those
// events into log lines here, in one place.
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { PinoPretty as PinoPrettyFactory } from 'pino-pretty';
import { channels } from './diagnostics.ts';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go; stderr by default so command output on stdout stays clean. */
  readonly destination?: DestinationStream;
  /** Whether the destination is a terminal (decides `auto`); stderr's TTY state by default. */
  readonly isTty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const isTty = options.isTty ?? process.stderr.isTTY;
  const pretty = options.format === 'pretty' || (options.format === 'auto' && isTty);
  const base = { name: 'sparkplane' };
  if (pretty) {
    const colorize = isTty && process.env.NO_COLOR === undefined;
    // Loaded only for terminals: services log JSON and need not carry the formatter.
    const { PinoPretty } = createRequire(import.meta.url)('pino-pretty') as {
      PinoPretty: typeof PinoPrettyFactory;
    };
    const stream = PinoPretty({
      colorize,
      destination: options.destination ?? 2,
      sync: true,
      ignore: 'pid,hostname,name',
      translateTime: 'SYS:HH:MM:ss.l',
    });
    return pino({ level: options.level, base }, stream);
  }
  return pino(
    { level: options.level, base, timestamp: pino.stdTimeFunctions.isoTime },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** Writes the events of every component to `logger`; returns the function that stops it. */
export function subscribeLogs(logger: Logger): () => void {
  const stops = [
    channels.serviceListening.subscribe((event) => {
      logger.info(event, `${event.service} listening on ${event.address}:${event.port}`);
    }),
    channels.serviceClosing.subscribe((event) => {
      logger.info(event, `${event.service} closing: ${event.reason}`);
    }),
    channels.serviceClosed.subscribe((event) => {
      const how = event.drained ? 'drained' : 'deadline passed, open work cut off';
      const log = event.drained ? logger.info.bind(logger) : logger.warn.bind(logger);
      log(event, `${event.service} closed (${how}) in ${Math.round(event.durationMs)} ms`);
    }),
    channels.adminRequest.subscribe((event) => {
      logger.debug(event, `admin ${event.method} ${event.route} ${event.status}`);
    }),
    channels.warning.subscribe((event) => {
      logger.warn(event.detail ?? {}, event.message);
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
