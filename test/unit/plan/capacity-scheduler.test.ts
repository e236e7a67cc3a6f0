// capacity-scheduler.xml parsed back with an XML parser: well-formed, Hadoop's configuration
// shape, the plan's numbers under the names YARN reads, and capacities under root adding to 100.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { escapeXml, renderCapacityScheduler } from '../../../src/plan/capacity-scheduler.ts';
import { planDeployment, type PlanInput } from '../../../src/plan/sizing.ts';
import { emrExample, GIB } from './emr-example.ts';
import { readHadoopConfiguration } from './hadoop-configuration.ts';

function plan(overrides: Partial<PlanInput> = {}) {
  return planDeployment(emrExample(overrides));
}

describe('capacity-scheduler.xml', () => {
  it("holds the plan's queues as YARN names them", () => {
    const conf = readHadoopConfiguration(renderCapacityScheduler(plan(), 'a header'));
    assert.deepEqual(Object.fromEntries(conf), {
      'yarn.scheduler.capacity.root.queues': 'default,sparkconnect',
      'yarn.scheduler.capacity.root.default.capacity': '70',
      'yarn.scheduler.capacity.root.default.maximum-capacity': '100',
      'yarn.scheduler.capacity.root.sparkconnect.capacity': '30',
      'yarn.scheduler.capacity.root.sparkconnect.maximum-capacity': '40',
      'yarn.scheduler.capacity.root.sparkconnect.maximum-applications': '8',
      'yarn.scheduler.capacity.root.sparkconnect.user-limit-factor': '1.4',
      'yarn.scheduler.capacity.root.sparkconnect.state': 'RUNNING',
    });
  });

  it('capacities of the queues under root add up to 100 and stay below their maximum', () => {
    for (const overrides of [
      {},
      { concurrentUsers: 50, driverMemory: 8 * GIB, clusterMemory: 256 * GIB },
      { concurrentUsers: 1, queue: 'bi_users-2' },
    ]) {
      const conf = readHadoopConfiguration(renderCapacityScheduler(plan(overrides), 'h'));
      const queues = (conf.get('yarn.scheduler.capacity.root.queues') ?? '').split(',');
      assert.equal(queues.length, 2);
      let total = 0;
      for (const queue of queues) {
        const capacity = Number(conf.get(`yarn.scheduler.capacity.root.${queue}.capacity`));
        const maximum = Number(conf.get(`yarn.scheduler.capacity.root.${queue}.maximum-capacity`));
        assert.ok(
          capacity > 0 && capacity <= maximum && maximum <= 100,
          `${queue}: ${String(capacity)}/${String(maximum)}`,
        );
        total += capacity;
      }
      assert.equal(total, 100);
    }
  });

  it('stays well-formed whatever the header says', () => {
    const xml = renderCapacityScheduler(plan(), 'made by `a --b -- c` <&> "quoted" --');
    readHadoopConfiguration(xml);
    assert.match(xml, /<!-- made by `a -b - c` <&> "quoted" - -->/);
  });

  it('malformed XML is refused by the reader', () => {
    const xml = renderCapacityScheduler(plan(), 'h');
    assert.throws(() => readHadoopConfiguration(xml.replace('</value>', '')), /closing tag/);
    assert.throws(() => readHadoopConfiguration(xml.replace('<!-- h', '<!-- h -- h')), /--/);
  });

  it('escapes the five XML special characters', () => {
    assert.equal(
      escapeXml(`<a href="x">&'</a>`),
      '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;',
    );
    const parsed = new XMLParser().parse(`<v>${escapeXml('1 < 2 & "3"')}</v>`) as { v: string };
    assert.equal(parsed.v, '1 < 2 & "3"');
  });
});
