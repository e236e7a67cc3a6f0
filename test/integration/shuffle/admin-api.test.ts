// The shuffle admin API on a real admin server: listing registrations, and the "application
// removed" / "executor removed" control plane, against a shuffle server on port 0.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAdminServer, type AdminServer } from '../../../src/core/admin-server.ts';
import { createMetrics, type Metrics } from '../../../src/core/metrics.ts';
import { shuffleAdminRoutes } from '../../../src/shuffle/admin-api.ts';
import {
  createShuffleClient,
  type ShuffleClient,
} from '../../../src/shuffle/client/shuffle-client.ts';
import type { ExecutorShuffleInfo } from '../../../src/shuffle/protocol/block-transfer.ts';
import { blockFilePath } from '../../../src/shuffle/resolver/disk-layout.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import {
  executorInfo,
  partitionBytes,
  removeRoot,
  startServer,
  tempRoot,
  writeMapOutput,
} from './fixtures.ts';

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One request on a fresh connection; the body parsed as JSON. */
function call(port: number, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port, method, path, agent: false },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          try {
            resolve({
              status: response.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown>,
            });
          } catch (error) {
            reject(new Error(`${method} ${path}: not JSON: ${text}`, { cause: error }));
          }
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('shuffle admin API', () => {
  let root: string;
  let server: ShuffleServer;
  let client: ShuffleClient;
  let metrics: Metrics;
  const admins: AdminServer[] = [];
  /** Admin ports: one where ?cleanup=true may delete local dirs, one where it may not. */
  let cleaningPort: number;
  let keepingPort: number;
  let nextApp = 0;

  const startAdmin = async (cleanupLocalDirs: boolean): Promise<number> => {
    const admin = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      routes: shuffleAdminRoutes(server, { cleanupLocalDirs }),
    });
    admins.push(admin);
    return (await admin.listen()).port;
  };

  /** A fresh app with one executor and one map output under its own local dirs. */
  const registerApp = async (
    execIds: readonly string[] = ['0'],
  ): Promise<{ appId: string; info: ExecutorShuffleInfo }> => {
    nextApp++;
    const appId = `app-20261121000000-${String(nextApp).padStart(4, '0')}`;
    const info = executorInfo([
      join(root, `blockmgr-${appId}-a`),
      join(root, `blockmgr-${appId}-b`),
    ]);
    // Both dirs exist, as an executor creates them, though the map output hashes into one.
    for (const dir of info.localDirs) await mkdir(dir, { recursive: true });
    await writeMapOutput(info, 0, 1n, [partitionBytes(1, 0, 300)]);
    for (const execId of execIds) await client.registerExecutor(appId, execId, info);
    return { appId, info };
  };

  const fetchOne = (appId: string): Promise<Map<string, Buffer>> =>
    client.fetchBlocks(appId, '0', ['shuffle_0_1_0']);

  before(async () => {
    root = await tempRoot('admin-api');
    ({ server } = await startServer({ allowedRoots: [root] }));
    const address = server.address();
    assert.ok(address !== undefined);
    client = createShuffleClient({ host: '127.0.0.1', port: address.port, maxRetries: 0 });
    metrics = createMetrics();
    cleaningPort = await startAdmin(true);
    keepingPort = await startAdmin(false);
  });

  after(async () => {
    client.close();
    for (const admin of admins) assert.equal(await admin.close(1000), true);
    metrics.close();
    assert.equal(await server.close(2000), true);
    assert.equal(server.connections, 0);
    await removeRoot(root);
  });

  it('GET /api/shuffle/apps lists each registered app with its executors', async () => {
    const { appId, info } = await registerApp(['0', '1']);
    const now = Date.now();
    const reply = await call(keepingPort, 'GET', '/api/shuffle/apps');
    assert.equal(reply.status, 200);
    const apps = reply.body.apps as { appId: string; executors: Record<string, unknown>[] }[];
    const listed = apps.find((app) => app.appId === appId);
    assert.ok(listed !== undefined, `${appId} not in ${JSON.stringify(apps)}`);
    assert.deepEqual(
      listed.executors.map((executor) => [executor.execId, executor.localDirs]),
      [
        ['0', info.localDirs],
        ['1', info.localDirs],
      ],
    );
    for (const executor of listed.executors) {
      const at = Date.parse(String(executor.registeredAt));
      assert.ok(at <= now && now - at < 60_000, `registeredAt ${String(executor.registeredAt)}`);
    }
  });

  it('POST apps/APP/remove forgets the app and keeps its files', async () => {
    const { appId, info } = await registerApp(['0', '1']);
    assert.equal((await fetchOne(appId)).get('shuffle_0_1_0')?.length, 300);
    const reply = await call(cleaningPort, 'POST', `/api/shuffle/apps/${appId}/remove`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { appId, removedExecutors: 2, localDirsDeleted: false });
    assert.deepEqual(server.registry.executorsOf(appId), []);
    await assert.rejects(
      fetchOne(appId),
      new RegExp(`Executor is not registered \\(appId=${appId}, execId=0\\)`),
    );
    for (const dir of info.localDirs) assert.equal(existsSync(dir), true, `${dir} was deleted`);
    const listed = (await call(keepingPort, 'GET', '/api/shuffle/apps')).body.apps as {
      appId: string;
    }[];
    assert.ok(!listed.some((app) => app.appId === appId));
  });

  it('?cleanup=true is refused with a clear 400 unless cleanupLocalDirs is on', async () => {
    const { appId, info } = await registerApp();
    const refused = await call(
      keepingPort,
      'POST',
      `/api/shuffle/apps/${appId}/remove?cleanup=true`,
    );
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error), /deleting local dirs is off.*--cleanup-local-dirs/);
    // Refused means nothing happened: still registered, still served, files in place.
    assert.notEqual(server.registry.get(appId, '0'), undefined);
    assert.equal((await fetchOne(appId)).get('shuffle_0_1_0')?.length, 300);
    for (const dir of info.localDirs) assert.equal(existsSync(dir), true);
  });

  it('?cleanup=true deletes the local dirs when cleanupLocalDirs is on', async () => {
    const { appId, info } = await registerApp();
    const reply = await call(
      cleaningPort,
      'POST',
      `/api/shuffle/apps/${appId}/remove?cleanup=true`,
    );
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { appId, removedExecutors: 1, localDirsDeleted: true });
    for (const dir of info.localDirs) assert.equal(existsSync(dir), false, `${dir} is still there`);
    assert.equal(existsSync(root), true, 'the allowed root itself must stay');
    await assert.rejects(fetchOne(appId), /Executor is not registered/);
  });

  it('POST apps/APP/executors/EXEC/remove deletes scratch files and keeps .index/.data', async () => {
    const { appId, info } = await registerApp();
    const scratch = blockFilePath(info, 'temp_shuffle_x');
    await mkdir(dirname(scratch), { recursive: true });
    await writeFile(scratch, 'spill');
    const reply = await call(keepingPort, 'POST', `/api/shuffle/apps/${appId}/executors/0/remove`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { appId, execId: '0', deletedFiles: 1, failures: [] });
    assert.equal(existsSync(scratch), false, 'temp_shuffle_x was kept');
    for (const name of ['shuffle_0_1_0.index', 'shuffle_0_1_0.data'])
      assert.equal(existsSync(blockFilePath(info, name)), true, `${name} was deleted`);
    // The executor stays registered and its map output is still served.
    assert.deepEqual((await fetchOne(appId)).get('shuffle_0_1_0'), partitionBytes(1, 0, 300));

    const unknown = await call(
      keepingPort,
      'POST',
      `/api/shuffle/apps/${appId}/executors/9/remove`,
    );
    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /Executor is not registered \(appId=.*, execId=9\)/);
  });

  it('unknown paths are 404', async () => {
    for (const [method, path] of [
      ['POST', '/api/shuffle/nope'],
      ['POST', '/api/shuffle/apps/app-x/frobnicate'],
      ['POST', '/api/shuffle/apps/app-x/executors/0/remove/again'],
      ['GET', '/api/nothing'],
    ] as const) {
      const reply = await call(keepingPort, method, path);
      assert.equal(reply.status, 404, `${method} ${path}`);
      assert.equal(typeof reply.body.error, 'string');
    }
  });

  it('GET on an unknown path under /api/shuffle/ is 404', async () => {
    const reply = await call(keepingPort, 'GET', '/api/shuffle/nope');
    assert.equal(reply.status, 404);
  });

  it('GET on a POST route is 405 and changes nothing', async () => {
    const { appId } = await registerApp();
    for (const path of [
      `/api/shuffle/apps/${appId}/remove`,
      `/api/shuffle/apps/${appId}/executors/0/remove`,
    ]) {
      const reply = await call(cleaningPort, 'GET', path);
      assert.equal(reply.status, 405, path);
      assert.match(String(reply.body.error), /POST/);
    }
    assert.notEqual(server.registry.get(appId, '0'), undefined);
  });

  it('a malformed percent-escape in the path is a 400, not a 500', async () => {
    const reply = await call(keepingPort, 'POST', '/api/shuffle/apps/%E0%A4%A/remove');
    assert.equal(reply.status, 400);
    assert.match(String(reply.body.error), /%E0%A4%A/);
  });

  it('counts admin requests under the route prefix, not per app', async () => {
    const text = await metrics.render();
    assert.match(
      text,
      /sparkplane_admin_requests_total\{route="\/api\/shuffle\/",status="200"\} \d+/,
    );
    assert.doesNotMatch(text, /route="\/api\/shuffle\/apps/);
  });
});
