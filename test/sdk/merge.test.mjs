// §5.5.2 merge → POST /repos/merge, §5.5.1 previewMerge → GET /repos/merge/preview.
//
// Expected merge trees are computed independently with the local git CLI
// (same files in a scratch index → `git write-tree`).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import {
  AUTHOR,
  COMMITTER,
  SHA_RE,
  T_SHORT,
  allBranches,
  allCommits,
  branchHead,
  commit,
  expectApiError,
  filePaths,
  freshRepo,
  git,
  gitBlobSha,
  readFile,
  readText,
  tempDir,
  wireConformanceTest,
} from './helpers.mjs';

/** Tree SHA git computes for a set of regular files ({path: string | Uint8Array}). */
async function treeOf(files) {
  const dir = tempDir('strata-merge-tree-');
  await git(['init', '-q', '-b', 'main', dir]);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git(['add', '-A'], { cwd: dir });
  return (await git(['write-tree'], { cwd: dir })).trim();
}

/** Pushes a root commit holding `files` to `branch` through the SDK remote URL. */
async function pushOrphan(repo, branch, files) {
  const dir = tempDir('strata-orphan-');
  await git(['init', '-q', '-b', 'orphan', dir]);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '-q', '-m', 'unrelated root'], { cwd: dir });
  const sha = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  await git(['push', '-q', await repo.getRemoteURL(), `HEAD:refs/heads/${branch}`], { cwd: dir });
  assert.equal(await branchHead(repo, branch), sha, 'pushed orphan branch is listed');
  return sha;
}

/** Heads of every branch (normal and ephemeral), for "nothing moved" checks. */
async function allHeads(repo) {
  const normal = (await allBranches(repo)).map((b) => `${b.name}=${b.headSha}`);
  const eph = (await allBranches(repo, { ephemeral: true })).map((b) => `~${b.name}=${b.headSha}`);
  return [...normal, ...eph].sort();
}

const BASE = { 'a.txt': 'alpha\n', 'shared.txt': 'one\ntwo\nthree\nfour\nfive\n' };

/**
 * main: c1 → m2 (adds main2.txt, edits the top of shared.txt);
 * feature (from c1): f1 (feat1.txt) → f2 (feat2.txt, edits the bottom of shared.txt).
 */
async function diverged(prefix) {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, BASE, { message: 'c1' });
  const f1 = await commit(repo, { 'feat1.txt': 'f1\n' }, { targetBranch: 'feature', baseBranch: 'main', message: 'f1' });
  const f2 = await commit(
    repo,
    { 'feat2.txt': 'f2\n', 'shared.txt': 'one\ntwo\nthree\nfour\nFIVE\n' },
    { targetBranch: 'feature', message: 'f2' },
  );
  const m2 = await commit(repo, { 'main2.txt': 'm2\n', 'shared.txt': 'ONE\ntwo\nthree\nfour\nfive\n' }, { message: 'm2' });
  const mergedFiles = {
    'a.txt': 'alpha\n',
    'shared.txt': 'ONE\ntwo\nthree\nfour\nFIVE\n',
    'feat1.txt': 'f1\n',
    'feat2.txt': 'f2\n',
    'main2.txt': 'm2\n',
  };
  return { repo, c1, f1, f2, m2, mergedFiles };
}

/** main: c1; feature (from c1): f1 → f2 (a fast-forward is possible). */
async function linear(prefix) {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, BASE, { message: 'c1' });
  const f1 = await commit(repo, { 'feat1.txt': 'f1\n' }, { targetBranch: 'feature', baseBranch: 'main', message: 'f1' });
  const f2 = await commit(repo, { 'feat2.txt': 'f2\n' }, { targetBranch: 'feature', message: 'f2' });
  return { repo, c1, f1, f2 };
}

// ------------------------------------------------------------ merge

test('merge strategy=merge: merge commit with message, author, committer, promoted_commits', { timeout: T_SHORT }, async () => {
  const { repo, c1, f1, f2, m2, mergedFiles } = await diverged('merge');
  const res = await repo.merge({
    sourceBranch: 'feature',
    targetBranch: 'main',
    strategy: 'merge',
    expectedTargetSha: m2.commitSha,
    commitMessage: 'Merge feature work',
    author: AUTHOR,
    committer: COMMITTER,
  });
  assert.equal(res.result, 'merge_commit');
  assert.match(res.commitSha, SHA_RE);
  assert.notEqual(res.commitSha, m2.commitSha);
  assert.equal(res.treeSha, await treeOf(mergedFiles), 'tree = three-way merge result');
  assert.deepEqual(res.source, { branch: 'feature', ephemeral: false, sha: f2.commitSha });
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: m2.commitSha, newSha: res.commitSha });
  assert.equal(res.mergeBaseSha, c1.commitSha);
  assert.equal(res.promotedCommits, 3, 'f1, f2 and the merge commit become reachable from main (Q11)');

  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [m2.commitSha, f2.commitSha], 'parents: target tip, then source tip');
  assert.equal(info.message.trimEnd(), 'Merge feature work');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.authorEmail, AUTHOR.email);
  assert.equal(info.committerName, COMMITTER.name);
  assert.equal(info.committerEmail, COMMITTER.email);

  assert.equal(await branchHead(repo, 'main'), res.commitSha);
  assert.equal(await branchHead(repo, 'feature'), f2.commitSha, 'source untouched');
  assert.deepEqual(await filePaths(repo), Object.keys(mergedFiles).sort());
  assert.equal(await readText(repo, 'shared.txt'), mergedFiles['shared.txt']);
  const history = new Set((await allCommits(repo)).map((c) => c.sha));
  for (const c of [c1, f1, f2, m2]) assert.ok(history.has(c.commitSha), `${c.commitSha} reachable from main`);
});

test('merge strategy=merge: no fast-forward even when one is possible; default message', { timeout: T_SHORT }, async () => {
  const { repo, c1, f2 } = await linear('merge-noff');
  const res = await repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'merge', author: AUTHOR });
  assert.equal(res.result, 'merge_commit');
  assert.notEqual(res.commitSha, f2.commitSha, 'a new merge commit, not the source tip');
  assert.equal(res.treeSha, f2.treeSha, 'tree equals the source tree');
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: c1.commitSha, newSha: res.commitSha });
  assert.equal(res.promotedCommits, 3, 'f1, f2 and the merge commit (Q11)');
  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [c1.commitSha, f2.commitSha]);
  assert.equal(info.message.trimEnd(), "Merge branch 'feature' into main", 'default message (Q11)');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.committerName, AUTHOR.name, 'committer defaults to author');
});

test('merge strategy=ff_only: fast-forward, or 409 when diverged', { timeout: T_SHORT }, async () => {
  const { repo, c1, f2 } = await linear('merge-ffonly');
  const res = await repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_only', expectedTargetSha: c1.commitSha });
  assert.equal(res.result, 'fast_forward');
  assert.equal(res.commitSha, f2.commitSha, 'target moves to the source tip');
  assert.equal(res.treeSha, f2.treeSha);
  assert.deepEqual(res.source, { branch: 'feature', ephemeral: false, sha: f2.commitSha });
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: c1.commitSha, newSha: f2.commitSha });
  if (res.mergeBaseSha !== undefined) assert.equal(res.mergeBaseSha, c1.commitSha);
  assert.equal(res.promotedCommits, 2, 'f1 and f2');
  assert.equal(await branchHead(repo, 'main'), f2.commitSha);

  const d = await diverged('merge-ffonly-div');
  const err = await expectApiError(
    d.repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_only' }),
    409,
    'ff_only on diverged branches (Q11)',
  );
  assert.equal(typeof err.body?.error, 'string');
  assert.equal(await branchHead(d.repo, 'main'), d.m2.commitSha, 'target unchanged');
  assert.equal((await allCommits(d.repo)).length, 2, 'no commit created on main');
});

test('merge strategy=ff_prefer: fast-forward when possible, merge commit otherwise', { timeout: T_SHORT }, async () => {
  const l = await linear('merge-ffprefer');
  const ff = await l.repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_prefer' });
  assert.equal(ff.result, 'fast_forward');
  assert.equal(ff.commitSha, l.f2.commitSha);
  assert.deepEqual(ff.target, { branch: 'main', ephemeral: false, oldSha: l.c1.commitSha, newSha: l.f2.commitSha });
  assert.equal(ff.promotedCommits, 2);

  const d = await diverged('merge-ffprefer-div');
  const mc = await d.repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_prefer', author: AUTHOR });
  assert.equal(mc.result, 'merge_commit');
  assert.equal(mc.treeSha, await treeOf(d.mergedFiles));
  assert.equal(mc.mergeBaseSha, d.c1.commitSha);
  assert.equal(mc.promotedCommits, 3);
  const { commit: info } = await d.repo.getCommit({ sha: mc.commitSha });
  assert.deepEqual(info.parentShas, [d.m2.commitSha, d.f2.commitSha]);
});

test('merge squash: one commit on top of the target with the merged tree', { timeout: T_SHORT }, async () => {
  const d = await diverged('merge-squash');
  const res = await d.repo.merge({
    sourceBranch: 'feature',
    targetBranch: 'main',
    strategy: 'merge',
    squash: true,
    commitMessage: 'Squashed feature',
    author: AUTHOR,
  });
  assert.equal(res.result, 'squash');
  assert.equal(res.treeSha, await treeOf(d.mergedFiles));
  assert.deepEqual(res.source, { branch: 'feature', ephemeral: false, sha: d.f2.commitSha });
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: d.m2.commitSha, newSha: res.commitSha });
  assert.equal(res.promotedCommits, 1, 'only the squash commit (Q11)');
  const { commit: info } = await d.repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [d.m2.commitSha], 'single parent: previous target tip');
  assert.equal(info.message.trimEnd(), 'Squashed feature');
  assert.equal(info.authorName, AUTHOR.name);
  const history = (await allCommits(d.repo)).map((c) => c.sha);
  assert.deepEqual(history, [res.commitSha, d.m2.commitSha, d.c1.commitSha], 'source commits not brought in');
  assert.equal(await branchHead(d.repo, 'feature'), d.f2.commitSha);

  // ff_prefer + squash squashes even when a fast-forward would be possible.
  const l = await linear('merge-squash-ff');
  const sq = await l.repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_prefer', squash: true, author: AUTHOR });
  assert.equal(sq.result, 'squash');
  assert.notEqual(sq.commitSha, l.f2.commitSha);
  assert.equal(sq.treeSha, l.f2.treeSha);
  const { commit: sqInfo } = await l.repo.getCommit({ sha: sq.commitSha });
  assert.deepEqual(sqInfo.parentShas, [l.c1.commitSha]);
});

test('merge no_op: source already contained in the target', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('merge-noop');
  const c1 = await commit(repo, BASE);
  await repo.createBranch({ baseRef: 'main', targetBranch: 'old' });
  const m2 = await commit(repo, { 'main2.txt': 'm2\n' });
  for (const strategy of ['merge', 'ff_only', 'ff_prefer']) {
    const res = await repo.merge({ sourceBranch: 'old', targetBranch: 'main', strategy, author: AUTHOR });
    assert.equal(res.result, 'no_op', strategy);
    assert.equal(res.commitSha, m2.commitSha, `${strategy}: commit_sha = target tip`);
    assert.equal(res.treeSha, m2.treeSha, `${strategy}: tree_sha = target tree`);
    assert.deepEqual(res.source, { branch: 'old', ephemeral: false, sha: c1.commitSha });
    assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: m2.commitSha, newSha: m2.commitSha });
    assert.equal(res.promotedCommits, 0);
  }
  // Merging a branch into itself is a no-op too.
  const self = await repo.merge({ sourceBranch: 'main', targetBranch: 'main', strategy: 'merge', author: AUTHOR });
  assert.equal(self.result, 'no_op');
  assert.equal(await branchHead(repo, 'main'), m2.commitSha);
  assert.equal((await allCommits(repo)).length, 2);
});

test('merge allow_unrelated_histories', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('merge-unrelated');
  const c1 = await commit(repo, { 'a.txt': 'main side\n' });
  const orphan = await pushOrphan(repo, 'orphan', { 'other/b.txt': 'orphan side\n' });

  await expectApiError(
    repo.merge({ sourceBranch: 'orphan', targetBranch: 'main', strategy: 'merge', author: AUTHOR }),
    400,
    'unrelated histories without the flag',
  );
  await expectApiError(
    repo.merge({ sourceBranch: 'orphan', targetBranch: 'main', strategy: 'merge', author: AUTHOR, allowUnrelatedHistories: false }),
    400,
    'allowUnrelatedHistories=false',
  );
  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'target unchanged');

  const res = await repo.merge({
    sourceBranch: 'orphan',
    targetBranch: 'main',
    strategy: 'merge',
    author: AUTHOR,
    allowUnrelatedHistories: true,
  });
  assert.equal(res.result, 'merge_commit');
  assert.ok(res.mergeBaseSha === undefined || res.mergeBaseSha === '', `no merge base, got ${res.mergeBaseSha}`);
  assert.equal(res.treeSha, await treeOf({ 'a.txt': 'main side\n', 'other/b.txt': 'orphan side\n' }));
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: c1.commitSha, newSha: res.commitSha });
  assert.equal(res.promotedCommits, 2, 'the orphan root and the merge commit');
  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [c1.commitSha, orphan]);
  assert.equal(await readText(repo, 'other/b.txt'), 'orphan side\n');
});

test('merge expectedTargetSha mismatch → 409, target unchanged', { timeout: T_SHORT }, async () => {
  const d = await diverged('merge-expected');
  const before = await allHeads(d.repo);
  const err = await expectApiError(
    d.repo.merge({
      sourceBranch: 'feature',
      targetBranch: 'main',
      strategy: 'merge',
      expectedTargetSha: d.c1.commitSha,
      author: AUTHOR,
    }),
    409,
    'stale expectedTargetSha',
  );
  assert.equal(typeof err.body?.error, 'string');
  assert.deepEqual(await allHeads(d.repo), before, 'no ref moved');
  assert.equal((await allCommits(d.repo)).length, 2);
});

test('merge conflicts → ApiError 409 with conflict_paths and merge_base_sha; target unchanged', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('merge-conflict');
  const c1 = await commit(repo, { 'a.txt': 'line\n', 'clean.txt': 'clean\n', 'dir/b.txt': 'b\n' });
  await commit(
    repo,
    { 'a.txt': 'feature\n', 'dir/b.txt': 'b from feature\n', 'feature-only.txt': 'f\n' },
    { targetBranch: 'feature', baseBranch: 'main' },
  );
  const m2 = await commit(repo, { 'a.txt': 'main\n', 'dir/b.txt': 'b from main\n', 'main-only.txt': 'm\n' });
  const before = await allHeads(repo);

  for (const strategy of ['merge', 'ff_prefer']) {
    const err = await expectApiError(
      repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy, author: AUTHOR }),
      409,
      `conflicting merge (${strategy})`,
    );
    assert.equal(typeof err.body?.error, 'string', 'envelope keeps "error"');
    assert.ok(err.body.error.length > 0);
    assert.deepEqual([...err.body.conflict_paths].sort(), ['a.txt', 'dir/b.txt'], 'conflict_paths');
    assert.equal(err.body.merge_base_sha, c1.commitSha, 'merge_base_sha');
  }
  const squashErr = await expectApiError(
    repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'merge', squash: true, author: AUTHOR }),
    409,
    'conflicting squash',
  );
  assert.deepEqual([...squashErr.body.conflict_paths].sort(), ['a.txt', 'dir/b.txt']);

  assert.deepEqual(await allHeads(repo), before, 'no ref moved');
  assert.equal(await branchHead(repo, 'main'), m2.commitSha);
  assert.equal(await readText(repo, 'a.txt'), 'main\n');
  assert.equal((await allCommits(repo)).length, 2);
});

test('merge with ephemeral source and ephemeral target', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('merge-eph');
  const c1 = await commit(repo, BASE);
  const e1 = await commit(repo, { 'eph.txt': 'e\n' }, { targetBranch: 'work', baseBranch: 'main', ephemeral: true });

  const res = await repo.merge({ sourceBranch: 'work', sourceIsEphemeral: true, targetBranch: 'main', strategy: 'ff_only' });
  assert.equal(res.result, 'fast_forward');
  assert.deepEqual(res.source, { branch: 'work', ephemeral: true, sha: e1.commitSha });
  assert.deepEqual(res.target, { branch: 'main', ephemeral: false, oldSha: c1.commitSha, newSha: e1.commitSha });
  assert.equal(await branchHead(repo, 'main'), e1.commitSha);

  // main moves on; merge it into the ephemeral branch.
  const m2 = await commit(repo, { 'main2.txt': 'm\n' });
  const e2 = await commit(repo, { 'eph2.txt': 'e2\n' }, { targetBranch: 'work', ephemeral: true });
  const back = await repo.merge({
    sourceBranch: 'main',
    sourceIsEphemeral: false,
    targetBranch: 'work',
    targetIsEphemeral: true,
    strategy: 'merge',
    author: AUTHOR,
  });
  assert.equal(back.result, 'merge_commit');
  assert.deepEqual(back.target, { branch: 'work', ephemeral: true, oldSha: e2.commitSha, newSha: back.commitSha });
  assert.equal(await branchHead(repo, 'work', { ephemeral: true }), back.commitSha);
  assert.equal(await branchHead(repo, 'main'), m2.commitSha, 'normal main untouched');
  assert.ok(!(await allBranches(repo)).some((b) => b.name === 'work'), 'no normal "work" branch appeared');
  const { commit: info } = await repo.getCommit({ sha: back.commitSha });
  assert.deepEqual(info.parentShas, [e2.commitSha, m2.commitSha]);
});

test('merge: unknown branches → 404, ref policy on the target → 403', { timeout: T_SHORT }, async () => {
  const d = await diverged('merge-errors');
  await expectApiError(
    d.repo.merge({ sourceBranch: 'no-such-branch', targetBranch: 'main', strategy: 'merge', author: AUTHOR }),
    404,
    'unknown source',
  );
  await expectApiError(
    d.repo.merge({ sourceBranch: 'feature', targetBranch: 'no-such-branch', strategy: 'merge', author: AUTHOR }),
    404,
    'unknown target',
  );
  await expectApiError(
    d.repo.merge({ sourceBranch: 'feature', sourceIsEphemeral: true, targetBranch: 'main', strategy: 'merge', author: AUTHOR }),
    404,
    'source looked up in the ephemeral namespace',
  );
  const denied = await expectApiError(
    d.repo.merge({
      sourceBranch: 'feature',
      targetBranch: 'main',
      strategy: 'merge',
      author: AUTHOR,
      refPolicies: [{ pattern: 'main', ops: ['no-push'] }, { pattern: '*' }],
    }),
    403,
    'no-push policy on the target (§3.5)',
  );
  assert.match(denied.message, /denied by policy/);
  assert.equal(await branchHead(d.repo, 'main'), d.m2.commitSha);

  // A policy on another ref does not block the merge.
  const ok = await d.repo.merge({
    sourceBranch: 'feature',
    targetBranch: 'main',
    strategy: 'merge',
    author: AUTHOR,
    refPolicies: [{ pattern: 'release/*', ops: ['no-push'] }],
  });
  assert.equal(ok.result, 'merge_commit');
});

// ------------------------------------------------------------ previewMerge

test('previewMerge: clean outcomes (merge_commit, fast_forward, no_op) move no refs', { timeout: T_SHORT }, async () => {
  const d = await diverged('preview');
  await d.repo.createBranch({ baseRef: d.c1.commitSha, targetBranch: 'behind' });
  const before = await allHeads(d.repo);

  const p = await d.repo.previewMerge({ sourceBranch: 'feature', targetBranch: 'main' });
  assert.equal(p.status, 'clean');
  assert.equal(p.result, 'merge_commit');
  assert.equal(p.sourceBranch, 'feature');
  assert.equal(p.targetBranch, 'main');
  assert.equal(p.sourceTipSha, d.f2.commitSha);
  assert.equal(p.targetTipSha, d.m2.commitSha);
  assert.equal(p.mergeBaseSha, d.c1.commitSha);
  assert.deepEqual(p.conflictPaths, []);
  assert.deepEqual(p.conflicts, []);
  assert.deepEqual(p.filteredConflicts, []);

  const ff = await d.repo.previewMerge({ sourceBranch: 'main', targetBranch: 'behind', includeContent: true });
  assert.equal(ff.status, 'clean');
  assert.equal(ff.result, 'fast_forward');
  assert.equal(ff.sourceTipSha, d.m2.commitSha);
  assert.equal(ff.targetTipSha, d.c1.commitSha);
  assert.equal(ff.mergeBaseSha, d.c1.commitSha);
  assert.deepEqual(ff.conflictPaths, []);

  const noop = await d.repo.previewMerge({ sourceBranch: 'behind', targetBranch: 'main' });
  assert.equal(noop.status, 'clean');
  assert.equal(noop.result, 'no_op');
  assert.equal(noop.sourceTipSha, d.c1.commitSha);
  assert.equal(noop.targetTipSha, d.m2.commitSha);

  assert.deepEqual(await allHeads(d.repo), before, 'previewMerge is read-only');
  assert.equal((await allCommits(d.repo)).length, 2);

  await expectApiError(d.repo.previewMerge({ sourceBranch: 'nope', targetBranch: 'main' }), 404, 'unknown source');

  // The preview's prediction holds for the real merge.
  const real = await d.repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'ff_prefer', author: AUTHOR });
  assert.equal(real.result, p.result);
  assert.equal(real.mergeBaseSha, p.mergeBaseSha);
});

test('previewMerge: conflicts with stages, includeContent and binary files', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('preview-conflict');
  const base = 'shared line 1\nshared line 2\nconflict here\nshared line 4\n';
  const ours = 'shared line 1\nshared line 2\nmain version\nshared line 4\n';
  const theirs = 'shared line 1\nshared line 2\nfeature version\nshared line 4\n';
  const binBase = new Uint8Array([0, 1, 2, 3, 0, 5]);
  const binOurs = new Uint8Array([0, 1, 2, 3, 0, 6]);
  const binTheirs = new Uint8Array([0, 1, 2, 3, 0, 7]);
  const c1 = await commit(repo, { 'src/a.txt': base, 'bin.dat': binBase, 'clean.txt': 'clean\n' });
  const f1 = await commit(
    repo,
    { 'src/a.txt': theirs, 'added.txt': 'added on feature\n', 'bin.dat': binTheirs, 'feature-only.txt': 'f\n' },
    { targetBranch: 'feature', baseBranch: 'main' },
  );
  const m2 = await commit(repo, { 'src/a.txt': ours, 'added.txt': 'added on main\n', 'bin.dat': binOurs });
  const before = await allHeads(repo);

  const p = await repo.previewMerge({ sourceBranch: 'feature', targetBranch: 'main', includeContent: true });
  assert.equal(p.status, 'conflicted');
  assert.equal(p.result, 'merge_commit');
  assert.equal(p.sourceTipSha, f1.commitSha);
  assert.equal(p.targetTipSha, m2.commitSha);
  assert.equal(p.mergeBaseSha, c1.commitSha);
  assert.deepEqual([...p.conflictPaths].sort(), ['added.txt', 'bin.dat', 'src/a.txt']);
  const shown = [...p.conflicts.map((c) => c.path), ...p.filteredConflicts.map((c) => c.path)].sort();
  assert.deepEqual(shown, ['added.txt', 'bin.dat', 'src/a.txt'], 'every conflict is detailed or filtered');
  for (const fc of p.filteredConflicts) assert.equal(typeof fc.reason, 'string');
  const byPath = Object.fromEntries(p.conflicts.map((c) => [c.path, c]));

  // Content conflict: base / ours (target) / theirs (source) stages.
  const a = byPath['src/a.txt'];
  assert.ok(a, 'src/a.txt detailed');
  assert.deepEqual(a.base, { oid: gitBlobSha(base), content: base, truncated: false, binary: false });
  assert.deepEqual(a.ours, { oid: gitBlobSha(ours), content: ours, truncated: false, binary: false }, 'ours = target');
  assert.deepEqual(a.theirs, { oid: gitBlobSha(theirs), content: theirs, truncated: false, binary: false }, 'theirs = source');
  assert.equal(a.result.truncated, false);
  assert.equal(a.result.binary, false);
  assert.match(a.result.content, /^<<<<<<< .*\nmain version\n=======\nfeature version\n>>>>>>> .*$/m, a.result.content);
  assert.ok(a.result.content.startsWith('shared line 1\nshared line 2\n<<<<<<<'), a.result.content);
  if (a.result.oid !== undefined) assert.equal(a.result.oid, gitBlobSha(a.result.content));

  // add/add conflict: no base stage.
  const added = byPath['added.txt'];
  assert.ok(added, 'added.txt detailed');
  assert.equal(added.base.oid, undefined, 'add/add has no base stage');
  assert.equal(added.base.content, undefined);
  assert.equal(typeof added.base.truncated, 'boolean');
  assert.equal(typeof added.base.binary, 'boolean');
  assert.equal(added.ours.oid, gitBlobSha('added on main\n'));
  assert.equal(added.ours.content, 'added on main\n');
  assert.equal(added.theirs.oid, gitBlobSha('added on feature\n'));
  assert.equal(added.theirs.content, 'added on feature\n');

  // Binary conflict (if detailed): stages flagged binary.
  if (byPath['bin.dat']) {
    const b = byPath['bin.dat'];
    assert.equal(b.ours.binary, true);
    assert.equal(b.theirs.binary, true);
    assert.equal(b.ours.oid, gitBlobSha(binOurs));
    assert.equal(b.theirs.oid, gitBlobSha(binTheirs));
    assert.equal(b.base.oid, gitBlobSha(binBase));
  }

  // Without includeContent: same conflicts, no content.
  for (const includeContent of [undefined, false]) {
    const bare = await repo.previewMerge({ sourceBranch: 'feature', targetBranch: 'main', ...(includeContent === false ? { includeContent } : {}) });
    assert.equal(bare.status, 'conflicted');
    assert.deepEqual([...bare.conflictPaths].sort(), ['added.txt', 'bin.dat', 'src/a.txt']);
    const bareA = bare.conflicts.find((c) => c.path === 'src/a.txt');
    assert.ok(bareA);
    for (const stage of ['result', 'base', 'ours', 'theirs']) {
      assert.equal(bareA[stage].content, undefined, `${stage}.content omitted without include_content`);
    }
    assert.equal(bareA.ours.oid, gitBlobSha(ours));
    assert.equal(bareA.theirs.oid, gitBlobSha(theirs));
  }

  assert.deepEqual(await allHeads(repo), before, 'previewMerge is read-only');
  assert.equal(await readText(repo, 'src/a.txt'), ours);
  assert.ok((await readFile(repo, 'bin.dat')).equals(Buffer.from(binOurs)));

  // The merge itself reports the same conflict set.
  const err = await expectApiError(
    repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'merge', author: AUTHOR }),
    409,
    'merge of the previewed conflict',
  );
  assert.deepEqual([...err.body.conflict_paths].sort(), [...p.conflictPaths].sort());
});

wireConformanceTest();
