// Where the pinned Spark versions live once installed (a git-ignored cache in the checkout), and
// whether this machine has what the interop tests need: Java 17+, Python 3 and each pyspark.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pins from '../spark-versions.json' with { type: 'json' };

export interface SparkVersionPin {
  readonly line: string;
  readonly spark: string;
  readonly scala: string;
  readonly minPython: string;
  readonly connectJar?: {
    readonly coordinates: string;
    readonly sha256: string;
    readonly why: string;
  };
  readonly python: readonly string[];
}

export interface SparkInstall {
  readonly pin: SparkVersionPin;
  readonly dir: string;
  /** The venv's python, with pyspark and the Connect client's dependencies. */
  readonly python: string;
  /** pyspark's package folder, which is a Spark distribution (bin/, jars/). */
  readonly sparkHome: string;
  /** The Spark Connect server jar where pyspark does not ship it (3.5). */
  readonly connectJar?: string;
}

/** What installed.json records; an install counts only when it matches the pin exactly. */
export interface InstallMarker {
  readonly spark: string;
  readonly python: readonly string[];
  readonly connectJarSha256?: string;
  readonly sparkHome: string;
  readonly venvPython: string;
  readonly connectJar?: string;
}

export const SPARK_PINS: readonly SparkVersionPin[] = pins.versions;
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SPARK_CACHE = process.env.SPARKPLANE_SPARK_CACHE ?? join(REPO_ROOT, '.cache', 'spark');
export const INSTALL_COMMAND = 'npm run interop:install';

export function installDir(pin: SparkVersionPin): string {
  return join(SPARK_CACHE, pin.spark);
}

export function markerPath(pin: SparkVersionPin): string {
  return join(installDir(pin), 'installed.json');
}

export function readInstall(pin: SparkVersionPin): SparkInstall | undefined {
  const path = markerPath(pin);
  if (!existsSync(path)) return undefined;
  const marker = JSON.parse(readFileSync(path, 'utf8')) as InstallMarker;
  if (!markerMatches(marker, pin)) return undefined;
  if (!existsSync(marker.venvPython) || !existsSync(join(marker.sparkHome, 'bin', 'spark-class')))
    return undefined;
  if (marker.connectJar !== undefined && !existsSync(marker.connectJar)) return undefined;
  return {
    pin,
    dir: installDir(pin),
    python: marker.venvPython,
    sparkHome: marker.sparkHome,
    ...(marker.connectJar === undefined ? {} : { connectJar: marker.connectJar }),
  };
}

export function markerMatches(marker: InstallMarker, pin: SparkVersionPin): boolean {
  return (
    marker.spark === pin.spark &&
    JSON.stringify(marker.python) === JSON.stringify(pin.python) &&
    marker.connectJarSha256 === pin.connectJar?.sha256
  );
}

export function pythonCommand(): string {
  return process.env.SPARKPLANE_PYTHON ?? 'python3';
}

/** The major version of `java` on PATH (or under JAVA_HOME), or undefined when there is none. */
export function javaMajorVersion(): number | undefined {
  const java =
    process.env.JAVA_HOME === undefined ? 'java' : join(process.env.JAVA_HOME, 'bin', 'java');
  const result = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.stderr);
  if (match === null) return undefined;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major;
}

export function pythonVersion(python = pythonCommand()): string | undefined {
  const result = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
    encoding: 'utf8',
  });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

export function versionAtLeast(actual: string, minimum: string): boolean {
  const [a1 = 0, a2 = 0] = actual.split('.').map(Number);
  const [m1 = 0, m2 = 0] = minimum.split('.').map(Number);
  return a1 > m1 || (a1 === m1 && a2 >= m2);
}

export type Prerequisites =
  | { readonly ok: true; readonly install: SparkInstall }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Everything a test against `pin` needs, or each missing piece with how to get it. */
export function checkPrerequisites(pin: SparkVersionPin): Prerequisites {
  const problems: string[] = [];
  const java = javaMajorVersion();
  if (java === undefined)
    problems.push(
      'Java is missing: install a JDK 17 or newer (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME',
    );
  else if (java < 17)
    problems.push(
      `Java ${java} is too old: Spark ${pin.spark} here needs Java 17 or newer; install it or set JAVA_HOME`,
    );
  const python = pythonVersion();
  if (python === undefined)
    problems.push(`Python 3 is missing: install python3 (or set SPARKPLANE_PYTHON)`);
  else if (!versionAtLeast(python, pin.minPython))
    problems.push(`Python ${python} is too old for pyspark ${pin.spark} (needs ${pin.minPython}+)`);
  const install = readInstall(pin);
  if (install === undefined)
    problems.push(
      `pyspark ${pin.spark} is not installed in ${installDir(pin)}: run \`${INSTALL_COMMAND}\``,
    );
  if (problems.length > 0 || install === undefined) return { ok: false, problems };
  return { ok: true, install };
}
