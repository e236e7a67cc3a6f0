// Errors of `sparkplane bench`. Each has a stable code and the exit code the command ends with:
// a URL or flag that cannot work is a usage error (2); an endpoint that cannot be reached means
// the benchmark could not run (3).
import { SparkplaneError } from '../core/errors.ts';

export type BenchErrorCode =
  'BENCH_BAD_URL' | 'BENCH_BAD_OPTION' | 'BENCH_UNREACHABLE' | 'BENCH_TLS_CA_UNREADABLE';

const EXIT_CODE_OF: Readonly<Record<BenchErrorCode, number>> = {
  BENCH_BAD_URL: 2,
  BENCH_BAD_OPTION: 2,
  BENCH_TLS_CA_UNREADABLE: 2,
  BENCH_UNREACHABLE: 3,
};

export class BenchError extends SparkplaneError {
  declare readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { ...options, exitCode: EXIT_CODE_OF[code] });
  }
}
