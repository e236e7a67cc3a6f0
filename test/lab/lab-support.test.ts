// The lab's own guarantees: names no other run shares; a teardown that deletes exactly what the
// lab made, also after a failed step; the rootless path (forced, and as an unprivileged user);
// and nothing left behind when the test process is killed without its teardown.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { isRunning } from '../support/process-alive.ts';
import { labSupport, labTestOptions, uniquePrefix } from './support/lab-host.ts';
import { runCommand } from './support/lab-process.ts';
import { createLab } from './support/lab.ts';
import { startLabServers } from './support/three-namespaces.ts';

const SMOKE = fileURLToPath(new URL('./support/lab-smoke.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;
/** Needs root to run (root mode, setpriv); skipped without, failed under CI=true. */
const rootOnly = (): { skip?: string } =>
  isRoot || process.env.CI === 'true'
    ? labTestOptions()
    : { skip: 'this case needs root (the ip netns path, and setpriv to become another user)' };

async function hostNamespaces(): Promise<string[]> {
  if (!isRoot) return [];
  const { stdout } = await runCommand(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Waits for a child to end, at most `ms`; a child still running then is killed and fails the test. */
async function ended(child: ChildProcess, ms = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = once(child, 'close');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await closed;
  clearTimeout(timer);
  assert.notEqual(child.signalCode, 'SIGKILL', `the child did not end within ${String(ms)} ms`);
}

interface SmokeReport {
  readonly mode: string;
  readonly prefix: string;
  readonly uid: number;
  readonly namespaces: string[];
  readonly serverPid: number;
  readonly sleeperPid: number;
  readonly holderPid: number | null;
  readonly who: { peerSeen?: string };
  readonly leftovers?: string[];
}

/** Runs lab-smoke.ts in a child process and resolves with its report and the child. */
async function smoke(argv: readonly string[]) {
  const child = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!stdout.includes('\n') && child.exitCode === null && Date.now() < deadline)
    await sleep(50);
  assert.ok(stdout.includes('\n'), `lab-smoke printed no report: ${stderr}`);
  return { report: JSON.parse(stdout.split('\n')[0] ?? '') as SmokeReport, child };
}

describe('the network lab itself', labTestOptions(), () => {
  it('names every lab after its process and randomness', () => {
    const [first, second] = [uniquePrefix(), uniquePrefix()];
    assert.notEqual(first, second);
    assert.ok(first.startsWith(`spl${process.pid.toString(36)}`), first);
  });

  it('as root: tears down exactly what it made, also after a failed step', rootOnly(), async () => {
    const lab = await createLab({ mode: 'root' });
    const bystander = `${lab.prefix}-bystander`;
    await runCommand(['ip', 'netns', 'add', bystander]);
    try {
      const client = await lab.namespace('c');
      await assert.rejects(
        lab.veth(
          { namespace: client, name: 'c0' },
          { namespace: `${lab.prefix}-absent`, name: 'x0' },
        ),
        /failed/,
      );
      const sleeper = lab.start(client, ['sleep', '60']);
      assert.ok((await hostNamespaces()).includes(client));
      await lab.teardown();
      assert.deepEqual(await lab.leftovers(), []);
      assert.equal(isRunning(sleeper.pid), false);
      const left = await hostNamespaces();
      assert.ok(left.includes(bystander), 'a namespace the lab did not make is kept');
      assert.ok(!left.includes(client), 'the namespace it made is gone');
    } finally {
      await runCommand(['ip', 'netns', 'del', bystander], { allowFailure: true });
    }
  });

  it('rootless (forced): a namespace pair the host never sees, gone with the holder', async (t) => {
    if (labSupport().mode === undefined) return;
    const lab = await createLab({ mode: 'rootless' });
    t.after(() => lab.teardown());
    const client = await lab.namespace('c');
    const server = await lab.namespace('s');
    await lab.veth(
      { namespace: client, name: 'c0', addresses: ['10.231.9.1/30'] },
      { namespace: server, name: 's0', addresses: ['10.231.9.2/30'] },
    );
    await lab.sysctl(server, { 'net.ipv4.tcp_keepalive_time': 60 });
    const sysctl = await lab.run(server, ['cat', '/proc/sys/net/ipv4/tcp_keepalive_time']);
    assert.equal(sysctl.stdout.trim(), '60');
    await lab.nft(
      server,
      'table inet probe {\n  chain input_probe {\n    type filter hook input priority 0;\n    tcp dport 7002 reject with tcp reset\n  }\n}\n',
    );
    const servers = await startLabServers(lab, server, [
      { kind: 'echo', host: '10.231.9.2', port: 7001 },
    ]);
    const script = fileURLToPath(new URL('./support/lab-client.ts', import.meta.url));
    const who = await lab.run(client, [
      process.execPath,
      script,
      JSON.stringify({ op: 'who', host: '10.231.9.2', port: 7001 }),
    ]);
    assert.match(who.stdout, /"peerSeen":"10\.231\.9\.1:/);
    const refused = await lab.run(client, [
      process.execPath,
      script,
      JSON.stringify({ op: 'connect', host: '10.231.9.2', port: 7002, timeoutMs: 2000 }),
    ]);
    assert.match(refused.stdout, /"errno":"ECONNREFUSED"/);
    assert.ok(!(await hostNamespaces()).some((name) => name.startsWith(lab.prefix)));
    await lab.teardown();
    assert.deepEqual(await lab.leftovers(), []);
    assert.equal(isRunning(servers.pid), false);
  });

  it('rootless as an unprivileged user (nobody, through setpriv)', rootOnly(), async () => {
    const { report, child } = await smoke([
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'env',
      'HOME=/tmp',
      process.execPath,
      SMOKE,
      'smoke',
    ]);
    await ended(child);
    assert.equal(report.uid, 65534);
    assert.equal(report.mode, 'rootless');
    assert.match(report.who.peerSeen ?? '', /^10\.231\.9\.1:/);
    assert.deepEqual(report.leftovers, []);
  });

  for (const mode of ['root', 'rootless'] as const) {
    it(
      `${mode}: a test process killed with SIGKILL leaves nothing behind`,
      mode === 'root' ? rootOnly() : {},
      async () => {
        const { report, child } = await smoke([process.execPath, SMOKE, 'abandon', mode]);
        assert.equal(report.namespaces.length, 2);
        if (mode === 'root')
          assert.ok((await hostNamespaces()).includes(report.namespaces[0] ?? ''));
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
        const pids = [
          report.serverPid,
          report.sleeperPid,
          ...(report.holderPid === null ? [] : [report.holderPid]),
        ];
        const deadline = Date.now() + 5000;
        const left = async (): Promise<string[]> => [
          ...pids.filter(isRunning).map((pid) => `process ${String(pid)}`),
          ...(await hostNamespaces()).filter((name) => name.startsWith(report.prefix)),
        ];
        while ((await left()).length > 0 && Date.now() < deadline) await sleep(200);
        assert.deepEqual(await left(), []);
      },
    );
  }
});
