// One process as `sparkplane up` will run it, for the dashboard tests: a gateway in front of two
// in-repo Spark Connect servers, a shuffle service with real map output on disk, and the admin
// port with the dashboard and admin credentials — all on 127.0.0.1 port 0.
import { mkdir, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { join } from 'node:path';
import { createAdminAuthenticator } from '../../../src/core/admin-auth.ts';
import { createAdminServer, type AdminServer } from '../../../src/core/admin-server.ts';
import { createMetrics, type Metrics } from '../../../src/core/metrics.ts';
import { newToken, tokenFileLine } from '../../../src/core/tokens-file.ts';
import {
  createDashboardRoutes,
  type DashboardRoutes,
  type DashboardSection,
} from '../../../src/dashboard/dashboard-routes.ts';
import { gatewayAdminRoutes } from '../../../src/gateway/admin-api.ts';
import type { Gateway } from '../../../src/gateway/gateway-server.ts';
import { grpcCall } from '../../../src/gateway/proxy/grpc-call.ts';
import { encodeConfigRequest } from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { shuffleAdminRoutes } from '../../../src/shuffle/admin-api.ts';
import {
  createShuffleClient,
  type ShuffleClient,
} from '../../../src/shuffle/client/shuffle-client.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import {
  executorInfo,
  partitionBytes,
  removeRoot,
  startServer,
  tempRoot,
  writeMapOutput,
} from '../shuffle/fixtures.ts';

export interface DashboardRig {
  /** http://127.0.0.1:PORT of the admin port. */
  readonly base: string;
  readonly fakes: readonly FakeSparkConnect[];
  readonly gateway: Gateway;
  readonly shuffle: ShuffleServer;
  /** The admin credential of the principal `alice`, and the file that holds it. */
  readonly aliceToken: string;
  readonly credentialsFile: string | undefined;
  /** Opens a Spark Connect session through the gateway as `user`; returns its id. */
  openSession(user: string, sessionId?: string): Promise<string>;
  /** Registers an executor of `appId` and fetches `blocks` blocks of `bytes` each from it. */
  serveShuffle(appId: string, blocks: number, bytes: number): Promise<void>;
  close(): Promise<void>;
}

const SERVICE = '/spark.connect.SparkConnectService';

export async function startDashboardRig(
  options: {
    readonly auth?: boolean;
    readonly shuffle?: boolean;
    readonly maxRows?: number;
    readonly extraSections?: readonly DashboardSection[];
  } = {},
): Promise<DashboardRig> {
  const root = await tempRoot('dashboard');
  const closers: (() => Promise<unknown>)[] = [() => removeRoot(root)];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer();
  };
  try {
    const fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    for (const fake of fakes) closers.push(() => fake.close());
    // Sessions are named by a header here; the gateway's real authenticators are tested elsewhere.
    const gateway = await startTestGateway(fakes, {
      authenticate: (headers) => Promise.resolve(String(headers['x-principal'] ?? 'anonymous')),
    });
    closers.push(() => gateway.close(1000));
    const { server: shuffle, port: shufflePort } = await startServer({ allowedRoots: [root] });
    closers.push(() => shuffle.close(1000));
    const client: ShuffleClient = createShuffleClient({
      host: '127.0.0.1',
      port: shufflePort,
      maxRetries: 0,
    });
    closers.push(() => {
      client.close();
      return Promise.resolve();
    });
    const aliceToken = newToken();
    let credentialsFile: string | undefined;
    if (options.auth !== false) {
      credentialsFile = join(root, 'admins');
      await writeFile(credentialsFile, `${tokenFileLine('alice', aliceToken)}\n`);
    }
    const metrics: Metrics = createMetrics();
    closers.push(() => {
      metrics.close();
      return Promise.resolve();
    });
    const withShuffle = options.shuffle !== false;
    const dashboard: DashboardRoutes = createDashboardRoutes({
      gateway,
      shuffle: withShuffle ? shuffle : undefined,
      maxRows: options.maxRows,
      extraSections: options.extraSections,
    });
    closers.push(() => dashboard.close(1000));
    const admin: AdminServer = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      auth: credentialsFile === undefined ? undefined : createAdminAuthenticator(credentialsFile),
      routes: {
        ...gatewayAdminRoutes(gateway),
        ...shuffleAdminRoutes(shuffle, { cleanupLocalDirs: false }),
        ...dashboard.routes,
      },
    });
    const bound = await admin.listen();
    closers.push(() => admin.close(1000));
    const h2 = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    h2.on('error', () => undefined);
    closers.push(() => {
      h2.destroy();
      return Promise.resolve();
    });

    return {
      base: `http://127.0.0.1:${String(bound.port)}`,
      fakes,
      gateway,
      shuffle,
      aliceToken,
      credentialsFile,
      async openSession(user, sessionId = crypto.randomUUID()) {
        const reply = await grpcCall(
          h2,
          `${SERVICE}/Config`,
          encodeConfigRequest({ sessionId, userId: user, operation: { get: ['x'] } }),
          { timeoutMs: 5000, metadata: { 'x-principal': user } },
        );
        if (reply.status !== 0)
          throw new Error(`Config through the gateway failed: ${String(reply.status)}`);
        return sessionId;
      },
      async serveShuffle(appId, blocks, bytes) {
        const info = executorInfo([join(root, `blockmgr-${appId}`)]);
        for (const dir of info.localDirs) await mkdir(dir, { recursive: true });
        await writeMapOutput(
          info,
          0,
          1n,
          Array.from({ length: blocks }, (_, reduce) => partitionBytes(1, reduce, bytes)),
        );
        await client.registerExecutor(appId, '0', info);
        await client.fetchBlocks(
          appId,
          '0',
          Array.from({ length: blocks }, (_, reduce) => `shuffle_0_1_${String(reduce)}`),
        );
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
