// §5.4 listBranches / createBranch / deleteBranch, ephemeral namespace (§4.4).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  T_SHORT,
  ZERO_SHA,
  allBranches,
  allCommits,
  branchHead,
  commit,
  expectApiError,
  freshRepo,
  readText,
  wireConformanceTest,
} from './helpers.mjs';

test('listBranches: fields, creation order, paging', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('branches');
  const m1 = await commit(repo, { 'a.txt': 'a\n' });
  const created = [];
  for (const name of ['feature/b', 'alpha', 'zeta', 'release/1.0']) {
    const res = await repo.createBranch({ baseRef: 'main', targetBranch: name });
    assert.equal(res.targetBranch, name);
    assert.equal(res.targetIsEphemeral, false);
    assert.equal(res.commitSha, m1.commitSha, 'commit_sha = new tip');
    assert.equal(typeof res.message, 'string');
    created.push(name);
  }

  const res = await repo.listBranches();
  assert.equal(res.hasMore, false);
  assert.deepEqual(res.branches.map((b) => b.name), ['main', ...created], 'creation order');
  for (const b of res.branches) {
    assert.equal(b.headSha, m1.commitSha, `${b.name} head`);
    assert.equal(typeof b.cursor, 'string');
    assert.ok(b.cursor.length > 0, 'per-item cursor');
    assert.ok(b.createdAt.length > 0, 'created_at present');
    assert.ok(!Number.isNaN(new Date(b.createdAt).getTime()), `created_at parses: ${b.createdAt}`);
    assert.ok(!b.name.startsWith('refs/'), 'short names');
  }

  // Paging with limit 2: 2 + 2 + 1.
  const p1 = await repo.listBranches({ limit: 2 });
  assert.deepEqual(p1.branches.map((b) => b.name), ['main', 'feature/b']);
  assert.equal(p1.hasMore, true);
  assert.ok(p1.nextCursor);
  const p2 = await repo.listBranches({ limit: 2, cursor: p1.nextCursor });
  assert.deepEqual(p2.branches.map((b) => b.name), ['alpha', 'zeta']);
  assert.equal(p2.hasMore, true);
  const p3 = await repo.listBranches({ limit: 2, cursor: p2.nextCursor });
  assert.deepEqual(p3.branches.map((b) => b.name), ['release/1.0']);
  assert.equal(p3.hasMore, false);

  // Per-item cursor resumes after that item.
  const resumed = await repo.listBranches({ limit: 10, cursor: res.branches[2].cursor });
  assert.deepEqual(resumed.branches.map((b) => b.name), ['zeta', 'release/1.0']);

  // Empty cursor is treated as absent.
  const emptyCursor = await repo.listBranches({ cursor: '', limit: 2 });
  assert.deepEqual(emptyCursor.branches.map((b) => b.name), ['main', 'feature/b']);

  // Updates by commit-pack are visible immediately.
  const a2 = await commit(repo, { 'x.txt': 'x\n' }, { targetBranch: 'alpha' });
  assert.equal(await branchHead(repo, 'alpha'), a2.commitSha);
});

test('createBranch from sha, fully-qualified ref and tag-less revisions', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('branch-create');
  const c1 = await commit(repo, { 'a.txt': '1\n' });
  const c2 = await commit(repo, { 'a.txt': '2\n' });

  const fromSha = await repo.createBranch({ baseRef: c1.commitSha, targetBranch: 'from-sha' });
  assert.equal(fromSha.commitSha, c1.commitSha);
  assert.equal(await readText(repo, 'a.txt', { ref: 'from-sha' }), '1\n');

  const fromFull = await repo.createBranch({ baseRef: 'refs/heads/main', targetBranch: 'from-full' });
  assert.equal(fromFull.commitSha, c2.commitSha);

  // Deprecated baseBranch alias.
  const legacy = await repo.createBranch({ baseBranch: 'from-sha', targetBranch: 'legacy-alias' });
  assert.equal(legacy.commitSha, c1.commitSha);

  assert.equal(await branchHead(repo, 'from-sha'), c1.commitSha);
  assert.equal(await branchHead(repo, 'from-full'), c2.commitSha);
  assert.equal(await branchHead(repo, 'legacy-alias'), c1.commitSha);

  // Errors: existing target → 409, unknown base → 404.
  await expectApiError(repo.createBranch({ baseRef: 'main', targetBranch: 'from-sha' }), 409, 'target exists');
  await expectApiError(repo.createBranch({ baseRef: 'no-such-base', targetBranch: 'x' }), 404, 'unknown base');
  await expectApiError(repo.createBranch({ baseRef: 'main', targetBranch: 'bad..name' }), 400, 'invalid branch name');
  assert.equal(await branchHead(repo, 'from-sha'), c1.commitSha, 'failed create leaves branch alone');
});

test('ephemeral branches: listed only with ephemeral=true, promoted via createBranch', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('ephemeral');
  const m1 = await commit(repo, { 'a.txt': 'main\n' });
  const e1 = await commit(repo, { 'a.txt': 'scratch\n', 'new.txt': 'n\n' }, { targetBranch: 'scratch', baseBranch: 'main', ephemeral: true });
  const e2 = await commit(repo, { 'b.txt': 'b\n' }, { targetBranch: 'other-eph', baseBranch: 'main', ephemeral: true });
  // Same name as a normal branch can exist in both namespaces.
  const eMain = await commit(repo, { 'a.txt': 'ephemeral main\n' }, { targetBranch: 'main', baseBranch: 'main', ephemeral: true });

  const eph = await allBranches(repo, { ephemeral: true });
  assert.deepEqual(eph.map((b) => b.name).sort(), ['main', 'other-eph', 'scratch'], 'ephemeral namespace only');
  assert.equal(eph.find((b) => b.name === 'scratch').headSha, e1.commitSha);
  assert.equal(eph.find((b) => b.name === 'other-eph').headSha, e2.commitSha);
  assert.equal(eph.find((b) => b.name === 'main').headSha, eMain.commitSha);
  for (const b of eph) assert.ok(b.createdAt && b.cursor, 'ephemeral entries carry created_at and cursor');

  const normal = await allBranches(repo, { ephemeral: false });
  assert.deepEqual(normal.map((b) => b.name), ['main'], 'ephemeral=false lists the normal namespace');
  assert.equal(normal[0].headSha, m1.commitSha, 'normal main untouched');
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);

  // Reads resolve in the selected namespace.
  assert.equal(await readText(repo, 'a.txt', { ref: 'main', ephemeral: true }), 'ephemeral main\n');
  assert.equal(await readText(repo, 'a.txt', { ref: 'main' }), 'main\n');
  const ephFiles = await repo.listFiles({ ref: 'scratch', ephemeral: true });
  assert.deepEqual([...ephFiles.paths].sort(), ['a.txt', 'new.txt']);
  await expectApiError(repo.listFiles({ ref: 'scratch' }), 404, 'ephemeral branch not visible in normal namespace');

  // Promote: ephemeral scratch → normal "promoted".
  const promoted = await repo.createBranch({ baseRef: 'scratch', baseIsEphemeral: true, targetBranch: 'promoted' });
  assert.equal(promoted.targetBranch, 'promoted');
  assert.equal(promoted.targetIsEphemeral, false);
  assert.equal(promoted.commitSha, e1.commitSha);
  assert.equal(await branchHead(repo, 'promoted'), e1.commitSha);
  assert.equal(await readText(repo, 'new.txt', { ref: 'promoted' }), 'n\n');
  assert.deepEqual((await allCommits(repo, { branch: 'promoted' })).map((c) => c.sha), [e1.commitSha, m1.commitSha]);

  // Promote under the same name.
  const same = await repo.createBranch({ baseRef: 'other-eph', baseIsEphemeral: true, targetBranch: 'other-eph' });
  assert.equal(same.commitSha, e2.commitSha);
  assert.ok((await allBranches(repo)).some((b) => b.name === 'other-eph'));

  // Copy a normal branch into the ephemeral namespace.
  const copy = await repo.createBranch({ baseRef: 'main', targetBranch: 'eph-copy', targetIsEphemeral: true });
  assert.equal(copy.targetIsEphemeral, true);
  assert.equal(copy.commitSha, m1.commitSha);
  assert.ok((await allBranches(repo, { ephemeral: true })).some((b) => b.name === 'eph-copy'));
  assert.ok(!(await allBranches(repo)).some((b) => b.name === 'eph-copy'));

  // Delete an ephemeral branch.
  const del = await repo.deleteBranch({ name: 'scratch', ephemeral: true });
  assert.equal(del.name, 'scratch');
  assert.equal(del.ephemeral, true);
  assert.ok(!(await allBranches(repo, { ephemeral: true })).some((b) => b.name === 'scratch'));
  assert.equal(await branchHead(repo, 'promoted'), e1.commitSha, 'promoted copy survives');
  // The ephemeral "main" can be deleted (default-branch protection is for the normal namespace).
  await repo.deleteBranch({ name: 'main', ephemeral: true });
  assert.equal(await branchHead(repo, 'main'), m1.commitSha);
});

test('deleteBranch: deletes, default branch refused, missing → 404', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('branch-delete');
  const m1 = await commit(repo, { 'a.txt': 'a\n' });
  await repo.createBranch({ baseRef: 'main', targetBranch: 'topic/x' });
  await repo.createBranch({ baseRef: 'main', targetBranch: 'keep' });

  const res = await repo.deleteBranch({ name: 'topic/x' });
  assert.equal(res.name, 'topic/x');
  assert.equal(typeof res.message, 'string');
  assert.equal(res.ephemeral, false);
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main', 'keep']);
  await expectApiError(repo.listCommits({ branch: 'topic/x' }), 404, 'deleted branch is gone');

  await expectApiError(repo.deleteBranch({ name: 'main' }), [400, 409], 'delete default branch');
  assert.equal(await branchHead(repo, 'main'), m1.commitSha, 'default branch still there');

  await expectApiError(repo.deleteBranch({ name: 'topic/x' }), 404, 'delete already-deleted branch');
  await expectApiError(repo.deleteBranch({ name: 'never-existed' }), 404, 'delete missing branch');
  await expectApiError(repo.deleteBranch({ name: 'keep', ephemeral: true }), 404, 'normal branch is not in the ephemeral namespace');
  assert.equal(await branchHead(repo, 'keep'), m1.commitSha);

  // The name can be reused after deletion.
  const again = await commit(repo, { 'b.txt': 'b\n' }, { targetBranch: 'topic/x', baseBranch: 'main' });
  assert.equal(again.refUpdate.oldSha, ZERO_SHA);
  const names = (await allBranches(repo)).map((b) => b.name);
  assert.deepEqual(names, ['main', 'keep', 'topic/x']);
});

wireConformanceTest();
