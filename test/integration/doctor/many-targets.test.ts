// Sixteen hosts (127.0.0.1–16) × the nine ports of the spark profile, all probed at once under
// one deadline, against closed ports, silent servers and black holes: every probe must settle by
// the deadline (plus a second of slack) with a check for every layer. The black hole is real: a
// child process listens with a backlog of 1 and never accepts, so once its queue is full the
// kernel drops further connection requests, as a firewall DROP rule does.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAYERS, REASONS, STATUSES, type Check } from '../../../src/doctor/model.ts';
import { probeTarget } from '../../../src/doctor/probe-target.ts';
import { SPARK_PROFILE, type Target } from '../../../src/doctor/targets.ts';
import { activeResources, assertNothingLeaked } from '../../support/leaks.ts';

const HOSTS = Array.from({ length: 16 }, (_, index) => `127.0.0.${String(index + 1)}`);
const BUDGET_MS = 2500;

/** Listens on every host with a backlog of 1, prints the ports, then blocks: nothing is accepted. */
const BLACK_HOLE = `
const net = require('node:net');
const hosts = ${JSON.stringify(HOSTS)};
const ports = {};
let left = hosts.length;
for (const host of hosts) {
  const server = net.createServer();
  server.listen({ host, port: 0, backlog: 1 }, () => {
    ports[host] = server.address().port;
    if (--left === 0) {
      process.stdout.write(JSON.stringify(ports) + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    }
  });
}
`;

type Kind = 'black-hole' | 'closed' | 'silent';

/** What answers on each port of the profile, in its order. */
const KINDS: readonly Kind[] = [
  'black-hole',
  'closed',
  'silent',
  'closed',
  'black-hole',
  'silent',
  'black-hole',
  'closed',
  'silent',
];

async function closedPort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('many targets under one deadline', () => {
  const baseline = activeResources();
  let child: ChildProcess;
  const fillers: Socket[] = [];
  const silent: Server[] = [];
  const held = new Set<Socket>();
  const portsOf = new Map<string, Record<Kind, number>>();

  before(async () => {
    child = spawn(process.execPath, ['-e', BLACK_HOLE], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout ?? child, 'data')) as [Buffer];
    const blackHoles = JSON.parse(line.toString()) as Record<string, number>;
    for (const host of HOSTS) {
      const server = createServer((socket) => {
        held.add(socket);
        socket.on('close', () => held.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, host, resolve));
      silent.push(server);
      portsOf.set(host, {
        'black-hole': blackHoles[host] ?? 0,
        closed: await closedPort(host),
        silent: (server.address() as AddressInfo).port,
      });
      // Fill the accept queue (backlog 1 holds two); later connection requests are dropped.
      for (let filler = 0; filler < 2; filler++) {
        const socket = connect({ host, port: blackHoles[host] ?? 0 });
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        fillers.push(socket);
      }
    }
  });

  after(async () => {
    for (const socket of fillers) socket.destroy();
    for (const socket of held) socket.destroy();
    await Promise.all(silent.map((server) => new Promise((resolve) => server.close(resolve))));
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    await assertNothingLeaked(baseline, 'many-target probing');
  });

  it('settles 144 probes by the deadline with every layer reported', async () => {
    const targets: (Target & { kind: Kind })[] = HOSTS.flatMap((host) =>
      SPARK_PROFILE.map(({ service }, index) => {
        const kind = KINDS[index] ?? 'closed';
        return { host, port: portsOf.get(host)?.[kind] ?? 0, service, kind };
      }),
    );
    const deadline = Date.now() + BUDGET_MS;
    const settled = new Array<Check[] | undefined>(targets.length);
    const probes = targets.map((target, index) =>
      probeTarget(target, { deadline }).then((checks) => {
        settled[index] = checks;
      }),
    );
    // Wait no longer than the deadline and a second of slack, then look at what settled.
    await Promise.race([Promise.all(probes), sleep(deadline + 1000 - Date.now())]);
    const late = targets.filter((_, index) => settled[index] === undefined);
    assert.deepEqual(
      late.map((target) => `${target.host}:${String(target.port)}`),
      [],
      'probes still running after the deadline',
    );

    const expected = { 'black-hole': 'filtered', closed: 'refused', silent: 'open' } as const;
    targets.forEach((target, index) => {
      const checks = settled[index] ?? [];
      const layers = checks.map((check) => check.layer);
      assert.deepEqual(
        layers,
        ['dns', 'route', 'transport', 'tls', 'protocol'],
        `${target.host}:${String(target.port)}`,
      );
      for (const check of checks) {
        assert.ok(LAYERS.includes(check.layer));
        assert.ok(STATUSES.includes(check.status));
        assert.ok(REASONS.includes(check.reason));
        assert.deepEqual(check.target, {
          host: target.host,
          port: target.port,
          service: target.service,
        });
        if (check.status === 'warn' || check.status === 'fail')
          assert.ok(check.fix !== undefined, `${check.id} ${check.reason} has a fix`);
      }
      const transport = checks[2];
      assert.equal(transport?.reason, expected[target.kind], transport?.summary);
      if (target.kind === 'silent') {
        // Nothing ever answers: TLS is ruled out by silence, the protocol probe runs out of time.
        assert.ok(['plaintext', 'timeout'].includes(checks[3]?.reason ?? ''), checks[3]?.summary);
        assert.ok(['no-answer', 'timeout'].includes(checks[4]?.reason ?? ''), checks[4]?.summary);
      } else {
        assert.equal(checks[3]?.status, 'skip');
        assert.equal(checks[4]?.status, 'skip');
      }
    });
    // Let the last sockets' close events run before the leak check.
    await Promise.all(probes);
  });
});
