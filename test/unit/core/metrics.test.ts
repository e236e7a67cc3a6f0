// Metrics: the diagnostics events a component publishes become Prometheus lines, and close()
// stops listening. Every createMetrics() has its own registry.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { channels } from '../../../src/core/diagnostics.ts';
import { createMetrics, type Metrics } from '../../../src/core/metrics.ts';
import { VERSION } from '../../../src/core/version.ts';

let open: Metrics[] = [];
function metrics(): Metrics {
  const created = createMetrics();
  open.push(created);
  return created;
}
afterEach(() => {
  for (const created of open) created.close();
  open = [];
});

/** The sample lines (no # HELP / # TYPE) of the metric family `name`. */
async function samples(from: Metrics, name: string): Promise<string[]> {
  const text = await from.render();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('createMetrics', () => {
  it('exposes the build info and default process metrics under the sparkplane_ prefix', async () => {
    const created = metrics();
    assert.deepEqual(await samples(created, 'sparkplane_build_info'), [
      `sparkplane_build_info{version="${VERSION}",node="${process.versions.node}"} 1`,
    ]);
    const text = await created.render();
    assert.match(text, /^# TYPE sparkplane_process_cpu_user_seconds_total counter$/m);
    assert.match(created.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it('sets service_up to 1 on listening and 0 on closing', async () => {
    const created = metrics();
    assert.deepEqual(await samples(created, 'sparkplane_service_up'), []);
    channels.serviceListening.publish({ service: 'x', address: '127.0.0.1', port: 1 });
    assert.deepEqual(await samples(created, 'sparkplane_service_up'), [
      'sparkplane_service_up{service="x"} 1',
    ]);
    channels.serviceClosing.publish({ service: 'x', reason: 'test' });
    assert.deepEqual(await samples(created, 'sparkplane_service_up'), [
      'sparkplane_service_up{service="x"} 0',
    ]);
  });

  it('records how long the last shutdown took and whether it drained', async () => {
    const created = metrics();
    channels.serviceClosed.publish({ service: 'x', drained: true, durationMs: 250 });
    channels.serviceClosed.publish({ service: 'y', drained: false, durationMs: 2000 });
    assert.deepEqual(await samples(created, 'sparkplane_service_shutdown_seconds'), [
      'sparkplane_service_shutdown_seconds{service="x",drained="true"} 0.25',
      'sparkplane_service_shutdown_seconds{service="y",drained="false"} 2',
    ]);
  });

  it('counts admin requests by route and status and times them', async () => {
    const created = metrics();
    channels.adminRequest.publish({ method: 'GET', route: '/healthz', status: 200, durationMs: 3 });
    channels.adminRequest.publish({ method: 'GET', route: '/healthz', status: 200, durationMs: 7 });
    channels.adminRequest.publish({ method: 'GET', route: 'unknown', status: 404, durationMs: 1 });
    assert.deepEqual(await samples(created, 'sparkplane_admin_requests_total'), [
      'sparkplane_admin_requests_total{route="/healthz",status="200"} 2',
      'sparkplane_admin_requests_total{route="unknown",status="404"} 1',
    ]);
    const latency = await samples(created, 'sparkplane_admin_request_duration_seconds_bucket');
    assert.ok(
      latency.includes(
        'sparkplane_admin_request_duration_seconds_bucket{le="0.001",route="/healthz"} 0',
      ),
    );
    assert.ok(
      latency.includes(
        'sparkplane_admin_request_duration_seconds_bucket{le="0.005",route="/healthz"} 1',
      ),
    );
    assert.ok(
      latency.includes(
        'sparkplane_admin_request_duration_seconds_bucket{le="0.01",route="/healthz"} 2',
      ),
    );
    assert.deepEqual(await samples(created, 'sparkplane_admin_request_duration_seconds_count'), [
      'sparkplane_admin_request_duration_seconds_count{route="/healthz"} 2',
      'sparkplane_admin_request_duration_seconds_count{route="unknown"} 1',
    ]);
  });

  it('close() unsubscribes: later events change nothing', async () => {
    const created = metrics();
    channels.serviceListening.publish({ service: 'x', address: '::', port: 1 });
    created.close();
    channels.serviceClosing.publish({ service: 'x', reason: 'after close' });
    channels.adminRequest.publish({ method: 'GET', route: '/metrics', status: 200, durationMs: 1 });
    assert.deepEqual(await samples(created, 'sparkplane_service_up'), [
      'sparkplane_service_up{service="x"} 1',
    ]);
    assert.deepEqual(await samples(created, 'sparkplane_admin_requests_total'), []);
  });

  it('keeps each registry apart', async () => {
    const first = metrics();
    channels.serviceListening.publish({ service: 'early', address: '::', port: 1 });
    const second = metrics();
    channels.serviceListening.publish({ service: 'late', address: '::', port: 2 });
    first.close();
    channels.serviceClosing.publish({ service: 'late', reason: 'r' });
    assert.notEqual(first.registry, second.registry);
    assert.deepEqual(await samples(first, 'sparkplane_service_up'), [
      'sparkplane_service_up{service="early"} 1',
      'sparkplane_service_up{service="late"} 1',
    ]);
    assert.deepEqual(await samples(second, 'sparkplane_service_up'), [
      'sparkplane_service_up{service="late"} 0',
    ]);
  });
});
