import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isolationKey, parseGroupsFile } from '../../../../src/gateway/managed/isolation.ts';

const owner = (principal: string, userId: string, sessionId = 's1') => ({
  principal,
  userId,
  sessionId,
});

describe('isolation keys', () => {
  const groups = parseGroupsFile('analysts: alice, bob\n# a comment\nops: carol alice\n', 'groups');

  it('puts every session in the shared pool at level shared', () => {
    assert.equal(isolationKey('shared', owner('', 'alice'), groups), undefined);
  });

  it('keys by the verified principal over the claimed user id', () => {
    assert.equal(isolationKey('user', owner('alice', 'admin'), groups), 'user:alice');
    assert.equal(isolationKey('user', owner('', 'admin'), groups), 'user:admin');
  });

  it("keys by the user's first group, or the user when in none", () => {
    assert.equal(isolationKey('group', owner('alice', 'x'), groups), 'group:analysts');
    assert.equal(isolationKey('group', owner('carol', 'x'), groups), 'group:ops');
    assert.equal(isolationKey('group', owner('dave', 'x'), groups), 'group:dave');
  });

  it('gives each session its own key at level connection', () => {
    assert.notEqual(
      isolationKey('connection', owner('alice', 'x', 's1'), groups),
      isolationKey('connection', owner('alice', 'x', 's2'), groups),
    );
  });
});

describe('groups file', () => {
  it('names the line that is not GROUP: USERS', () => {
    assert.throws(
      () => parseGroupsFile('analysts: alice\njust words\n', '/etc/groups.txt'),
      /\/etc\/groups\.txt:2: expected "GROUP: USER USER…", got "just words"/,
    );
  });

  it('keeps a user in several groups in file order', () => {
    const groups = parseGroupsFile('a: u\nb: u\na: u\n', 'f');
    assert.deepEqual(groups.get('u'), ['a', 'b']);
  });
});
