// The arithmetic of a Spark Connect deployment on YARN: how many Spark Connect servers, and what
// share of the cluster the queue they run in gets. Pure numbers in, numbers out; the reasons for
// each rule are printed by reasoning.ts and written down in docs/plan.md.
import { formatSize } from '../core/units.ts';
import { PlanError } from './errors.ts';

export interface PlanInput {
  readonly concurrentUsers: number;
  readonly usersPerServer: number;
  /** Bytes of one Spark Connect server's driver (spark.driver.memory). */
  readonly driverMemory: number;
  /** Bytes of memory YARN can hand out across the whole cluster. */
  readonly clusterMemory: number;
  /** The YARN leaf queue the Spark Connect servers are submitted to. */
  readonly queue: string;
}

export interface QueueShare {
  readonly name: string;
  /** Guaranteed share of the cluster, whole percent. */
  readonly capacity: number;
  /** Share the queue may grow into while the other queue is idle, whole percent. */
  readonly maximumCapacity: number;
}

export interface QueuePlan extends QueueShare {
  readonly maximumApplications: number;
  readonly userLimitFactor: number;
}

export interface Plan {
  readonly input: PlanInput;
  readonly servers: number;
  /** servers × driver memory. */
  readonly driversMemory: number;
  /** What the drivers' JVMs take on the host that starts the servers (heap plus overhead). */
  readonly driverHostMemory: number;
  /** driversMemory / clusterMemory, in percent, unrounded. */
  readonly neededPercent: number;
  readonly connectQueue: QueuePlan;
  /** YARN's `default` queue: what the Connect queue leaves, for every other application. */
  readonly defaultQueue: QueueShare;
}

/** The EMR guide's minimum: one server can fail or restart while two still serve. */
export const MIN_SERVERS = 3;
/** Guaranteed capacity is twice the drivers' share (see docs/plan.md, "Queue capacity"). */
export const HEADROOM_FACTOR = 2;
/** The guide's value for its example, the middle of the 25–35 % it recommends. */
export const MIN_QUEUE_PERCENT = 30;
/** maximum-capacity sits this many points above capacity, as the guide's 30 → 40. */
export const BURST_PERCENT = 10;
/** The default queue keeps at least this much for everything that is not Spark Connect. */
export const MIN_DEFAULT_PERCENT = 10;
/** Spark's default memory overhead of a driver: max(384 MiB, 10 % of its memory). */
export const OVERHEAD_FACTOR = 0.1;
export const MIN_OVERHEAD_BYTES = 384 * 1024 ** 2;

const EPSILON = 1e-9;

export function serverCount(concurrentUsers: number, usersPerServer: number): number {
  return Math.max(MIN_SERVERS, Math.ceil(concurrentUsers / usersPerServer));
}

/** The EMR guide's formula: drivers × driver memory / cluster memory, in percent. */
export function neededPercent(
  drivers: number,
  driverMemory: number,
  clusterMemory: number,
): number {
  return ((drivers * driverMemory) / clusterMemory) * 100;
}

/** max(30 %, 2 × needed) rounded up to a whole percent; float noise never adds a point. */
export function queueCapacity(needed: number): number {
  return Math.max(MIN_QUEUE_PERCENT, Math.ceil(HEADROOM_FACTOR * needed - EPSILON));
}

export function maximumCapacity(capacity: number): number {
  return Math.min(100, capacity + BURST_PERCENT);
}

/**
 * Every server is submitted by the same service user; with YARN's default factor of 1 that one
 * user would stop at capacity and never use maximum-capacity. Rounded up to a tenth.
 */
export function userLimitFactor(capacity: number, maximum: number): number {
  return Math.max(1, Math.ceil((maximum / capacity) * 10 - EPSILON) / 10);
}

export function driverOverhead(driverMemory: number): number {
  return Math.max(MIN_OVERHEAD_BYTES, Math.round(driverMemory * OVERHEAD_FACTOR));
}

const QUEUE_NAME = /^[A-Za-z0-9_-]+$/;

export function planDeployment(input: PlanInput): Plan {
  if (!QUEUE_NAME.test(input.queue) || input.queue === 'default')
    throw new PlanError(
      'PLAN_BAD_QUEUE',
      `queue "${input.queue}" cannot be the Spark Connect queue: it sits next to YARN's "default" queue under root, so give another name of letters, digits, - or _ (--queue, e.g. sparkconnect)`,
    );
  const driver = formatSize(input.driverMemory);
  const cluster = formatSize(input.clusterMemory);
  if (input.driverMemory >= input.clusterMemory)
    throw new PlanError(
      'PLAN_DRIVER_TOO_LARGE',
      `driver memory ${driver} is not smaller than the cluster's ${cluster}: give the cluster's total memory in --cluster-memory (e.g. 10 nodes × 64g = 640g) or a smaller --driver-memory`,
    );
  const servers = serverCount(input.concurrentUsers, input.usersPerServer);
  const needed = neededPercent(servers, input.driverMemory, input.clusterMemory);
  const driversMemory = servers * input.driverMemory;
  if (needed > 100)
    throw new PlanError(
      'PLAN_DRIVERS_DO_NOT_FIT',
      `${String(servers)} Spark Connect servers × ${driver} drivers need ${formatSize(driversMemory)}, more than the cluster's ${cluster}: raise --users-per-server (now ${String(input.usersPerServer)}), lower --driver-memory, or add cluster memory`,
    );
  const capacity = queueCapacity(needed);
  if (capacity > 100 - MIN_DEFAULT_PERCENT)
    throw new PlanError(
      'PLAN_QUEUE_TOO_LARGE',
      `the queue "${input.queue}" would need ${String(capacity)} % of the cluster (2 × ${String(Number(needed.toFixed(2)))} % for ${String(servers)} servers × ${driver}), leaving the default queue less than ${String(MIN_DEFAULT_PERCENT)} % for executors: raise --users-per-server (now ${String(input.usersPerServer)}), lower --driver-memory, or add cluster memory`,
    );
  const maximum = maximumCapacity(capacity);
  return {
    input,
    servers,
    driversMemory,
    driverHostMemory: servers * (input.driverMemory + driverOverhead(input.driverMemory)),
    neededPercent: needed,
    connectQueue: {
      name: input.queue,
      capacity,
      maximumCapacity: maximum,
      // One application per server, and a restarted server's new one before the old has ended.
      maximumApplications: 2 * servers,
      userLimitFactor: userLimitFactor(capacity, maximum),
    },
    defaultQueue: {
      name: 'default',
      capacity: 100 - capacity,
      maximumCapacity: 100,
    },
  };
}
