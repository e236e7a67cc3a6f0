// lintFile: the kind of a file by its name and content, the source file and line of each check,
// the one pass check of a clean file, and the errors for files that are not configuration.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSparkplaneError } from '../../../../src/core/errors.ts';
import { lintFile, lintKindOf } from '../../../../src/doctor/lint/lint-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'sparkplane-lint-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('lintKindOf', () => {
  for (const [name, text, kind] of [
    ['spark-defaults.conf', '', 'spark-conf'],
    ['spark-defaults.conf.template', '# nothing\n', 'spark-conf'],
    ['pod.yml', 'spark.x 1\n', 'k8s-yaml'],
    ['template.yaml', '', 'k8s-yaml'],
    ['urls', '# BI\njdbc:hive2://h:10000/d\n', 'jdbc-urls'],
    ['manifest', '---\napiVersion: v1\nkind: Pod\n', 'k8s-yaml'],
    ['my.properties', 'spark.master=yarn\n', 'spark-conf'],
    ['overrides', '# tuned\nspark.locality.wait  3s\n', 'spark-conf'],
    ['cluster.conf', 'something else\n', 'spark-conf'],
    ['notes.txt', 'hello\n', undefined],
  ] as const) {
    it(`${name} → ${String(kind)}`, () => {
      assert.equal(lintKindOf(join(dir, name), text), kind);
    });
  }
});

describe('lintFile', () => {
  it('gives a clean file one pass check naming the file and its kind', async () => {
    const path = write('clean.conf', 'spark.master yarn\nspark.locality.wait 3s\n');
    assert.deepEqual(await lintFile(path), [
      {
        id: 'lint.spark-conf',
        target: { host: '', port: 0, service: 'tcp' },
        source: { file: path },
        layer: 'config',
        status: 'pass',
        reason: 'config-ok',
        summary: 'spark-conf: no problem found',
        evidence: { kind: 'spark-conf' },
      },
    ]);
  });

  it('puts file and line on every finding, and a fix on every warn or fail', async () => {
    const path = write('spark-defaults.conf', 'spark.master yarn\n\nspark.locality.wait 0\n');
    const checks = await lintFile(path);
    assert.equal(checks.length, 1);
    assert.deepEqual(checks[0]?.source, { file: path, line: 3 });
    assert.equal(checks[0].status, 'warn');
    assert.ok(checks[0].fix?.snippets?.some((snippet) => snippet.platform === 'spark-conf'));
  });

  it('throws CONFIG_UNREADABLE naming a missing file and the errno', async () => {
    const path = join(dir, 'missing.conf');
    await assert.rejects(lintFile(path), (error: unknown) => {
      assert.ok(isSparkplaneError(error));
      assert.equal(error.code, 'CONFIG_UNREADABLE');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, new RegExp(`cannot read ${path}: .*\\(ENOENT\\)`));
      return true;
    });
  });

  it('throws CONFIG_UNREADABLE for a directory', async () => {
    await assert.rejects(lintFile(dir), /not a regular file/);
  });

  it('throws CONFIG_INVALID for a file of no known kind', async () => {
    const path = write('notes.txt', 'remember the milk\n');
    await assert.rejects(lintFile(path), (error: unknown) => {
      assert.ok(isSparkplaneError(error));
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.ok(error.message.startsWith(`${path}: cannot tell what this file is`));
      return true;
    });
  });
});
