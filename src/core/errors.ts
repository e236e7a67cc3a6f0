// The error family every sparkplane component builds on: a stable `code` a program can test,
// a message a person can act on (what happened, to what, what to do), and the original cause.

export interface ErrorDetails {
  readonly cause?: unknown;
  /** Process exit code when this error ends a command. */
  readonly exitCode?: number;
}

export class SparkplaneError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = details.exitCode ?? 1;
  }
}

/** A command line that cannot be understood: unknown flag, missing argument, bad value. */
export class UsageError extends SparkplaneError {
  constructor(message: string, details: Omit<ErrorDetails, 'exitCode'> = {}) {
    super('USAGE', message, { ...details, exitCode: 2 });
  }
}

/** A configuration (file, environment or flags) that does not pass its schema. */
export class ConfigError extends SparkplaneError {
  constructor(
    code: 'CONFIG_INVALID' | 'CONFIG_UNREADABLE',
    message: string,
    details: Omit<ErrorDetails, 'exitCode'> = {},
  ) {
    super(code, message, { ...details, exitCode: 2 });
  }
}

export function isSparkplaneError(error: unknown): error is SparkplaneError {
  return error instanceof SparkplaneError;
}
