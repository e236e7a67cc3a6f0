// The route layer read from `ip route get` outputs captured on Linux (iproute2 6.1, kernel 6.18)
// in a network namespace holding each kind of route, and the check each becomes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBudget } from '../../../../src/doctor/probes/budget.ts';
import {
  parseRouteError,
  parseRouteGet,
  probeRoute,
  routeGetArgs,
  type IpAnswer,
  type RunIp,
} from '../../../../src/doctor/probes/route.ts';
import type { Target } from '../../../../src/doctor/targets.ts';

const CAPTURED = {
  loopback: 'local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n',
  ownAddress: 'local 10.77.1.2 dev lo src 10.77.1.2 uid 0 \n    cache <local> \n',
  onLink: '10.77.1.9 dev v0 src 10.77.1.2 uid 0 \n    cache \n',
  viaGateway: '10.78.3.4 via 10.77.1.1 dev v0 src 10.77.1.2 uid 0 \n    cache \n',
  cachedMtu: '10.83.0.1 via 10.77.1.1 dev v0 src 10.77.1.2 uid 0 \n    cache mtu 1280 \n',
  // In the lab's client namespace, after an echo through a 1280-byte hop with ICMP let through.
  learnedMtu:
    '10.231.2.3 via 10.231.1.1 dev c0 src 10.231.1.2 uid 0 \n    cache expires 599sec mtu 1280 \n',
  ipv6OnLink: 'fd00:77::9 from :: dev v0 proto kernel src fd00:77::2 metric 256 pref medium\n',
  ipv6Gateway: 'fd00:78::5 from :: via fd00:77::1 dev v0 src fd00:77::2 metric 1024 pref medium\n',
  ipv6Loopback: 'local ::1 from :: dev lo table local proto kernel src ::1 metric 0 pref medium\n',
  ipv6NextHopForIpv4: '10.9.0.1 via inet6 fe80::1 dev v0 src 10.77.1.2 uid 0 \n    cache \n',
} as const;

const ERRORS = {
  noRoute: 'RTNETLINK answers: Network is unreachable\n',
  unreachable: 'RTNETLINK answers: No route to host\n',
  prohibit: 'RTNETLINK answers: Permission denied\n',
  blackhole: 'RTNETLINK answers: Invalid argument\n',
} as const;

describe('parseRouteGet', () => {
  it('reads a route through a gateway', () => {
    assert.deepEqual(parseRouteGet(CAPTURED.viaGateway), {
      type: 'unicast',
      destination: '10.78.3.4',
      gateway: '10.77.1.1',
      device: 'v0',
      source: '10.77.1.2',
    });
  });

  it('reads an on-link route, without a gateway', () => {
    const route = parseRouteGet(CAPTURED.onLink);
    assert.equal(route?.gateway, undefined);
    assert.equal(route?.device, 'v0');
  });

  it('reads local addresses as type local', () => {
    assert.deepEqual(parseRouteGet(CAPTURED.loopback), {
      type: 'local',
      destination: '127.0.0.1',
      device: 'lo',
      source: '127.0.0.1',
    });
    assert.equal(parseRouteGet(CAPTURED.ownAddress)?.type, 'local');
    assert.equal(parseRouteGet(CAPTURED.ipv6Loopback)?.table, 'local');
  });

  it("reads the cache line's MTU, with or without an expiry", () => {
    assert.equal(parseRouteGet(CAPTURED.cachedMtu)?.mtu, 1280);
    assert.equal(parseRouteGet(CAPTURED.learnedMtu)?.mtu, 1280);
    assert.equal(parseRouteGet(CAPTURED.viaGateway)?.mtu, undefined);
  });

  it('reads IPv6 routes (with their `from ::`) and an IPv6 next hop for IPv4', () => {
    assert.deepEqual(parseRouteGet(CAPTURED.ipv6Gateway), {
      type: 'unicast',
      destination: 'fd00:78::5',
      gateway: 'fd00:77::1',
      device: 'v0',
      source: 'fd00:77::2',
    });
    assert.equal(parseRouteGet(CAPTURED.ipv6OnLink)?.gateway, undefined);
    assert.equal(parseRouteGet(CAPTURED.ipv6NextHopForIpv4)?.gateway, 'fe80::1');
  });

  it('gives nothing for output that is not a route', () => {
    assert.equal(parseRouteGet(''), undefined);
    assert.equal(parseRouteGet('Usage: ip route { list | flush } SELECTOR\n'), undefined);
  });
});

describe('parseRouteError', () => {
  it('tells no route from unreachable, prohibit and blackhole routes', () => {
    assert.deepEqual(parseRouteError(ERRORS.noRoute), {
      routeType: 'none',
      errno: 'ENETUNREACH',
      message: 'Network is unreachable',
    });
    assert.equal(parseRouteError(ERRORS.unreachable)?.routeType, 'unreachable');
    assert.equal(parseRouteError(ERRORS.prohibit)?.routeType, 'prohibit');
    assert.equal(parseRouteError(ERRORS.blackhole)?.routeType, 'blackhole');
  });

  it('gives nothing for other errors', () => {
    assert.equal(
      parseRouteError('Error: any valid prefix is expected rather than "x".\n'),
      undefined,
    );
    assert.equal(parseRouteError(''), undefined);
  });
});

describe('probeRoute', () => {
  const target: Target = { host: 'shuffle.internal', port: 7337, service: 'spark-shuffle' };
  const budget = () => createBudget(Date.now() + 2000);
  const answering =
    (answer: IpAnswer, seen: string[][] = []): RunIp =>
    (args) => {
      seen.push([...args]);
      return Promise.resolve(answer);
    };

  it('passes with the device, source and gateway as evidence', async () => {
    const seen: string[][] = [];
    const check = await probeRoute(
      target,
      '10.231.2.3',
      budget(),
      answering({ ran: true, code: 0, stdout: CAPTURED.learnedMtu, stderr: '' }, seen),
      'linux',
    );
    assert.deepEqual(seen, [['route', 'get', '10.231.2.3']]);
    assert.equal(check.layer, 'route');
    assert.equal(check.status, 'pass');
    assert.equal(check.reason, 'routed');
    assert.equal(check.evidence.device, 'c0');
    assert.equal(check.evidence.sourceAddress, '10.231.1.2');
    assert.equal(check.evidence.gateway, '10.231.1.1');
    assert.equal(check.evidence.pathMtu, 1280);
    assert.match(check.summary, /via 10\.231\.1\.1 out of c0 from 10\.231\.1\.2/);
    assert.equal(check.fix, undefined);
  });

  for (const [kind, stderr, words] of [
    ['none', ERRORS.noRoute, /no route to it/],
    ['unreachable', ERRORS.unreachable, /"unreachable" route/],
    ['prohibit', ERRORS.prohibit, /"prohibit" route/],
    ['blackhole', ERRORS.blackhole, /"blackhole" route/],
  ] as const) {
    it(`fails as no-route, naming a ${kind} route, with a fix`, async () => {
      const check = await probeRoute(
        target,
        '10.231.2.2',
        budget(),
        answering({ ran: true, code: 2, stdout: '', stderr }),
        'linux',
      );
      assert.equal(check.status, 'fail');
      assert.equal(check.reason, 'no-route');
      assert.equal(check.evidence.routeType, kind);
      assert.match(check.summary, words);
      assert.ok(check.fix !== undefined && check.fix.summary.length > 20);
    });
  }

  it('skips, saying what to install, without `ip`', async () => {
    const check = await probeRoute(
      target,
      '10.0.0.1',
      budget(),
      answering({ ran: false, why: '`ip` (iproute2) is not installed here; install iproute2' }),
      'linux',
    );
    assert.equal(check.status, 'skip');
    assert.equal(check.reason, 'not-checked');
    assert.match(check.summary, /install iproute2/);
  });

  it('skips off Linux, and when `ip` fails in a way it does not know', async () => {
    const never: RunIp = () => Promise.reject(new Error('must not run'));
    const darwin = await probeRoute(target, '10.0.0.1', budget(), never, 'darwin');
    assert.equal(darwin.status, 'skip');
    assert.match(darwin.summary, /darwin/);
    const odd = await probeRoute(
      target,
      '10.0.0.1',
      budget(),
      answering({ ran: true, code: 1, stdout: '', stderr: 'Error: something new\n' }),
      'linux',
    );
    assert.equal(odd.status, 'skip');
    assert.match(odd.summary, /something new/);
  });

  it('skips when the budget ends before `ip` answers', async () => {
    const slow: RunIp = () => new Promise(() => undefined);
    const check = await probeRoute(
      target,
      '10.0.0.1',
      createBudget(Date.now() + 30),
      slow,
      'linux',
    );
    assert.equal(check.status, 'skip');
    assert.match(check.summary, /time budget ended/);
  });

  it('names the device of a scoped IPv6 link-local address', () => {
    assert.deepEqual(routeGetArgs('fe80::1%eth0'), ['route', 'get', 'fe80::1', 'oif', 'eth0']);
    assert.deepEqual(routeGetArgs('::1'), ['route', 'get', '::1']);
  });
});
