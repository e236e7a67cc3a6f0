// A Spark installation for tests of the servers the gateway launches: bin/spark-submit is a shell
// script that runs the in-repo Spark Connect server (test/support/fake-connect-main.ts) with
// spark-submit's own arguments, so the process is found, probed, killed and adopted exactly as
// a real Spark Connect server is — in milliseconds instead of a JVM's tens of seconds.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MAIN = new URL('./fake-connect-main.ts', import.meta.url).pathname;

export interface FakeSparkHomeOptions {
  /** Spark version its jars claim (4.x carries the Connect server; 3.5 does not). */
  readonly version?: string;
  /** Instead of serving, print this and exit 1 (a server that fails to start). */
  readonly failWith?: string;
  /** Wait this long before listening (a slow JVM). */
  readonly startDelayMs?: number;
}

export function makeFakeSparkHome(dir: string, options: FakeSparkHomeOptions = {}): string {
  const version = options.version ?? '4.9.0';
  const scala = version.startsWith('3.') ? '2.12' : '2.13';
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'jars'), { recursive: true });
  writeFileSync(join(dir, 'jars', `spark-core_${scala}-${version}.jar`), '');
  if (!version.startsWith('3.'))
    writeFileSync(join(dir, 'jars', `spark-connect_${scala}-${version}.jar`), '');
  const env = [
    options.failWith === undefined ? '' : `FAKE_CONNECT_FAIL=${shellQuote(options.failWith)}`,
    `FAKE_CONNECT_DELAY_MS=${String(options.startDelayMs ?? 0)}`,
  ]
    .filter(Boolean)
    .join(' ');
  const script = join(dir, 'bin', 'spark-submit');
  writeFileSync(
    script,
    `#!/bin/sh\nexec env ${env} ${shellQuote(process.execPath)} ${shellQuote(MAIN)} "$@"\n`,
  );
  chmodSync(script, 0o755);
  return dir;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
