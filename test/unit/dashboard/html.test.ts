// The dashboard's HTML templates: every interpolated value is text unless it is Html itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, markup, toText, trusted } from '../../../src/dashboard/html.ts';
import { cappedTable } from '../../../src/dashboard/section.ts';

describe('markup templates', () => {
  it('escapes text in element content and in attributes', () => {
    const name = `<img src=x onerror="alert('1')">&\``;
    const escaped = '&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;&#96;';
    assert.equal(
      toText(markup`<td title="${name}">${name}</td>`),
      `<td title="${escaped}">${escaped}</td>`,
    );
  });

  it('keeps nested templates and lists as markup, their values escaped once', () => {
    const rows = ['a<b', 'c&d'].map((cell) => markup`<tr><td>${cell}</td></tr>`);
    assert.equal(
      toText(markup`<tbody>${rows}</tbody>`),
      '<tbody><tr><td>a&lt;b</td></tr><tr><td>c&amp;d</td></tr></tbody>',
    );
  });

  it('writes nothing for undefined, null and false, and numbers as text', () => {
    assert.equal(toText(markup`[${undefined}${null}${false}${0}${1.5}]`), '[01.5]');
  });

  it('never takes another object as markup, whatever its toString says', () => {
    const forged = { toString: () => '<script>' } as unknown as string;
    assert.equal(toText(markup`${forged}`), '[object Object]');
    assert.equal(toText(trusted('<b>')), '<b>');
    assert.equal(escapeHtml('"\''), '&quot;&#39;');
  });

  it('caps a table and says how many rows there are', () => {
    const table = toText(
      cappedTable({
        id: 't',
        rows: Array.from({ length: 7 }, (_, i) => i),
        maxRows: 3,
        noun: 'things',
        head: ['n'],
        row: (n) => markup`<tr><td>${n}</td></tr>`,
        empty: 'none',
      }),
    );
    assert.equal(table.match(/<tr><td>/g)?.length, 3);
    assert.match(table, /Showing the first 3 of 7 things\./);
  });
});
