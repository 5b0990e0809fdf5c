// §5.14 listTags / createTag / deleteTag; ref policies on refs/tags/* (§3).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import {
  SHA_RE,
  T_SHORT,
  commit,
  expectApiError,
  filePaths,
  freshRepo,
  wireConformanceTest,
} from './helpers.mjs';

const run = promisify(execFile);

async function twoCommits(prefix = 'tags') {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, { 'a.txt': 'one\n' }, { message: 'c1' });
  const c2 = await commit(repo, { 'b.txt': 'two\n' }, { message: 'c2' });
  return { repo, c1, c2 };
}

/** Every tag, walking all pages. */
async function allTags(repo, limit = 100) {
  const out = [];
  let cursor;
  for (let page = 0; page < 200; page++) {
    const res = await repo.listTags({ limit, ...(cursor !== undefined ? { cursor } : {}) });
    for (const t of res.tags) {
      assert.equal(typeof t.cursor, 'string', `tag ${t.name}: cursor`);
      assert.ok(t.cursor !== '', `tag ${t.name}: non-empty cursor`);
      assert.match(t.sha, SHA_RE, `tag ${t.name}: sha`);
      assert.ok(!t.name.startsWith('refs/'), `tag ${t.name}: short name`);
    }
    out.push(...res.tags);
    if (!res.hasMore) {
      assert.equal(res.nextCursor, undefined, 'no next_cursor on the last page');
      return out;
    }
    assert.ok(res.nextCursor, 'has_more requires next_cursor');
    cursor = res.nextCursor;
  }
  throw new Error('listTags did not terminate');
}

function byteOrder(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

test('createTag creates a lightweight tag; listTags and reads see it; deleteTag removes it', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await twoCommits();

  const empty = await repo.listTags();
  assert.deepEqual(empty.tags, []);
  assert.equal(empty.hasMore, false);

  const created = await repo.createTag({ name: 'v1.0.0', target: c1.commitSha });
  assert.deepEqual(created, { name: 'v1.0.0', sha: c1.commitSha, message: 'tag created' });
  const second = await repo.createTag({ name: 'v2.0.0', target: c2.commitSha });
  assert.deepEqual(second, { name: 'v2.0.0', sha: c2.commitSha, message: 'tag created' });

  const tags = await allTags(repo);
  assert.deepEqual(
    tags.map((t) => [t.name, t.sha]),
    [
      ['v1.0.0', c1.commitSha],
      ['v2.0.0', c2.commitSha],
    ],
  );

  // The tag is a real ref: reads resolve it.
  assert.deepEqual(await filePaths(repo, { ref: 'v1.0.0' }), ['a.txt']);
  assert.deepEqual(await filePaths(repo, { ref: 'v2.0.0' }), ['a.txt', 'b.txt']);
  const grep = await repo.grep({ query: { pattern: 'one' }, ref: 'v1.0.0' });
  assert.equal(grep.repo.commit, c1.commitSha);

  // Names are trimmed by the SDK.
  const spaced = await repo.createTag({ name: '  spaced  ', target: ` ${c2.commitSha} ` });
  assert.deepEqual(spaced, { name: 'spaced', sha: c2.commitSha, message: 'tag created' });

  const deleted = await repo.deleteTag({ name: 'v1.0.0' });
  assert.deepEqual(deleted, { name: 'v1.0.0', message: 'tag deleted' });
  assert.deepEqual((await allTags(repo)).map((t) => t.name), ['spaced', 'v2.0.0']);
  await expectApiError(repo.listFiles({ ref: 'v1.0.0' }), 404, 'deleted tag no longer resolves');

  // A deleted name can be created again, pointing elsewhere.
  const again = await repo.createTag({ name: 'v1.0.0', target: c2.commitSha });
  assert.equal(again.sha, c2.commitSha);
  assert.equal((await allTags(repo)).find((t) => t.name === 'v1.0.0').sha, c2.commitSha);

  // Tags do not show up as branches.
  const branches = await repo.listBranches();
  assert.deepEqual(branches.branches.map((b) => b.name), ['main']);
});

test('listTags: lexicographic order, cursor paging, per-item cursors', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await twoCommits('tags-list');
  const names = [
    'v1.2.0', 'b', 'a', 'v1.10.0', 'A-upper', 'release/x', 'release/a', 'z', '0-num', 'a.b', 'a-b', 'a_b',
    'v1.2.0-rc.1', 'release/b/nested', 'Z', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u',
  ];
  const targets = {};
  for (const [i, name] of names.entries()) {
    const target = i % 2 === 0 ? c1.commitSha : c2.commitSha;
    targets[name] = target;
    const res = await repo.createTag({ name, target });
    assert.equal(res.sha, target);
  }
  const sorted = [...names].sort(byteOrder);

  // Default page: 20 tags (§4.2), sorted.
  const first = await repo.listTags();
  assert.equal(first.tags.length, 20, 'default limit 20');
  assert.equal(first.hasMore, true);
  assert.ok(first.nextCursor);
  assert.deepEqual(first.tags.map((t) => t.name), sorted.slice(0, 20));

  // Walk with several page sizes.
  for (const limit of [1, 3, 7, 100]) {
    const all = await allTags(repo, limit);
    assert.deepEqual(all.map((t) => t.name), sorted, `limit ${limit}: every tag once, in byte order`);
    for (const t of all) assert.equal(t.sha, targets[t.name], `${t.name} sha`);
  }

  // Pages respect the limit; next_cursor resumes right after the page.
  const p1 = await repo.listTags({ limit: 5 });
  assert.deepEqual(p1.tags.map((t) => t.name), sorted.slice(0, 5));
  const p2 = await repo.listTags({ limit: 5, cursor: p1.nextCursor });
  assert.deepEqual(p2.tags.map((t) => t.name), sorted.slice(5, 10));

  // Per-item cursor resumes after that item.
  const full = await allTags(repo);
  for (const i of [0, 4, 11, full.length - 2, full.length - 1]) {
    const res = await repo.listTags({ cursor: full[i].cursor, limit: 100 });
    assert.deepEqual(res.tags.map((t) => t.name), sorted.slice(i + 1), `resume after ${full[i].name}`);
    assert.equal(res.hasMore, false);
  }

  // An empty cursor is treated as absent (§4.2).
  const emptyCursor = await repo.listTags({ cursor: '', limit: 3 });
  assert.deepEqual(emptyCursor.tags.map((t) => t.name), sorted.slice(0, 3));
});

test('createTag errors: existing → 409, invalid name → 400, unknown target; deleteTag missing → 404', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await twoCommits('tags-errors');
  await repo.createTag({ name: 'v1', target: c1.commitSha });

  await expectApiError(repo.createTag({ name: 'v1', target: c2.commitSha }), 409, 'existing tag');
  await expectApiError(repo.createTag({ name: 'v1', target: c1.commitSha }), 409, 'existing tag, same target');
  assert.equal((await allTags(repo)).find((t) => t.name === 'v1').sha, c1.commitSha, 'existing tag unchanged');

  for (const name of ['bad..name', 'has space', 'ends.lock', 'trailing/', 'tilde~1', 'colon:x', 'x@{y', 'caret^', 'q?', 'star*', 'a/.hidden', 'back\\slash']) {
    await expectApiError(repo.createTag({ name, target: c1.commitSha }), 400, `invalid name ${JSON.stringify(name)}`);
  }
  await expectApiError(repo.createTag({ name: 'ok-name', target: 'not-a-sha!' }), [400, 404], 'target is not a sha');
  await expectApiError(repo.createTag({ name: 'ok-name', target: 'e'.repeat(40) }), [400, 404], 'unknown target commit');
  // A name that cannot coexist with an existing tag (v1 vs v1/x) is refused.
  await expectApiError(repo.createTag({ name: 'v1/x', target: c1.commitSha }), [400, 409], 'v1/x next to v1');
  assert.deepEqual((await allTags(repo)).map((t) => t.name), ['v1'], 'nothing created by the failures');

  await expectApiError(repo.deleteTag({ name: 'missing' }), 404, 'delete a missing tag');
  await repo.deleteTag({ name: 'v1' });
  await expectApiError(repo.deleteTag({ name: 'v1' }), 404, 'delete twice');

  // The SDK refuses refs/ names itself.
  await assert.rejects(repo.createTag({ name: 'refs/tags/x', target: c1.commitSha }), /must not start with refs\//);
  await assert.rejects(repo.deleteTag({ name: 'refs/tags/x' }), /must not start with refs\//);
});

test('refPolicies no-push on refs/tags/* → 403 denied by policy', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await twoCommits('tags-policy');
  await repo.createTag({ name: 'existing', target: c1.commitSha });
  const noTags = [{ pattern: 'refs/tags/*', ops: ['no-push'] }];

  const denied = await expectApiError(
    repo.createTag({ name: 'v9', target: c1.commitSha, refPolicies: noTags }),
    403,
    'create under no-push',
  );
  assert.match(denied.message, /denied by policy/);
  const deniedDelete = await expectApiError(
    repo.deleteTag({ name: 'existing', refPolicies: noTags }),
    403,
    'delete under no-push',
  );
  assert.match(deniedDelete.message, /denied by policy/);
  assert.deepEqual((await allTags(repo)).map((t) => [t.name, t.sha]), [['existing', c1.commitSha]], 'nothing changed');

  // Branch writes are not affected by a tags-only policy.
  await commit(repo, { 'c.txt': 'c\n' }, { refPolicies: noTags });

  // A narrower pattern only protects what it matches.
  const releaseOnly = [{ pattern: 'refs/tags/release/*', ops: ['no-push'] }];
  await expectApiError(repo.createTag({ name: 'release/1.0', target: c2.commitSha, refPolicies: releaseOnly }), 403, 'release/*');
  const v2 = await repo.createTag({ name: 'v2', target: c2.commitSha, refPolicies: releaseOnly });
  assert.equal(v2.sha, c2.commitSha);

  // First match wins: an earlier explicit allow shadows the deny.
  const allowV3 = [
    { pattern: 'refs/tags/v3', ops: [] },
    { pattern: 'refs/tags/*', ops: ['no-push'] },
  ];
  assert.equal((await repo.createTag({ name: 'v3', target: c1.commitSha, refPolicies: allowV3 })).name, 'v3');
  await expectApiError(repo.createTag({ name: 'v4', target: c1.commitSha, refPolicies: allowV3 }), 403, 'v4 falls to the deny rule');
  assert.deepEqual((await repo.deleteTag({ name: 'v3', refPolicies: allowV3 })).name, 'v3');

  // A policy on branches does not block tags.
  const mainOnly = [{ pattern: 'main', ops: ['no-push'] }];
  assert.equal((await repo.createTag({ name: 'v5', target: c1.commitSha, refPolicies: mainOnly })).name, 'v5');

  assert.deepEqual((await allTags(repo)).map((t) => t.name), ['existing', 'v2', 'v5']);
});

test('annotated tags pushed over Git: listTags reports the peeled commit; deleteTag removes them', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await twoCommits('tags-annotated');
  const url = await repo.getRemoteURL({ permissions: ['git:read', 'git:write'] });
  const dir = await mkdtemp(join(tmpdir(), 'strata-sdk-tags-'));
  const env = {
    ...process.env,
    GIT_SSL_CAINFO: process.env.NODE_EXTRA_CA_CERTS,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: dir,
    GIT_AUTHOR_NAME: 'Tagger',
    GIT_AUTHOR_EMAIL: 'tagger@sdk.example',
    GIT_COMMITTER_NAME: 'Tagger',
    GIT_COMMITTER_EMAIL: 'tagger@sdk.example',
  };
  const git = (...args) => run('git', args, { cwd: dir, env, timeout: 30_000 });
  try {
    await git('init', '-q', '--bare');
    await git('fetch', '-q', url, '+refs/heads/main:refs/heads/main');
    await git('tag', '-a', '-m', 'annotated release', 'ann-1', c1.commitSha);
    await git('tag', '-a', '-m', 'tag of a tag', 'ann-nested', 'ann-1');
    await git('push', '-q', url, 'refs/tags/ann-1', 'refs/tags/ann-nested');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await repo.createTag({ name: 'light', target: c2.commitSha });

  const tags = await allTags(repo);
  assert.deepEqual(
    tags.map((t) => [t.name, t.sha]),
    [
      ['ann-1', c1.commitSha],
      ['ann-nested', c1.commitSha],
      ['light', c2.commitSha],
    ],
    'annotated tags list the peeled commit sha',
  );

  await expectApiError(repo.createTag({ name: 'ann-1', target: c2.commitSha }), 409, 'annotated tag exists');
  assert.deepEqual(await repo.deleteTag({ name: 'ann-1' }), { name: 'ann-1', message: 'tag deleted' });
  assert.deepEqual((await allTags(repo)).map((t) => t.name), ['ann-nested', 'light']);
});

wireConformanceTest();
