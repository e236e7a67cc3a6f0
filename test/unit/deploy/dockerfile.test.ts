// deploy/docker/Dockerfile without a Docker engine (none runs here): parsed into its stages and
// instructions, every file it copies from the context exists and passes its ignore file, the
// Node it builds on is the project's Node, the runtime stage runs as a user other than root, and
// its entrypoint is the sparkplane command, whose default arguments work.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../../..');
const DOCKERFILE = join(ROOT, 'deploy', 'docker', 'Dockerfile');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

const KEYWORDS = new Set(
  'FROM RUN CMD LABEL EXPOSE ENV ADD COPY ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL'.split(
    ' ',
  ),
);

/** Instructions with continuation lines joined and comments dropped, as BuildKit reads them. */
function instructions(text: string): Instruction[] {
  const result: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trimEnd()} `;
      return;
    }
    const whole = `${pending}${line}`;
    pending = '';
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(whole);
    assert.ok(
      match !== null && KEYWORDS.has((match[1] ?? '').toUpperCase()),
      `line ${String(startLine)}: not an instruction: ${whole}`,
    );
    result.push({ keyword: (match[1] ?? '').toUpperCase(), args: match[2] ?? '', line: startLine });
  });
  assert.equal(pending, '', 'the file ends inside a continued line');
  return result;
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      const expanded = image.replace(/\$\{(\w+)\}/g, (_all, arg: string) => {
        const value = args.get(arg);
        assert.ok(value !== undefined, `FROM uses \${${arg}}, which no ARG before it sets`);
        return value;
      });
      assert.ok(as === undefined || as.toUpperCase() === 'AS', instruction.args);
      stages.push({ from: expanded, name, instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(instruction.keyword, 'ARG', `line ${String(instruction.line)}: before FROM`);
      const [key = '', value = ''] = instruction.args.split('=');
      args.set(key, value);
    } else stages.at(-1)?.instructions.push(instruction);
  }
  return { args, stages };
}

/** `.dockerignore` rules, last match wins, as Docker applies them (no `**` used here). */
function ignored(rules: readonly string[], path: string): boolean {
  let result = false;
  for (const rule of rules) {
    const negated = rule.startsWith('!');
    const pattern = (negated ? rule.slice(1) : rule).replace(/\/$/, '');
    const regex = new RegExp(
      `^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`,
    );
    if (regex.test(path)) result = !negated;
  }
  return result;
}

const text = readFileSync(DOCKERFILE, 'utf8');
const { stages } = parseDockerfile(text);
const runtime = stages.at(-1);
const ignoreRules = readFileSync(`${DOCKERFILE}.dockerignore`, 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

function all(stage: Stage | undefined, keyword: string): Instruction[] {
  return (stage?.instructions ?? []).filter((i) => i.keyword === keyword);
}

function execForm(instruction: Instruction | undefined): string[] {
  assert.ok(instruction !== undefined);
  const parsed = JSON.parse(instruction.args) as unknown;
  assert.ok(Array.isArray(parsed), `${instruction.keyword} is not in exec form`);
  return parsed as string[];
}

describe('deploy/docker/Dockerfile', () => {
  it('builds in one stage and runs from another, both on the Node the project pins', () => {
    assert.equal(stages.length, 2);
    const ensureNode = readFileSync(join(ROOT, 'scripts', 'ensure-node'), 'utf8');
    const pinned = /^NODE_PIN=(\S+)$/m.exec(ensureNode)?.[1];
    assert.ok(pinned !== undefined);
    const engines = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
    ).engines.node;
    const minimum = /^>=(\d+)\.(\d+)/.exec(engines);
    assert.ok(minimum !== null, engines);
    for (const stage of stages) {
      assert.equal(stage.from, `node:${pinned}-bookworm-slim`);
      const [major = 0, minor = 0] = pinned.split('.').map(Number);
      const needed = [Number(minimum[1]), Number(minimum[2])] as const;
      assert.ok(major > needed[0] || (major === needed[0] && minor >= needed[1]), engines);
    }
  });

  it('installs exactly the locked dependencies, builds dist/ and drops the dev dependencies', () => {
    const build = stages[0];
    const runs = all(build, 'RUN').map((i) => i.args);
    assert.ok(
      runs.some((run) => run.startsWith('npm ci')),
      runs.join('\n'),
    );
    assert.ok(
      runs.some((run) => /npm run build .*npm prune --omit=dev/.test(run)),
      runs.join('\n'),
    );
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    assert.match(scripts.build ?? '', /tsc -p tsconfig\.build\.json/);
    assert.match(scripts.build ?? '', /dist\/\.built/);
  });

  it('copies only paths that exist and that its ignore file lets into the context', () => {
    let copies = 0;
    for (const stage of stages)
      for (const copy of all(stage, 'COPY')) {
        const parts = copy.args.split(/\s+/);
        if (parts[0]?.startsWith('--from=') === true) {
          assert.equal(parts[0], `--from=${stages[0]?.name ?? ''}`);
          continue;
        }
        for (const source of parts.slice(0, -1)) {
          copies++;
          assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: no such path`);
          assert.ok(!ignored(ignoreRules, source.replace(/\/$/, '')), `COPY ${source} is ignored`);
        }
      }
    assert.ok(copies >= 8, String(copies));
    assert.ok(ignored(ignoreRules, '.cache/spark'), 'the Spark cache would be sent');
    assert.ok(
      ignored(ignoreRules, 'node_modules/yaml'),
      "this machine's node_modules would be sent",
    );
  });

  it('runs as a user other than root and starts the sparkplane command', () => {
    const users = all(runtime, 'USER');
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0]?.args ?? '', /^(root|0)(:|$)/);
    const order = runtime?.instructions.map((i) => i.keyword) ?? [];
    assert.ok(order.lastIndexOf('RUN') < order.indexOf('USER'), 'a RUN after USER');
    const entrypoint = execForm(all(runtime, 'ENTRYPOINT')[0]);
    assert.deepEqual(entrypoint, ['/opt/sparkplane/bin/sparkplane']);
    const copied = all(runtime, 'COPY').map((i) => i.args);
    assert.ok(copied.includes('bin/sparkplane ./bin/sparkplane'));
    assert.match(copied.join('\n'), /scripts\/node scripts\/ensure-node \.\/scripts\//);
    assert.equal(all(runtime, 'WORKDIR')[0]?.args, '/opt/sparkplane');
    // The default arguments work with the command the image runs.
    const cmd = execForm(all(runtime, 'CMD')[0]);
    const run = spawnSync(join(ROOT, 'bin', 'sparkplane'), cmd, {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Usage: sparkplane/);
  });

  it('exposes the default ports of the gateway, its admin port and the shuffle service', () => {
    assert.deepEqual(all(runtime, 'EXPOSE')[0]?.args.split(/\s+/), ['15002', '15080', '7337']);
  });

  it('the parser sees continued lines and refuses what is not an instruction', () => {
    assert.deepEqual(
      instructions('FROM a\nRUN one \\\n  # note\n  two\n').map((i) => i.args),
      ['a', 'one two'],
    );
    assert.throws(() => instructions('FROM a\nthis is not'), /not an instruction/);
    assert.equal(ignored(['*', '!src/'], 'src/cli/main.ts'), false);
    assert.ok(ignored(['*', '!src/'], 'test/x.ts'));
  });
});
