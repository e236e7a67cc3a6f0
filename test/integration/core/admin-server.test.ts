// The admin server on a real socket: its routes, and a graceful close that lets requests in
// flight finish, cuts them off at the deadline, and leaves no socket behind.
import assert from 'node:assert/strict';
import { Agent, get, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import {
  createAdminServer,
  type AdminHandler,
  type AdminServer,
  type AdminServerOptions,
} from '../../../src/core/admin-server.ts';
import { channels, type ServiceListening } from '../../../src/core/diagnostics.ts';
import { createMetrics, type Metrics } from '../../../src/core/metrics.ts';
import { VERSION } from '../../../src/core/version.ts';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One GET; a fresh connection closed after the reply unless an agent is given. */
function request(port: number, path: string, agent: Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
      });
      response.on('error', reject);
    }).on('error', reject);
  });
}

/** Resolves with the error code of a TCP connect to `port`, or 'connected'. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? 'unknown');
    });
  });
}

/**
 * A route that answers 200 after `ms` and drops its timer if the connection is cut. `arrived`
 * resolves once a request reached it: close() must start while the request is in flight.
 */
function slowRoute(ms: number): { handler: AdminHandler; arrived: Promise<void> } {
  const { promise: arrived, resolve } = Promise.withResolvers<undefined>();
  const handler: AdminHandler = (_request, response) => {
    resolve(undefined);
    const timer = setTimeout(() => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('slow done');
    }, ms);
    response.on('close', () => {
      clearTimeout(timer);
    });
  };
  return { handler, arrived };
}

interface Started {
  readonly admin: AdminServer;
  readonly metrics: Metrics;
  readonly port: number;
}

let started: Started[] = [];

async function start(routes?: AdminServerOptions['routes']): Promise<Started> {
  const metrics = createMetrics();
  const admin = createAdminServer({
    host: '127.0.0.1',
    port: 0,
    metrics,
    ...(routes === undefined ? {} : { routes }),
  });
  const bound = await admin.listen();
  assert.equal(bound.address, '127.0.0.1');
  assert.ok(bound.port > 0);
  assert.deepEqual(admin.address(), bound);
  const running = { admin, metrics, port: bound.port };
  started.push(running);
  return running;
}

// Every test leaves nothing listening: the server forgets its address and the port refuses.
afterEach(async () => {
  for (const { admin, metrics, port } of started) {
    if (admin.address() !== undefined) await admin.close(100);
    metrics.close();
    assert.equal(admin.address(), undefined);
    assert.equal(await connectOutcome(port), 'ECONNREFUSED');
  }
  started = [];
});

describe('admin server routes', () => {
  it('announces where it listens on the diagnostics channel', async () => {
    const heard: ServiceListening[] = [];
    const stop = channels.serviceListening.subscribe((event) => heard.push(event));
    try {
      const { port } = await start();
      assert.deepEqual(heard, [{ service: 'admin', address: '127.0.0.1', port }]);
    } finally {
      stop();
    }
  });

  it('GET /healthz is 200 JSON', async () => {
    const { port } = await start();
    const reply = await request(port, '/healthz?probe=1');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.equal(reply.body, '{"status":"ok"}\n');
  });

  it('GET /metrics is Prometheus text with build info and the requests served', async () => {
    const { port, metrics } = await start();
    await request(port, '/healthz');
    const reply = await request(port, '/metrics');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], metrics.contentType);
    const lines = reply.body.split('\n');
    assert.ok(
      lines.includes(
        `sparkplane_build_info{version="${VERSION}",node="${process.versions.node}"} 1`,
      ),
    );
    assert.ok(lines.includes('sparkplane_service_up{service="admin"} 1'));
    assert.ok(lines.includes('sparkplane_admin_requests_total{route="/healthz",status="200"} 1'));
  });

  it('an unknown route is 404 JSON naming the routes there are, counted as unknown', async () => {
    const { port } = await start({
      '/api/backends': (_request, response) => {
        response.end('[]');
      },
    });
    const reply = await request(port, '/nope');
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(reply.body), {
      error: 'no admin route /nope; routes: /metrics, /healthz, /api/backends',
    });
    // Unknown paths share one label so a scanner cannot blow up the metric's cardinality.
    await request(port, '/other');
    const lines = (await request(port, '/metrics')).body.split('\n');
    assert.ok(lines.includes('sparkplane_admin_requests_total{route="unknown",status="404"} 2'));
    assert.ok(!lines.some((line) => line.includes('route="/nope"')));
  });

  it('a custom route answers, and a failing one is 500 JSON', async () => {
    const { port } = await start({
      '/api/backends': (_request, response) => {
        response.end('[]');
      },
      '/api/broken': () => Promise.reject(new Error('boom')),
    });
    assert.equal((await request(port, '/api/backends')).body, '[]');
    const broken = await request(port, '/api/broken');
    assert.equal(broken.status, 500);
    assert.deepEqual(JSON.parse(broken.body), { error: 'Error: boom' });
  });

  it('listen() rejects when the port is taken', async () => {
    const { port } = await start();
    const metrics = createMetrics();
    try {
      const second = createAdminServer({ host: '127.0.0.1', port, metrics });
      await assert.rejects(second.listen(), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal((error as { code?: unknown }).code, 'LISTEN_FAILED');
        assert.match(
          error.message,
          new RegExp(
            `admin server cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\(EADDRINUSE\\)`,
          ),
        );
        assert.equal((error.cause as { code?: unknown }).code, 'EADDRINUSE');
        return true;
      });
      assert.equal(second.address(), undefined);
      assert.equal(await second.close(10), true);
    } finally {
      metrics.close();
    }
  });
});

describe('admin server graceful close', () => {
  it('lets a request in flight finish, then refuses new connections', async () => {
    const slow = slowRoute(300);
    const { admin, port } = await start({ '/slow': slow.handler });
    const inFlight = request(port, '/slow');
    await slow.arrived;
    const closing = performance.now();
    const drained = admin.close(2000);
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'slow done');
    assert.equal(await drained, true);
    assert.ok(performance.now() - closing < 1500, 'close did not wait for the deadline');
    assert.equal(admin.address(), undefined);
    assert.equal(await connectOutcome(port), 'ECONNREFUSED');
  });

  it('cuts off what is still open at the deadline and resolves false', async () => {
    const slow = slowRoute(2000);
    const { admin, port } = await start({ '/slow': slow.handler });
    const inFlight = request(port, '/slow');
    await slow.arrived;
    const closing = performance.now();
    assert.equal(await admin.close(100), false);
    assert.ok(performance.now() - closing < 1000, 'close waited past its deadline');
    await assert.rejects(inFlight, { code: 'ECONNRESET' });
    assert.equal(await connectOutcome(port), 'ECONNREFUSED');
  });

  it('closes idle keep-alive connections at once', async () => {
    const { admin, port } = await start();
    const agent = new Agent({ keepAlive: true });
    try {
      assert.equal((await request(port, '/healthz', agent)).status, 200);
      const closing = performance.now();
      assert.equal(await admin.close(2000), true);
      assert.ok(performance.now() - closing < 1000);
    } finally {
      agent.destroy();
    }
  });

  it('lets a keep-alive request in flight finish and still drains', async () => {
    const slow = slowRoute(300);
    const { admin, port } = await start({ '/slow': slow.handler });
    const agent = new Agent({ keepAlive: true });
    try {
      const inFlight = request(port, '/slow', agent);
      await slow.arrived;
      const drained = admin.close(1000);
      assert.equal((await inFlight).status, 200);
      assert.equal(await drained, true);
    } finally {
      agent.destroy();
    }
  });

  it('resolves true when it never listened', async () => {
    const metrics = createMetrics();
    try {
      const admin = createAdminServer({ host: '127.0.0.1', port: 0, metrics });
      assert.equal(await admin.close(10), true);
      assert.equal(admin.address(), undefined);
    } finally {
      metrics.close();
    }
  });
});
