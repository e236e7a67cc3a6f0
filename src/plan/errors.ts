// Why a plan cannot be made: the numbers given cannot hold the Spark Connect servers they ask for.
// Every such answer is a usage problem (exit 2) whose message names the number to change.
import { SparkplaneError, type ErrorDetails } from '../core/errors.ts';

export type PlanErrorCode =
  /** Driver memory is not smaller than the whole cluster. */
  | 'PLAN_DRIVER_TOO_LARGE'
  /** The servers' drivers alone need more than the cluster has. */
  | 'PLAN_DRIVERS_DO_NOT_FIT'
  /** The Connect queue would leave the other queue too little for executors. */
  | 'PLAN_QUEUE_TOO_LARGE'
  /** The queue name cannot be a YARN leaf queue next to `default`. */
  | 'PLAN_BAD_QUEUE'
  /** The output folder or a file in it cannot be written. */
  | 'PLAN_OUTPUT_UNWRITABLE'
  /** This installation lacks the deploy/ templates the plan copies. */
  | 'PLAN_TEMPLATE_MISSING';

export class PlanError extends SparkplaneError {
  declare readonly code: PlanErrorCode;

  constructor(
    code: PlanErrorCode,
    message: string,
    details: Omit<ErrorDetails, 'exitCode'> & { exitCode?: number } = {},
  ) {
    super(code, message, { ...details, exitCode: details.exitCode ?? 2 });
  }
}
