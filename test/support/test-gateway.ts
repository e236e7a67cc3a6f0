// A gateway on 127.0.0.1 port 0 in front of in-repo Spark Connect servers, with health checks
// fast enough for tests, started once every server has been checked.
import {
  startGateway,
  type Gateway,
  type GatewayOptions,
} from '../../src/gateway/gateway-server.ts';
import type { FakeSparkConnect } from './fake-spark-connect.ts';

export async function startTestGateway(
  fakes: readonly FakeSparkConnect[],
  extra: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  const gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    backends: fakes.map((fake) => ({ host: '127.0.0.1', port: fake.port })),
    health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
    ...extra,
  });
  await gateway.pool.checkAll();
  return gateway;
}
