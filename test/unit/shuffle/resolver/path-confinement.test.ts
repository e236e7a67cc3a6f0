// Path confinement, the parts that need no file system: containment, the synchronous check made
// before every open, and the messages a person sees.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';
import {
  assertConfined,
  checkAbsolutePath,
  isUnder,
} from '../../../../src/shuffle/resolver/path-confinement.ts';

describe('isUnder', () => {
  for (const [candidate, root, expected] of [
    ['/data/spark/blockmgr-1/0c/x', '/data/spark', true],
    ['/data/spark', '/data/spark', true],
    ['/data/spark/', '/data/spark', true],
    ['/data/spark', '/data/spark/', true],
    ['/data/sparkling/x', '/data/spark', false],
    ['/data', '/data/spark', false],
    ['/data/spark/../other', '/data/spark', false],
    ['/etc/passwd', '/', true],
    ['data/spark/x', 'data/spark', false],
    ['data/spark/x', '/data/spark', false],
    ['/data/spark/x', 'data/spark', false],
  ] as const) {
    it(`${candidate} under ${root}: ${expected}`, () => {
      assert.equal(isUnder(candidate, root), expected);
    });
  }
});

describe('assertConfined', () => {
  it('passes a path under any one of the roots', () => {
    assert.doesNotThrow(() => {
      assertConfined('/b/blockmgr/0c/f', ['/a', '/b']);
    });
  });

  it('refuses a path under none, naming it, the roots and the fix', () => {
    assert.throws(
      () => {
        assertConfined('/etc/passwd', ['/data/spark', '/mnt/ssd']);
      },
      (error: unknown) => {
        assert.ok(error instanceof ShuffleError);
        assert.equal(error.code, 'ESS_PATH_NOT_ALLOWED');
        assert.match(error.message, /"\/etc\/passwd"/);
        assert.match(error.message, /"\/data\/spark", "\/mnt\/ssd"/);
        assert.match(error.message, /--allowed-root covering spark\.local\.dir/);
        return true;
      },
    );
  });

  it('names what was asked for and where it really leads', () => {
    assert.throws(
      () => {
        assertConfined('/outside/x.data', ['/data'], '/data/blockmgr/0c/x.data');
      },
      {
        code: 'ESS_PATH_NOT_ALLOWED',
        message: /"\/data\/blockmgr\/0c\/x\.data": it resolves to "\/outside\/x\.data"/,
      },
    );
  });

  it('refuses everything when no root is configured, and says so', () => {
    assert.throws(
      () => {
        assertConfined('/data/spark/x', []);
      },
      { code: 'ESS_PATH_NOT_ALLOWED', message: /no --allowed-root is configured/ },
    );
  });
});

describe('checkAbsolutePath', () => {
  for (const [text, reason] of [
    ['', /empty/],
    ['/data/\0/x', /NUL/],
    ['relative/dir', /not absolute/],
    ['./x', /not absolute/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => {
          checkAbsolutePath(text, 'local dir');
        },
        { code: 'ESS_PATH_NOT_ALLOWED', message: reason },
      );
    });
  }

  it('passes an absolute path', () => {
    assert.doesNotThrow(() => {
      checkAbsolutePath('/data/spark/blockmgr-1', 'local dir');
    });
  });
});
