// Installs every pinned Spark version (or those named) into the git-ignored cache: a Python venv
// with `pyspark[connect]` from PyPI, whose package folder is a Spark distribution, plus the Spark
// Connect server jar from Maven Central where pyspark lacks it (3.5).
//   scripts/node test/interop/install-spark.ts [SPARK_VERSION...]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  SPARK_PINS,
  installDir,
  markerPath,
  pythonCommand,
  pythonVersion,
  readInstall,
  versionAtLeast,
  type InstallMarker,
  type SparkVersionPin,
} from './harness/spark-install.ts';

async function run(
  command: string,
  args: readonly string[],
  logFile: string,
  cwd?: string,
): Promise<string> {
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`$ ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      log.write(chunk);
    });
    child.stderr.pipe(log, { end: false });
    child.once('error', reject);
    child.once('close', (code) => {
      log.end();
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} failed with code ${String(code)}; see ${logFile}`,
          ),
        );
    });
  });
}

async function install(pin: SparkVersionPin): Promise<string> {
  if (readInstall(pin) !== undefined)
    return `Spark ${pin.spark}: already installed in ${installDir(pin)}`;
  const python = pythonCommand();
  const found = pythonVersion(python);
  if (found === undefined)
    throw new Error(
      `Spark ${pin.spark}: ${python} not found; install Python 3 or set SPARKPLANE_PYTHON`,
    );
  if (!versionAtLeast(found, pin.minPython))
    throw new Error(`Spark ${pin.spark}: needs Python ${pin.minPython}+, found ${found}`);

  const dir = installDir(pin);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'install.log');
  const started = performance.now();

  await run(python, ['-m', 'venv', join(dir, 'venv')], logFile);
  const venvPython = join(dir, 'venv', 'bin', 'python');
  const constraints = join(dir, 'constraints.txt');
  writeFileSync(constraints, `${pin.python.join('\n')}\n`);
  await run(
    venvPython,
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--progress-bar',
      'off',
      '-c',
      constraints,
      `pyspark[connect]==${pin.spark}`,
    ],
    logFile,
  );
  const sparkHome = (
    await run(
      venvPython,
      ['-c', 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'],
      logFile,
    )
  ).trim();

  let connectJar: string | undefined;
  if (pin.connectJar !== undefined)
    connectJar = await fetchJar(pin.connectJar, join(dir, 'jars'), logFile);

  const marker: InstallMarker = {
    spark: pin.spark,
    python: pin.python,
    ...(pin.connectJar === undefined ? {} : { connectJarSha256: pin.connectJar.sha256 }),
    sparkHome,
    venvPython,
    ...(connectJar === undefined ? {} : { connectJar }),
  };
  writeFileSync(markerPath(pin), `${JSON.stringify(marker, null, 2)}\n`);
  return `Spark ${pin.spark}: installed in ${dir} (${Math.round((performance.now() - started) / 1000)} s)`;
}

/** Copies a jar out of Maven Central with Maven itself, then checks it against the pinned digest. */
async function fetchJar(
  jar: NonNullable<SparkVersionPin['connectJar']>,
  outDir: string,
  logFile: string,
): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const mvn = process.env.SPARKPLANE_MVN ?? 'mvn';
  await run(
    mvn,
    [
      '-q',
      '-B',
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
      `-Dartifact=${jar.coordinates}:jar`,
      `-DoutputDirectory=${outDir}`,
    ],
    logFile,
  );
  const [, artifact = '', version = ''] = jar.coordinates.split(':');
  const file = join(outDir, `${artifact}-${version}.jar`);
  if (!existsSync(file))
    throw new Error(
      `Maven did not produce ${file}; files there: ${readdirSync(outDir).join(', ')}`,
    );
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
  if (digest !== jar.sha256)
    throw new Error(`${file} has sha256 ${digest}, the pin says ${jar.sha256}: refusing it`);
  return file;
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((version) => !SPARK_PINS.some((pin) => pin.spark === version));
if (unknown.length > 0) {
  console.error(
    `install-spark: unknown Spark version(s) ${unknown.join(', ')}; pinned: ${SPARK_PINS.map((pin) => pin.spark).join(', ')}`,
  );
  process.exit(2);
}
const selected =
  wanted.length === 0 ? SPARK_PINS : SPARK_PINS.filter((pin) => wanted.includes(pin.spark));
const results = await Promise.allSettled(selected.map(install));
let failed = false;
for (const result of results) {
  if (result.status === 'fulfilled') console.log(result.value);
  else {
    failed = true;
    console.error(
      `install-spark: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`,
    );
  }
}
process.exit(failed ? 1 : 0);
