// `sparkplane doctor lint FILE`: reads one configuration file, tells by its name and content
// which kind it is (spark-defaults.conf, Kubernetes YAML, a list of JDBC URLs), and turns what the
// rules of that kind find into checks — or one pass check when they find nothing.
//
// A file that cannot be read, is too large, is of no known kind or does not parse throws a
// ConfigError (CONFIG_UNREADABLE or CONFIG_INVALID, exit code 2) naming the file and, for YAML,
// the line and column. Findings are about configuration someone wrote; a file that is not such
// configuration is a mistake in the command line, not a finding about the network.
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { ConfigError } from '../../core/errors.ts';
import { describeSystemError } from '../../core/system-errors.ts';
import type { Check } from '../model.ts';
import { configOk, lintCheck, type LintFinding } from './finding.ts';
import { lintJdbcUrls } from './jdbc-lint.ts';
import { lintKubernetesYaml } from './k8s-yaml.ts';
import { lintSparkConf } from './spark-conf.ts';

export type LintKind = 'spark-conf' | 'k8s-yaml' | 'jdbc-urls';

/** Configuration files are small; anything bigger is not one. */
export const MAX_LINT_FILE_BYTES = 16 * 1024 * 1024;

export async function lintFile(path: string): Promise<Check[]> {
  const text = await readConfigFile(path);
  const kind = lintKindOf(path, text);
  if (kind === undefined) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `${path}: cannot tell what this file is; lint reads spark-defaults.conf (key value lines), ` +
        'Kubernetes YAML (.yaml/.yml) and files of JDBC URLs (one jdbc:… URL per line)',
    );
  }
  let findings: LintFinding[];
  let evidence: Record<string, number>;
  switch (kind) {
    case 'spark-conf':
      findings = lintSparkConf(text);
      evidence = {};
      break;
    case 'k8s-yaml': {
      const result = lintKubernetesYaml(path, text);
      findings = result.findings;
      evidence = { documents: result.documents, sparkPods: result.sparkPods };
      break;
    }
    case 'jdbc-urls': {
      const result = lintJdbcUrls(text);
      findings = result.findings;
      evidence = { urls: result.urls };
      break;
    }
  }
  if (findings.length === 0) return [configOk(path, kind, evidence)];
  return findings.map((finding) => lintCheck(path, finding));
}

async function readConfigFile(path: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      throw new ConfigError(
        'CONFIG_UNREADABLE',
        `${path}: not a regular file; give a file to lint`,
      );
    }
    if (info.size > MAX_LINT_FILE_BYTES) {
      throw new ConfigError(
        'CONFIG_UNREADABLE',
        `${path}: ${info.size} bytes is too large for a configuration file ` +
          `(lint reads at most ${MAX_LINT_FILE_BYTES} bytes)`,
      );
    }
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const info = describeSystemError(error);
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read ${path}: ${info.summary} (${info.code}); ${info.hint}`,
      { cause: error },
    );
  }
}

/** The kind by file name first, then by the first lines that are not blank or comments. */
export function lintKindOf(path: string, text: string): LintKind | undefined {
  const name = basename(path).toLowerCase();
  const extension = extname(name);
  if (name.startsWith('spark-defaults')) return 'spark-conf';
  if (extension === '.yaml' || extension === '.yml') return 'k8s-yaml';
  const lines = text
    .split(/\r?\n/, 200)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('!'));
  if (lines.some((line) => /^jdbc:/i.test(line))) return 'jdbc-urls';
  if (lines.some((line) => /^(apiVersion|kind):/.test(line))) return 'k8s-yaml';
  if (lines.some((line) => /^spark\.[\w.-]+\s*[\s=:]/.test(line))) return 'spark-conf';
  if (extension === '.conf' || extension === '.properties') return 'spark-conf';
  return undefined;
}
