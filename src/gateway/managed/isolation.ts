// Which sessions may share a Spark Connect server the gateway runs — Kyuubi's share levels for
// Spark Connect. `shared`: every session goes to a pool of servers. `user`: each user gets servers
// of their own; `group`: each group; `connection`: each Spark session its own server (a session is
// what a Spark Connect client holds for its life, its "connection"). The user is the verified
// principal when clients authenticate, otherwise the user id the client claims — isolation by a
// claimed id separates well-behaved users, it is not a security boundary.
import { GatewayError } from '../errors.ts';

export const ISOLATION_LEVELS = ['shared', 'user', 'group', 'connection'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

export interface SessionOwner {
  readonly principal: string;
  readonly userId: string;
  readonly sessionId: string;
}

/** user → groups, from a groups file. */
export type GroupMap = ReadonlyMap<string, readonly string[]>;

/** The user a session belongs to for isolation. */
export function isolationUser(owner: SessionOwner): string {
  return owner.principal !== '' ? owner.principal : owner.userId;
}

/**
 * The key of the servers a new session may use: undefined for the shared pool. A user in no
 * group of the file is a group of their own (as Kyuubi falls back to the user name).
 */
export function isolationKey(
  level: IsolationLevel,
  owner: SessionOwner,
  groups: GroupMap,
): string | undefined {
  const user = isolationUser(owner);
  switch (level) {
    case 'shared':
      return undefined;
    case 'user':
      return `user:${user}`;
    case 'group':
      return `group:${groups.get(user)?.[0] ?? user}`;
    case 'connection':
      return `session:${user}/${owner.sessionId}`;
  }
}

/**
 * Parses a groups file: one group per line, `GROUP: USER USER…` (commas or spaces between
 * users); `#` starts a comment. A user's first group in the file is the one their servers serve.
 */
export function parseGroupsFile(text: string, file: string): GroupMap {
  const groups = new Map<string, string[]>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const match = /^([^:\s]+)\s*:\s*(.*)$/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined)
      throw new GatewayError(
        'GW_BAD_CONFIG',
        `${file}:${String(index + 1)}: expected "GROUP: USER USER…", got "${line}"`,
      );
    const group = match[1];
    for (const user of match[2].split(/[\s,]+/).filter(Boolean)) {
      const list = groups.get(user) ?? [];
      if (!list.includes(group)) list.push(group);
      groups.set(user, list);
    }
  });
  return groups;
}
