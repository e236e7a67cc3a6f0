// The plan input of the EMR guide's example (20 concurrent users, 5 per server, 4 GiB drivers on a
// 640 GiB cluster), which the plan tests start from and vary one field at a time.
import type { PlanInput } from '../../../src/plan/sizing.ts';

export const GIB = 1024 ** 3;

export function emrExample(overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    concurrentUsers: 20,
    usersPerServer: 5,
    driverMemory: 4 * GIB,
    clusterMemory: 640 * GIB,
    queue: 'sparkconnect',
    ...overrides,
  };
}
