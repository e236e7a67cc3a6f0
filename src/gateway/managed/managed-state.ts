// What the gateway remembers about the Spark Connect servers it runs, so that a gateway killed
// and restarted adopts them (and their sessions) instead of orphaning them; and the ports it may
// give them.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { z } from 'zod';

const RecordSchema = z.object({
  name: z.string(),
  key: z.string().nullable(),
  host: z.string(),
  port: z.number().int(),
  pid: z.number().int(),
  logFile: z.string(),
  startedAt: z.number(),
});
const FileSchema = z.object({ version: z.literal(1), servers: z.array(RecordSchema) });

export type ManagedServerRecord = z.infer<typeof RecordSchema>;

/** The servers an earlier gateway wrote down; none when the file is missing or unreadable. */
export function readManagedState(file: string | undefined): ManagedServerRecord[] {
  if (file === undefined) return [];
  try {
    const parsed = FileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data.servers : [];
  } catch {
    return [];
  }
}

export function writeManagedState(
  file: string | undefined,
  servers: readonly ManagedServerRecord[],
): void {
  if (file === undefined) return;
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ version: 1, servers }, null, 2)}\n`, {
    mode: 0o600,
  });
  renameSync(temporary, file);
}

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/** Parses `FIRST-LAST` (or a single port). */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (match?.[1] === undefined) return undefined;
  const first = Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  if (first < 1 || last > 65535 || last < first) return undefined;
  return { first, last };
}

/** The first port of the range, not in `taken`, that `host` can bind now. */
export async function freePortInRange(
  host: string,
  range: PortRange,
  taken: ReadonlySet<number>,
): Promise<number | undefined> {
  for (let port = range.first; port <= range.last; port++)
    if (!taken.has(port) && (await canBind(host, port))) return port;
  return undefined;
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}
