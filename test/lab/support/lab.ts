// A network lab for one test file: namespaces named after a prefix no other run shares, veth
// pairs, addresses, routes, sysctls and nftables rulesets (all per namespace, so they go with
// it), and processes started inside a namespace in their own process group. `teardown` stops
// exactly the processes and deletes exactly the namespaces this lab made, also when a step
// failed half way; a process that exits without it still deletes them on the way out.
import { spawnSync } from 'node:child_process';
import { isRunning } from '../../support/process-alive.ts';
import { openLabHost, uniquePrefix, type LabHost, type LabMode } from './lab-host.ts';
import { runCommand, startProcess, type CommandResult, type LabProcess } from './lab-process.ts';
import { startWatchdog } from './watchdog.ts';

export interface RunOptions {
  /** Text for the command's stdin (e.g. an nftables ruleset for `nft -f -`). */
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Files bind-mounted over paths, for this command only (e.g. `/etc/resolv.conf`). */
  readonly files?: Readonly<Record<string, string>>;
  /** Resolve with a failed result instead of rejecting. */
  readonly allowFailure?: boolean;
}

export interface StartOptions {
  readonly files?: Readonly<Record<string, string>>;
  readonly env?: NodeJS.ProcessEnv;
}

export interface VethEnd {
  readonly namespace: string;
  readonly name: string;
  /** CIDR, e.g. 10.231.1.2/24; more than one for a second address. */
  readonly addresses?: readonly string[];
  readonly mtu?: number;
}

export interface Lab {
  readonly host: LabHost;
  readonly prefix: string;
  /** Makes namespace `<prefix>-<role>` with its loopback up and returns its name. */
  namespace(role: string): Promise<string>;
  veth(a: VethEnd, b: VethEnd): Promise<void>;
  run(namespace: string, argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  sysctl(namespace: string, settings: Readonly<Record<string, string | number>>): Promise<void>;
  /** Loads an nftables ruleset given as text into the namespace. */
  nft(namespace: string, ruleset: string): Promise<void>;
  start(namespace: string, argv: readonly string[], options?: StartOptions): LabProcess;
  /** Runs `cleanup` at teardown (or on exit without one), e.g. to remove files made for the lab. */
  defer(cleanup: () => void): void;
  /** The namespaces this lab made that still exist. */
  namespaces(): readonly string[];
  teardown(): Promise<void>;
  /** After teardown: what of this lab is still there (namespaces on the host, live processes). */
  leftovers(): Promise<string[]>;
}

export async function createLab(options: { readonly mode?: LabMode } = {}): Promise<Lab> {
  const host = await openLabHost(options.mode);
  const prefix = uniquePrefix();
  const made: string[] = [];
  const processes: LabProcess[] = [];
  const pids: number[] = [];
  /** Every namespace it ever made, for `leftovers`. */
  const created: string[] = [];
  const cleanups: (() => void)[] = [];
  const runCleanups = (): void => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  };
  let tornDown = false;
  const watchdog = startWatchdog();
  // Rootless namespaces live in the holder's mount namespace: nothing on the host to delete.
  const remember = (): void => {
    watchdog.record(host.mode === 'root' ? made : [], pids);
  };

  const admin = (argv: readonly string[], options?: RunOptions): Promise<CommandResult> =>
    runCommand(host.wrap(argv), options);
  const inNamespace = (namespace: string, argv: readonly string[], files = {}): string[] =>
    host.wrap(['ip', 'netns', 'exec', namespace, ...withFiles(files, argv)]);

  const deleteNow = (): void => {
    for (const started of processes) started.killNow();
    for (const namespace of made.splice(0).reverse()) {
      const [command = 'ip', ...args] = host.wrap(['ip', 'netns', 'del', namespace]);
      spawnSync(command, args, { stdio: 'ignore', timeout: 3000 });
    }
    watchdog.stop();
    host.closeNow();
    runCleanups();
  };
  process.once('exit', deleteNow);

  const lab: Lab = {
    host,
    prefix,
    async namespace(role) {
      const name = `${prefix}-${role}`;
      await admin(['ip', 'netns', 'add', name]);
      made.push(name);
      created.push(name);
      remember();
      await lab.run(name, ['ip', 'link', 'set', 'lo', 'up']);
      return name;
    },
    async veth(a, b) {
      // Both ends are made inside their namespaces: the names never exist on the host.
      await admin([
        'ip',
        'link',
        'add',
        a.name,
        'netns',
        a.namespace,
        'type',
        'veth',
        'peer',
        'name',
        b.name,
        'netns',
        b.namespace,
      ]);
      for (const end of [a, b]) {
        if (end.mtu !== undefined)
          await lab.run(end.namespace, ['ip', 'link', 'set', end.name, 'mtu', String(end.mtu)]);
        for (const address of end.addresses ?? [])
          await lab.run(end.namespace, ['ip', 'addr', 'add', address, 'dev', end.name]);
        await lab.run(end.namespace, ['ip', 'link', 'set', end.name, 'up']);
      }
    },
    run(namespace, argv, options = {}) {
      return runCommand(inNamespace(namespace, argv, options.files), options);
    },
    async sysctl(namespace, settings) {
      const pairs = Object.entries(settings).map(([key, value]) => `${key}=${String(value)}`);
      await lab.run(namespace, ['sysctl', '-q', '-w', ...pairs]);
    },
    async nft(namespace, ruleset) {
      await lab.run(namespace, ['nft', '-f', '-'], { input: ruleset });
    },
    start(namespace, argv, options = {}) {
      const started = startProcess(inNamespace(namespace, argv, options.files), options.env);
      processes.push(started);
      pids.push(started.pid);
      remember();
      return started;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
    namespaces: () => [...made],
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      process.removeListener('exit', deleteNow);
      const problems: string[] = [];
      await Promise.all(processes.splice(0).map((started) => started.stop()));
      for (const namespace of made.splice(0).reverse()) {
        const result = await admin(['ip', 'netns', 'del', namespace], { allowFailure: true });
        if (result.code !== 0) problems.push(`${namespace}: ${result.stderr.trim()}`);
      }
      watchdog.stop();
      await host.close();
      runCleanups();
      if (problems.length > 0)
        throw new Error(`the lab could not delete its namespaces: ${problems.join('; ')}`);
    },
    async leftovers() {
      const left = [...pids, ...(host.pid === undefined ? [] : [host.pid])]
        .filter(isRunning)
        .map((pid) => `process ${String(pid)}`);
      if (host.mode === 'root') {
        const listed = await runCommand(['ip', 'netns', 'list']);
        const names = new Set(listed.stdout.split('\n').map((line) => line.split(' ')[0]));
        for (const name of created) if (names.has(name)) left.push(`namespace ${name}`);
      }
      return left;
    },
  };
  return lab;
}

/** Wraps argv so the given files are bind-mounted over their paths first (a private mount). */
function withFiles(files: Readonly<Record<string, string>>, argv: readonly string[]): string[] {
  const pairs = Object.entries(files);
  if (pairs.length === 0) return [...argv];
  const script =
    'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; exec "$@"';
  return [
    'sh',
    '-c',
    script,
    'lab-files',
    ...pairs.flatMap(([target, source]) => [source, target]),
    '--',
    ...argv,
  ];
}
