// Errors of the shuffle service. Each has a stable code; `message` is what a Spark executor sees
// in the RpcFailure / ChunkFetchFailure / StreamFailure text, so it follows Spark's own wording
// where Spark has one ("Executor is not registered (appId=…, execId=…)").
import { SparkplaneError } from '../core/errors.ts';

export type ShuffleErrorCode =
  | 'ESS_BAD_BLOCK_ID'
  | 'ESS_UNKNOWN_EXECUTOR'
  | 'ESS_FILE_MISSING'
  | 'ESS_FILE_TRUNCATED'
  | 'ESS_PATH_NOT_ALLOWED'
  | 'ESS_BAD_MESSAGE'
  | 'ESS_UNSUPPORTED'
  | 'ESS_FRAME_TOO_LARGE'
  | 'ESS_STREAM'
  | 'ESS_AUTH'
  | 'ESS_NOT_AUTHORIZED'
  | 'ESS_STATE'
  | 'ESS_CLIENT';

export class ShuffleError extends SparkplaneError {
  declare readonly code: ShuffleErrorCode;

  constructor(code: ShuffleErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The Java exception class Spark would name for this error, for failure texts executors log. */
export function javaExceptionClass(error: unknown): string {
  if (!(error instanceof ShuffleError)) return 'java.lang.RuntimeException';
  switch (error.code) {
    case 'ESS_BAD_BLOCK_ID':
    case 'ESS_BAD_MESSAGE':
      return 'java.lang.IllegalArgumentException';
    case 'ESS_FILE_MISSING':
    case 'ESS_FILE_TRUNCATED':
      return 'java.io.IOException';
    case 'ESS_NOT_AUTHORIZED':
    case 'ESS_PATH_NOT_ALLOWED':
    case 'ESS_AUTH':
      return 'java.lang.SecurityException';
    case 'ESS_UNSUPPORTED':
      return 'java.lang.UnsupportedOperationException';
    default:
      return 'java.lang.RuntimeException';
  }
}

/** The failure text sent to a Spark client: `<java class>: <message>`, as Spark's stack traces start. */
export function failureText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${javaExceptionClass(error)}: ${message}`;
}
