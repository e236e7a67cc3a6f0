// Where the network lab's namespaces live and how commands reach them. As root, `ip netns` on this
// machine. Otherwise (or with SPARKPLANE_LAB_MODE=rootless) a holder process made by
// `unshare -Urm --net` owns a user, mount and network namespace of its own; a private /run inside
// it lets `ip netns add` work there, and every lab command enters it with nsenter. Nothing of the
// rootless lab can outlive the holder, and the host's `ip netns list` never sees it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

export type LabMode = 'root' | 'rootless';

/** Runs lab commands: as root directly, rootless through the holder's namespaces. */
export interface LabHost {
  readonly mode: LabMode;
  /** The rootless holder's process id. */
  readonly pid?: number;
  /** The argv that runs `argv` in the lab's administrative namespaces. */
  wrap(argv: readonly string[]): string[];
  /** Ends the holder (rootless); everything inside it goes with it. */
  close(): Promise<void>;
  /** The same, synchronously, for a process that is exiting. */
  closeNow(): void;
}

const NEEDS =
  'the network lab needs root (for `ip netns`) or unprivileged user namespaces (`unshare -Urm --net`), plus iproute2 and nftables (Debian: apt-get install iproute2 nftables util-linux)';

function works(argv: readonly string[]): boolean {
  const [command = '', ...args] = argv;
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 3000 });
  return result.error === undefined && result.status === 0;
}

function requestedMode(): LabMode | undefined {
  const wanted = process.env.SPARKPLANE_LAB_MODE;
  return wanted === 'root' || wanted === 'rootless' ? wanted : undefined;
}

/** A short name no other run on this machine uses at the same time (pid plus randomness). */
export function uniquePrefix(): string {
  return `spl${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
}

let checked: { readonly mode?: LabMode; readonly missing?: string } | undefined;

/** The mode this machine allows, or why the lab cannot run here. */
export function labSupport(): { readonly mode?: LabMode; readonly missing?: string } {
  if (checked !== undefined) return checked;
  const tools = ['ip', 'nft', 'unshare', 'nsenter'].filter(
    (tool) => !works(['sh', '-c', `command -v ${tool}`]),
  );
  if (tools.length > 0) {
    checked = { missing: `${NEEDS}; missing here: ${tools.join(', ')}` };
    return checked;
  }
  const requested = requestedMode();
  const isRoot = process.getuid?.() === 0;
  if (requested !== 'rootless' && isRoot) {
    const probe = `${uniquePrefix()}-probe`;
    if (works(['ip', 'netns', 'add', probe])) {
      works(['ip', 'netns', 'del', probe]);
      checked = { mode: 'root' };
      return checked;
    }
    if (requested === 'root') {
      checked = { missing: `${NEEDS}; \`ip netns add\` fails here even as root` };
      return checked;
    }
  }
  checked = works(['unshare', '-Urm', '--net', 'true'])
    ? { mode: 'rootless' }
    : {
        missing: `${NEEDS}; ${isRoot ? '`ip netns add` and ' : ''}\`unshare -Urm --net\` fail here`,
      };
  return checked;
}

/**
 * node:test options for a lab test: skipped with what is missing, except under CI=true, where the
 * test runs and `openLabHost` fails it with the same words.
 */
export function labTestOptions(): { skip?: string } {
  const { missing } = labSupport();
  return missing === undefined || process.env.CI === 'true' ? {} : { skip: missing };
}

/** Opens the lab host in `wanted` mode, or in the mode this machine allows. */
export async function openLabHost(wanted?: LabMode): Promise<LabHost> {
  const { mode: allowed, missing } = labSupport();
  if (allowed === undefined) throw new Error(missing ?? NEEDS);
  const mode = wanted ?? allowed;
  if (mode === 'root' && process.getuid?.() !== 0)
    throw new Error(`${NEEDS}; the root lab was asked for, but this process is not root`);
  if (mode === 'root') {
    return {
      mode,
      wrap: (argv) => [...argv],
      close: () => Promise.resolve(),
      closeNow: () => undefined,
    };
  }
  return openHolder();
}

async function openHolder(): Promise<LabHost> {
  // The holder prints a line once /run is private, then waits until it is killed.
  const holder: ChildProcess = spawn(
    'unshare',
    [
      '-Urm',
      '--net',
      '--',
      'sh',
      '-c',
      // Ends by itself a second after this process, however that dies.
      `mount -t tmpfs lab-run /run && echo ready && while [ -d /proc/${String(process.pid)} ]; do sleep 1; done`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const pid = holder.pid;
  let stderr = '';
  holder.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    once(holder.stdout ?? holder, 'data').then(() => true),
    once(holder, 'exit').then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, 5000);
    }),
  ]);
  clearTimeout(timer);
  if (!ready || pid === undefined) {
    holder.kill('SIGKILL');
    throw new Error(`the rootless lab holder (unshare -Urm --net) did not start: ${stderr.trim()}`);
  }
  holder.stdout?.resume();
  const exited = once(holder, 'exit');
  const killHolder = (): void => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  };
  let closed = false;
  return {
    mode: 'rootless',
    pid,
    wrap: (argv) => [
      'nsenter',
      '-t',
      String(pid),
      '-U',
      '-m',
      '-n',
      '--preserve-credentials',
      '--',
      ...argv,
    ],
    async close() {
      if (closed) return;
      closed = true;
      killHolder();
      await exited;
    },
    closeNow() {
      if (closed) return;
      closed = true;
      killHolder();
    },
  };
}
