// Client addresses whose connections carried sessions of more than one Spark Connect server. A
// pinned connection relays to one server, so such a client is told to reconnect and its next
// connections are terminated and routed call by call for a while.

export interface MixedClients {
  flag(address: string): void;
  has(address: string): boolean;
  readonly size: number;
}

export function createMixedClients(options: { ttlMs: number; maxEntries: number }): MixedClients {
  const until = new Map<string, number>();
  return {
    get size() {
      return until.size;
    },
    flag(address) {
      until.delete(address);
      until.set(address, Date.now() + options.ttlMs);
      // Oldest first: a Map keeps insertion order, and a re-flag moved the address to the end.
      while (until.size > options.maxEntries) {
        const oldest = until.keys().next().value;
        if (oldest === undefined) break;
        until.delete(oldest);
      }
    },
    has(address) {
      const expiry = until.get(address);
      if (expiry === undefined) return false;
      if (expiry > Date.now()) return true;
      until.delete(address);
      return false;
    },
  };
}
