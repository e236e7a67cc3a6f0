// Errors of the gateway. Each has a stable code and maps to the gRPC status a Spark Connect client
// receives; `message` is the grpc-message text, so it says what happened and what to do.
import { SparkplaneError } from '../core/errors.ts';

export type GatewayErrorCode =
  | 'GW_BAD_REQUEST'
  | 'GW_MALFORMED_MESSAGE'
  | 'GW_MESSAGE_TOO_LARGE'
  | 'GW_NO_SESSION_ID'
  | 'GW_NO_BACKEND'
  | 'GW_BACKENDS_FULL'
  | 'GW_BACKEND_GONE'
  | 'GW_BACKEND_UNREACHABLE'
  | 'GW_LAUNCH_FAILED'
  | 'GW_UNAUTHENTICATED'
  | 'GW_PERMISSION_DENIED'
  | 'GW_UNIMPLEMENTED'
  | 'GW_CANCELLED'
  | 'GW_STORE_UNAVAILABLE'
  | 'GW_BAD_CONFIG'
  | 'GW_INTERNAL';

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

const STATUS_OF: Readonly<Record<GatewayErrorCode, GrpcStatusCode>> = {
  GW_BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  GW_MALFORMED_MESSAGE: GrpcStatus.INVALID_ARGUMENT,
  GW_MESSAGE_TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  GW_NO_SESSION_ID: GrpcStatus.INVALID_ARGUMENT,
  GW_NO_BACKEND: GrpcStatus.UNAVAILABLE,
  GW_BACKENDS_FULL: GrpcStatus.RESOURCE_EXHAUSTED,
  GW_BACKEND_GONE: GrpcStatus.UNAVAILABLE,
  GW_BACKEND_UNREACHABLE: GrpcStatus.UNAVAILABLE,
  // A server the gateway launches for a session did not start: the client may retry.
  GW_LAUNCH_FAILED: GrpcStatus.UNAVAILABLE,
  GW_UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  GW_PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  GW_UNIMPLEMENTED: GrpcStatus.UNIMPLEMENTED,
  GW_CANCELLED: GrpcStatus.CANCELLED,
  // A shared session store that cannot be reached is a passing outage: clients retry UNAVAILABLE.
  GW_STORE_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  GW_BAD_CONFIG: GrpcStatus.INTERNAL,
  GW_INTERNAL: GrpcStatus.INTERNAL,
};

export class GatewayError extends SparkplaneError {
  declare readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }

  /** The gRPC status a client receives for this error. */
  get grpcStatus(): GrpcStatusCode {
    return STATUS_OF[this.code];
  }
}
