// A Hadoop configuration file (capacity-scheduler.xml) read back as YARN's Configuration reads it,
// after an XML parser has said it is well-formed; shared by the unit and CLI tests of the plan.
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';

interface Property {
  name: string;
  value: string;
  description: string;
}

/** Property name → value; fails on malformed XML, a missing shape or a name set twice. */
export function readHadoopConfiguration(xml: string): Map<string, string> {
  // Throws naming the line and column; `--` in comments is refused as XML 1.0 does.
  SyntaxValidator.validate(xml, {
    xmlDeclaraion: { optional: false },
    invalidCharSequence: { comment: true, tagValue: true, attrLt: true },
  });
  const parsed = new XMLParser({
    isArray: (name) => name === 'property',
    parseTagValue: false,
  }).parse(xml) as { configuration?: { property?: Property[] } };
  const properties = parsed.configuration?.property;
  assert.ok(properties !== undefined, 'no <configuration><property> elements');
  const map = new Map<string, string>();
  for (const property of properties) {
    assert.equal(typeof property.name, 'string');
    assert.equal(typeof property.value, 'string', `${property.name} has no text value`);
    assert.ok(!map.has(property.name), `${property.name} is set twice`);
    map.set(property.name, property.value);
  }
  return map;
}
