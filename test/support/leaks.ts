// Checks that a test left nothing running: the kinds of active resources (sockets, servers,
// timers) counted before it and after it, once everything it started has been closed.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resources that come and go with the test runner itself. */
const IGNORED = new Set(['TTYWrap', 'PipeWrap', 'FSReqCallback', 'FSReqPromise', 'Immediate']);

export type ResourceCounts = ReadonlyMap<string, number>;

export function activeResources(): ResourceCounts {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo())
    if (!IGNORED.has(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

function extra(before: ResourceCounts, now: ResourceCounts): string[] {
  const left: string[] = [];
  for (const [kind, count] of now) {
    const more = count - (before.get(kind) ?? 0);
    if (more > 0) left.push(`${String(more)} × ${kind}`);
  }
  return left;
}

/** Waits up to `withinMs` for the active resources to fall back to `before`; fails naming the rest. */
export async function assertNothingLeaked(
  before: ResourceCounts,
  what: string,
  withinMs = 3000,
): Promise<void> {
  const deadline = Date.now() + withinMs;
  let left = extra(before, activeResources());
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = extra(before, activeResources());
  }
  assert.deepEqual(left, [], `${what} left these running: ${left.join(', ')}`);
}
