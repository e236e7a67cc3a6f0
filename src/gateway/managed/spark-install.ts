// Finds the Spark installation the gateway launches Spark Connect servers from: an explicit
// folder, SPARK_HOME, or the pyspark package python3 imports (its folder is a whole Spark
// distribution: bin/spark-submit and jars/). Spark 3.5 does not carry the Connect server in its
// jars; it comes from a given jar or, as start-connect-server.sh does it, from --packages.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../errors.ts';

export interface SparkInstall {
  readonly home: string;
  readonly sparkSubmit: string;
  /** Spark's version, from the spark-core jar's name. */
  readonly version: string;
  /** Scala binary version of the jars (2.12 or 2.13). */
  readonly scala: string;
  /** Whether the jars already hold the Spark Connect server (every 4.x). */
  readonly hasConnectServer: boolean;
  /** Where it was found, for the startup log: "--spark-home", "SPARK_HOME", "python3 pyspark". */
  readonly foundBy: string;
}

export function describeSparkHome(home: string, foundBy: string): SparkInstall {
  const sparkSubmit = join(home, 'bin', 'spark-submit');
  const jarsDir = join(home, 'jars');
  if (!existsSync(sparkSubmit) || !existsSync(jarsDir))
    throw new GatewayError(
      'GW_BAD_CONFIG',
      `${home} (from ${foundBy}) is not a Spark installation: it has no bin/spark-submit and jars/; point --spark-home at Spark's folder (or a pip-installed pyspark package folder)`,
    );
  const jars = readdirSync(jarsDir);
  const core = jars
    .map((name) => /^spark-core_(\d+\.\d+)-(.+)\.jar$/.exec(name))
    .find((match) => match !== null);
  if (core?.[1] === undefined || core[2] === undefined)
    throw new GatewayError(
      'GW_BAD_CONFIG',
      `${jarsDir} holds no spark-core jar, so the Spark version is unknown; is ${home} a complete Spark installation?`,
    );
  return {
    home,
    sparkSubmit,
    version: core[2],
    scala: core[1],
    hasConnectServer: jars.some((name) => name.startsWith('spark-connect_')),
    foundBy,
  };
}

/** The pyspark package folder python3 imports, or undefined when it imports none. */
export function pysparkHome(python = 'python3', timeoutMs = 15_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'],
      { timeout: timeoutMs },
      (error, stdout) => {
        const home = stdout.trim();
        resolve(error === null && home !== '' ? home : undefined);
      },
    );
  });
}

/** This checkout's own folder (src/gateway/managed or dist/gateway/managed, three levels up). */
const CHECKOUT = new URL('../../../', import.meta.url).pathname;

/**
 * The newest Spark that `scripts/install --spark` put into this checkout's .cache/spark (or the
 * folder SPARKPLANE_SPARK_CACHE names), with the pyspark of its venv; undefined when none.
 */
export function checkoutSpark(
  env: NodeJS.ProcessEnv = process.env,
): { readonly home: string; readonly pyspark: string } | undefined {
  const cache = env.SPARKPLANE_SPARK_CACHE ?? join(CHECKOUT, '.cache', 'spark');
  if (!existsSync(cache)) return undefined;
  const installs = readdirSync(cache)
    .filter((version) => /^\d+\.\d+\.\d+$/.test(version))
    .sort((a, b) => compareVersions(b, a));
  for (const version of installs) {
    try {
      const marker = JSON.parse(readFileSync(join(cache, version, 'installed.json'), 'utf8')) as {
        sparkHome?: unknown;
        venvPython?: unknown;
      };
      if (typeof marker.sparkHome === 'string' && existsSync(marker.sparkHome))
        return {
          home: marker.sparkHome,
          pyspark:
            typeof marker.venvPython === 'string'
              ? join(marker.venvPython, '..', 'pyspark')
              : 'pyspark',
        };
    } catch {
      // An install that did not finish: try an older one.
    }
  }
  return undefined;
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/**
 * The Spark to launch servers from: `explicit`, else $SPARK_HOME, else python3's pyspark, else
 * the newest Spark `scripts/install --spark` put into this checkout. Undefined when none is found
 * (the caller says what to install).
 */
export async function findSparkInstall(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  python = 'python3',
): Promise<SparkInstall | undefined> {
  if (explicit !== undefined) return describeSparkHome(explicit, '--spark-home');
  const fromEnv = env.SPARK_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return describeSparkHome(fromEnv, 'SPARK_HOME');
  const fromPython = await pysparkHome(python);
  if (fromPython !== undefined) return describeSparkHome(fromPython, `${python} pyspark`);
  const installed = checkoutSpark(env);
  return installed === undefined
    ? undefined
    : describeSparkHome(installed.home, 'scripts/install --spark');
}

/**
 * spark-submit arguments that put the Spark Connect server on the classpath: nothing on 4.x, the
 * given jar, or the Maven coordinates start-connect-server.sh would use.
 */
export function connectServerClasspath(
  install: SparkInstall,
  connectJar: string | undefined,
): string[] {
  if (connectJar !== undefined) return ['--jars', connectJar];
  if (install.hasConnectServer) return [];
  return ['--packages', `org.apache.spark:spark-connect_${install.scala}:${install.version}`];
}
