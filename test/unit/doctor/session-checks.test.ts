// The keepalive check: tcp_keepalive_time against the NAT idle timers (AWS 350 s, Azure 240 s,
// GCP 1200 s), and the reader of /proc/sys/net/ipv4/tcp_keepalive_*.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSparkplaneError } from '../../../src/core/errors.ts';
import {
  checkKeepaliveSysctls,
  checkLocalKeepalive,
  natTimersExpiringBefore,
  readKeepaliveSysctls,
} from '../../../src/doctor/session-checks.ts';

const CLOUD_TIMERS = { awsNatGatewayIdleS: 350, azureNatGatewayIdleS: 240, gcpCloudNatIdleS: 1200 };

describe('checkKeepaliveSysctls', () => {
  it('passes a keepalive time below every NAT idle timer, naming the timers', () => {
    const check = checkKeepaliveSysctls({ time: 120, intvl: 30, probes: 5 });
    assert.equal(check.status, 'pass');
    assert.equal(check.reason, 'keepalive-ok');
    assert.equal(check.layer, 'session');
    assert.equal(check.id, 'session.keepalive-sysctls');
    assert.deepEqual(check.target, { host: '', port: 0, service: 'tcp' });
    assert.equal(check.fix, undefined);
    assert.deepEqual(
      {
        awsNatGatewayIdleS: check.evidence.awsNatGatewayIdleS,
        azureNatGatewayIdleS: check.evidence.azureNatGatewayIdleS,
        gcpCloudNatIdleS: check.evidence.gcpCloudNatIdleS,
      },
      CLOUD_TIMERS,
    );
    assert.equal(check.evidence.deadPeerNoticedAfterS, 120 + 30 * 5);
  });

  it('warns at the Linux default, with the sysctl and pod fixes', () => {
    const check = checkKeepaliveSysctls({ time: 7200, intvl: 75, probes: 9 });
    assert.equal(check.status, 'warn');
    assert.equal(check.reason, 'keepalive-missing');
    assert.equal(
      check.evidence.expiresFirst,
      'Azure NAT gateway (240 s), AWS NAT gateway (350 s), GCP Cloud NAT (1200 s)',
    );
    const sysctl = check.fix?.snippets?.find((snippet) => snippet.platform === 'sysctl');
    assert.match(sysctl?.text ?? '', /sysctl -w net\.ipv4\.tcp_keepalive_time=120 /);
    assert.match(sysctl?.text ?? '', /\/etc\/sysctl\.d\//);
    const pod = check.fix?.snippets?.find((snippet) => snippet.platform === 'k8s-yaml');
    assert.match(pod?.text ?? '', /name: net\.ipv4\.tcp_keepalive_time\n\s+value: "120"/);
  });

  it('warns at exactly 240 s: the probe and Azure’s expiry would race', () => {
    assert.equal(checkKeepaliveSysctls({ time: 239, intvl: 30, probes: 5 }).status, 'pass');
    const check = checkKeepaliveSysctls({ time: 240, intvl: 30, probes: 5 });
    assert.equal(check.status, 'warn');
    assert.equal(check.evidence.expiresFirst, 'Azure NAT gateway (240 s)');
  });

  it('names only the timers that expire before the first probe', () => {
    assert.deepEqual(natTimersExpiringBefore(600), [
      'Azure NAT gateway (240 s)',
      'AWS NAT gateway (350 s)',
    ]);
    assert.deepEqual(natTimersExpiringBefore(100), []);
  });
});

describe('readKeepaliveSysctls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-sysctl-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the three values as /proc writes them', async () => {
    writeFileSync(join(dir, 'tcp_keepalive_time'), '7200\n');
    writeFileSync(join(dir, 'tcp_keepalive_intvl'), '75\n');
    writeFileSync(join(dir, 'tcp_keepalive_probes'), '9\n');
    assert.deepEqual(await readKeepaliveSysctls(dir), { time: 7200, intvl: 75, probes: 9 });
    const check = await checkLocalKeepalive(dir);
    assert.equal(check.status, 'warn');
  });

  it('names the file it could not read', async () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    await assert.rejects(readKeepaliveSysctls(empty), (error: unknown) => {
      assert.ok(isSparkplaneError(error));
      assert.equal(error.code, 'DOCTOR_SYSCTL_UNREADABLE');
      assert.match(error.message, /tcp_keepalive_(time|intvl|probes).*ENOENT/);
      return true;
    });
    const check = await checkLocalKeepalive(empty);
    assert.equal(check.status, 'skip');
    assert.equal(check.reason, 'not-checked');
  });

  it('refuses content that is not a positive whole number', async () => {
    const odd = mkdtempSync(join(dir, 'odd-'));
    writeFileSync(join(odd, 'tcp_keepalive_time'), 'soon\n');
    writeFileSync(join(odd, 'tcp_keepalive_intvl'), '75\n');
    writeFileSync(join(odd, 'tcp_keepalive_probes'), '9\n');
    await assert.rejects(readKeepaliveSysctls(odd), /holds "soon", not a positive whole number/);
  });

  it(
    'reads this machine’s own values on Linux',
    { skip: !existsSync('/proc/sys/net/ipv4') },
    async () => {
      const values = await readKeepaliveSysctls();
      for (const value of Object.values(values)) assert.ok(Number.isInteger(value) && value > 0);
    },
  );
});
