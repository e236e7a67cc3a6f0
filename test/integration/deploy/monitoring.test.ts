// deploy/prometheus and deploy/grafana against the metrics sparkplane really serves: a real
// `sparkplane gateway` (in front of an in-repo Spark Connect server) and a real `sparkplane
// shuffle` are started on loopback and scraped, and every metric an alert, a dashboard panel or a
// dashboard variable names must be in what they serve. promtool checks the scrape config, the
// alert rules and every dashboard query as PromQL; the dashboard's own structure is checked here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { prerequisiteOptions, programMissing } from '../../support/prerequisite.ts';
import { ROOT } from '../../support/sparkplane-cli.ts';
import { freePort, startService, type RunningService } from '../../support/sparkplane-service.ts';
import { exposedMetricNames } from './metric-names.ts';

const PROMETHEUS = join(ROOT, 'deploy', 'prometheus');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'sparkplane-dashboard.json');
/** Series Prometheus makes itself for every target; no exporter serves them. */
const PROMETHEUS_OWN = new Set(['up']);

const PROMTOOL_MISSING =
  'promtool is not installed: the Prometheus checks need it (Debian/Ubuntu: apt-get install prometheus)';

function promtoolMissing(): string | undefined {
  return programMissing('promtool', PROMTOOL_MISSING);
}

function promtoolOptions(): { skip?: string } {
  return prerequisiteOptions(promtoolMissing());
}

function promtool(args: readonly string[]): { status: number | null; output: string } {
  const missing = promtoolMissing();
  if (missing !== undefined) throw new Error(missing);
  const run = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

interface AlertRules {
  groups: { name: string; rules: { alert: string; expr: string }[] }[];
}

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

const alerts = (
  parse(readFileSync(join(PROMETHEUS, 'sparkplane-alerts.yml'), 'utf8')) as AlertRules
).groups.flatMap((group) => group.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const queries = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr })),
);
const variableQueries = dashboard.templating.list
  .filter((variable) => variable.type === 'query')
  .map((variable) => ({ where: `variable ${variable.name}`, expr: variable.definition ?? '' }));

/** Grafana's variables replaced by values PromQL accepts, as Grafana does before it queries. */
function asPromql(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$\w+/g, '.*');
}

/** Metric names an expression reads (sparkplane's by their prefix, and Prometheus's own). */
function metricsIn(expr: string): string[] {
  const names = expr.match(/\bsparkplane_[a-z0-9_]+\b/g) ?? [];
  const own = [...PROMETHEUS_OWN].filter((name) => new RegExp(`\\b${name}\\{`).test(expr));
  return [...names, ...own];
}

describe('deploy/prometheus and deploy/grafana', () => {
  let scraped = new Set<string>();
  let gateway: RunningService | undefined;
  let shuffle: RunningService | undefined;
  let fake: FakeSparkConnect | undefined;
  let dir = '';
  let resources: ResourceCounts;

  before(
    async () => {
      resources = activeResources();
      dir = mkdtempSync(join(tmpdir(), 'sparkplane-monitoring-'));
      fake = await startFakeSparkConnect();
      gateway = await startService('gateway', [
        `--host=127.0.0.1`,
        `--port=${String(await freePort())}`,
        '--admin-port=0',
        `--backend=127.0.0.1:${String(fake.port)}`,
      ]);
      shuffle = await startService('shuffle', [
        '--host=127.0.0.1',
        `--port=${String(await freePort())}`,
        '--metrics-port=0',
        `--allowed-root=${dir}`,
      ]);
      const gatewayNames = await exposedMetricNames(gateway.adminPort);
      const shuffleNames = await exposedMetricNames(shuffle.adminPort);
      assert.ok(
        gatewayNames.has('sparkplane_gateway_rpcs_total'),
        'the gateway serves its metrics',
      );
      assert.ok(shuffleNames.has('sparkplane_shuffle_active_connections'), 'and the shuffle its');
      scraped = new Set([...gatewayNames, ...shuffleNames]);
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      await gateway?.stop();
      await shuffle?.stop();
      await fake?.close();
      rmSync(dir, { recursive: true, force: true });
      await assertNothingLeaked(resources, 'the monitoring test');
    },
    { timeout: 60_000 },
  );

  it('every metric an alert reads is served', () => {
    assert.ok(alerts.length >= 6);
    for (const rule of alerts) {
      const names = metricsIn(rule.expr);
      assert.ok(names.length > 0, `alert ${rule.alert} reads no metric`);
      for (const name of names)
        assert.ok(PROMETHEUS_OWN.has(name) || scraped.has(name), `alert ${rule.alert}: no ${name}`);
    }
  });

  it('every metric a dashboard panel or variable reads is served', () => {
    assert.ok(queries.length >= 20);
    for (const { where, expr } of [...queries, ...variableQueries]) {
      const names = metricsIn(expr);
      assert.ok(names.length > 0, `${where} reads no metric: ${expr}`);
      for (const name of names) assert.ok(scraped.has(name), `${where}: no ${name} is served`);
    }
  });

  it('the check notices a metric that is not served', () => {
    assert.equal(scraped.has('sparkplane_gateway_sessions_total'), false);
    assert.deepEqual(metricsIn('rate(sparkplane_gateway_rpc_duration_seconds_bucket[1m])'), [
      'sparkplane_gateway_rpc_duration_seconds_bucket',
    ]);
    assert.ok(scraped.has('sparkplane_gateway_rpc_duration_seconds_bucket'));
  });

  it('promtool accepts the scrape config and the alert rules', promtoolOptions(), () => {
    const config = promtool(['check', 'config', join(PROMETHEUS, 'prometheus.yml')]);
    assert.equal(config.status, 0, config.output);
    assert.match(config.output, /SUCCESS: 8 rules found/);
  });

  it('promtool parses every dashboard query as PromQL', promtoolOptions(), () => {
    const rules = (exprs: readonly string[]): string => {
      const file = join(dir, 'dashboard-queries.yml');
      const recording = exprs.map((expr, index) => ({
        record: `dashboard:query_${String(index)}`,
        expr: asPromql(expr),
      }));
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: recording }] }));
      return file;
    };
    const checked = promtool(['check', 'rules', rules(queries.map((q) => q.expr))]);
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, new RegExp(`SUCCESS: ${String(queries.length)} rules found`));
    const broken = promtool(['check', 'rules', rules(['sum by (le (rate(x[1m]))'])]);
    assert.notEqual(broken.status, 0, 'promtool let a broken query through');
  });

  it('the dashboard is a Grafana dashboard: ids, grid, queries and the datasource variable', () => {
    assert.equal(dashboard.uid, 'sparkplane-overview');
    assert.ok(dashboard.title.length > 0 && Number.isInteger(dashboard.schemaVersion));
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(variables.get('datasource')?.type, 'datasource');
    assert.equal(variables.get('datasource')?.query, 'prometheus');
    const ids = new Set<number>();
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      assert.ok(!ids.has(panel.id), `panel id ${String(panel.id)} twice`);
      ids.add(panel.id);
      assert.ok(['row', 'timeseries', 'stat'].includes(panel.type), panel.type);
      const { h, w, x, y } = panel.gridPos;
      assert.ok(w > 0 && h > 0 && x >= 0 && y >= 0 && x + w <= 24, `${panel.title}: grid`);
      for (let row = y; row < y + h; row++)
        for (let column = x; column < x + w; column++) {
          const cell = `${String(row)}:${String(column)}`;
          assert.ok(!cells.has(cell), `${panel.title} overlaps another panel at ${cell}`);
          cells.add(cell);
        }
      if (panel.type === 'row') continue;
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' });
      const targets = panel.targets ?? [];
      assert.ok(targets.length > 0, `${panel.title} has no query`);
      assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length);
      for (const target of targets) {
        assert.deepEqual(target.datasource, panel.datasource);
        assert.ok(target.expr.trim() !== '' && target.legendFormat !== undefined, panel.title);
      }
    }
  });
});
