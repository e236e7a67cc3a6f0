// Watches the kernel's TCP tables for connections to the agent's ports that stay half-open
// (SYN_RECV): the SYN arrived, the agent's SYN-ACK went out and no ACK ever came back — the
// signature of a return path that drops the answers. The table reader is injected, so the same
// detector runs on /proc in production and on fed lines in tests.
import type { AddressPort, HalfOpenEntry } from './messages.ts';
import { parseTcpTable, plainAddress, type ReadTcpTables } from './proc-net-tcp.ts';

export interface HalfOpenDetectorOptions {
  readonly ports: readonly number[];
  readonly read: ReadTcpTables;
  /** A SYN_RECV older than this is reported; a healthy handshake ends within a round trip. */
  readonly thresholdMs?: number;
  readonly pollMs?: number;
  /** Entries stay listed this long after they leave SYN_RECV, for a coordinator asking late. */
  readonly keepMs?: number;
  /** Called once per connection that stayed half-open past the threshold. */
  readonly onHalfOpen: (entry: HalfOpenEntry) => void;
  readonly onReadError?: (error: unknown) => void;
  readonly now?: () => number;
}

export interface HalfOpenDetector {
  /** One look at the tables now (the timer calls this too). */
  poll(): Promise<void>;
  /** Connections that stayed half-open past the threshold, now or within the keep window. */
  entries(): HalfOpenEntry[];
  stop(): void;
}

export const HALF_OPEN_THRESHOLD_MS = 1000;
const POLL_MS = 250;
const KEEP_MS = 60_000;
/** A flood of spoofed SYNs must not grow the agent without bound. */
const MAX_TRACKED = 4096;

interface Tracked {
  readonly local: AddressPort;
  readonly remote: AddressPort;
  readonly firstSeen: number;
  lastSeen: number;
  current: boolean;
  reported: boolean;
}

export function startHalfOpenDetector(options: HalfOpenDetectorOptions): HalfOpenDetector {
  const now = options.now ?? Date.now;
  const threshold = options.thresholdMs ?? HALF_OPEN_THRESHOLD_MS;
  const keep = options.keepMs ?? KEEP_MS;
  const ports = new Set(options.ports);
  const tracked = new Map<string, Tracked>();
  let polling: Promise<void> | undefined;

  const toEntry = (item: Tracked): HalfOpenEntry => ({
    local: item.local,
    remote: item.remote,
    firstSeen: new Date(item.firstSeen).toISOString(),
    ageMs: item.lastSeen - item.firstSeen,
    current: item.current,
  });

  const look = async (): Promise<void> => {
    let text: string;
    try {
      text = await options.read();
    } catch (error) {
      options.onReadError?.(error);
      return;
    }
    const at = now();
    const seen = new Set<string>();
    for (const entry of parseTcpTable(text)) {
      if (entry.state !== 'SYN_RECV' || !ports.has(entry.local.port)) continue;
      const key = `${plainAddress(entry.local.address)}|${String(entry.local.port)}|${plainAddress(entry.remote.address)}|${String(entry.remote.port)}`;
      seen.add(key);
      const known = tracked.get(key);
      if (known === undefined) {
        if (tracked.size >= MAX_TRACKED) continue;
        tracked.set(key, {
          local: { address: plainAddress(entry.local.address), port: entry.local.port },
          remote: { address: plainAddress(entry.remote.address), port: entry.remote.port },
          firstSeen: at,
          lastSeen: at,
          current: true,
          reported: false,
        });
        continue;
      }
      known.lastSeen = at;
      known.current = true;
      if (!known.reported && at - known.firstSeen >= threshold) {
        known.reported = true;
        options.onHalfOpen(toEntry(known));
      }
    }
    for (const [key, item] of tracked) {
      if (seen.has(key)) continue;
      item.current = false;
      if (at - item.lastSeen > keep) tracked.delete(key);
    }
  };

  const poll = (): Promise<void> => {
    // One read at a time: a slow /proc never stacks up reads.
    polling ??= look().finally(() => {
      polling = undefined;
    });
    return polling;
  };
  const timer = setInterval(() => {
    void poll();
  }, options.pollMs ?? POLL_MS);
  timer.unref();

  return {
    poll,
    entries: () => [...tracked.values()].filter((item) => item.reported).map(toEntry),
    stop() {
      clearInterval(timer);
    },
  };
}
