// Runs long-lived services in this process: logs and metrics wired to the diagnostics channels,
// then everything the start function returns is closed gracefully on SIGTERM or SIGINT.
import {
  createLogger,
  subscribeLogs,
  type LogFormat,
  type LogLevel,
  type Logger,
} from '../core/logging.ts';
import { handleShutdownSignals, closeAll, type Closeable } from '../core/lifecycle.ts';
import { createMetrics, type Metrics } from '../core/metrics.ts';
import type { CommandIo } from './command.ts';

export interface ServiceRuntimeConfig {
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly shutdownTimeout: number;
}

export interface ServiceContext {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export async function runServices(
  config: ServiceRuntimeConfig,
  io: CommandIo,
  start: (context: ServiceContext) => Promise<readonly Closeable[]>,
): Promise<number> {
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    isTty: io.isTty,
  });
  const stopLogs = subscribeLogs(logger);
  const metrics = createMetrics();
  const started: Closeable[] = [];
  try {
    started.push(...(await start({ logger, metrics })));
  } catch (error) {
    await closeAll(started, 'start-up failed', config.shutdownTimeout);
    stopLogs();
    metrics.close();
    throw error;
  }
  const shutdown = handleShutdownSignals(started, { deadlineMs: config.shutdownTimeout });
  const code = await shutdown.done;
  shutdown.dispose();
  logger.info({ exitCode: code }, 'stopped');
  stopLogs();
  metrics.close();
  return code;
}
