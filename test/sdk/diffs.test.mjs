// §5.4.4 getBranchDiff → GET /repos/branches/diff, §5.9.4 getCommitDiff →
// GET /repos/diff, §5.7 createCommitFromDiff → POST /repos/diff-commit.
//
// Expected trees are computed independently with the local git CLI: the same
// files are committed in a local repository (whose tree SHA must equal the
// server's, which also checks the test setup), the change is made and staged
// there, and `git write-tree` gives the tree the server must produce.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import {
  AUTHOR,
  COMMITTER,
  SHA_RE,
  T_LONG,
  T_SHORT,
  ZERO_SHA,
  allBranches,
  allCommits,
  branchHead,
  commit,
  expectApiError,
  expectRefUpdateError,
  filePaths,
  freshRepo,
  git,
  readFile,
  readText,
  tempDir,
  wireConformanceTest,
} from './helpers.mjs';

// ------------------------------------------------------------ local git

/** Writes `files` ({path: string | Buffer | {content, mode} | null}) into a work tree. */
function writeTree(dir, files) {
  for (const [path, value] of Object.entries(files)) {
    const full = join(dir, path);
    if (value === null) {
      rmSync(full, { force: true });
      continue;
    }
    const content = typeof value === 'string' || value instanceof Uint8Array ? value : value.content;
    const mode = typeof value === 'object' && !(value instanceof Uint8Array) ? value.mode : undefined;
    mkdirSync(dirname(full), { recursive: true });
    rmSync(full, { force: true });
    writeFileSync(full, content);
    chmodSync(full, mode === '100755' ? 0o755 : 0o644);
  }
}

/** A local repository whose first commit holds `files`; returns its directory. */
async function localRepo(files) {
  const dir = tempDir('strata-diff-');
  await git(['init', '-q', '-b', 'main', dir]);
  await git(['config', 'core.autocrlf', 'false'], { cwd: dir });
  writeTree(dir, files);
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '-q', '--allow-empty', '-m', 'base'], { cwd: dir });
  return dir;
}

/** Stages the work tree and returns the tree SHA git computes for it. */
async function stagedTree(dir) {
  await git(['add', '-A'], { cwd: dir });
  return (await git(['write-tree'], { cwd: dir })).trim();
}

/** `git diff --cached --binary -M` of the staged changes (a patch for the base commit). */
async function stagedPatch(dir) {
  await git(['add', '-A'], { cwd: dir });
  return git(['diff', '--cached', '--binary', '--full-index', '-M'], { cwd: dir });
}

/**
 * Applies `patch` to `baseTree` in a scratch index of `dir` with
 * `git apply --cached` (after `--check`) and returns the resulting tree.
 */
async function applyToTree(dir, baseTree, patch) {
  const index = join(tempDir('strata-index-'), 'index');
  const env = { GIT_INDEX_FILE: index };
  await git(['read-tree', baseTree], { cwd: dir, env });
  await git(['apply', '--cached', '--check', '-'], { cwd: dir, env, input: patch });
  await git(['apply', '--cached', '-'], { cwd: dir, env, input: patch });
  return (await git(['write-tree'], { cwd: dir, env })).trim();
}

// ------------------------------------------------------------ assertions

function byPath(entries) {
  return Object.fromEntries(entries.map((e) => [e.path, e]));
}

function sortedPaths(entries) {
  return entries.map((e) => e.path).sort();
}

/** Shape and consistency of one files[] entry (§5.9.4). */
function assertFileEntry(f, label = f.path) {
  assert.equal(typeof f.raw, 'string', `${label}: raw`);
  assert.ok(f.raw.startsWith('diff --git '), `${label}: raw starts with the diff --git header: ${f.raw.slice(0, 80)}`);
  assert.equal(f.bytes, Buffer.byteLength(f.raw, 'utf8'), `${label}: bytes = byte length of raw (Q2)`);
  assert.equal(f.isEof, true, `${label}: is_eof for a complete patch (Q2)`);
  // additions/deletions agree with the +/- lines of the hunks.
  let plus = 0;
  let minus = 0;
  let inHunk = false;
  for (const line of f.raw.split('\n')) {
    if (line.startsWith('@@')) inHunk = true;
    else if (line.startsWith('diff --git ')) inHunk = false;
    else if (inHunk && line.startsWith('+')) plus++;
    else if (inHunk && line.startsWith('-')) minus++;
  }
  assert.equal(f.additions, plus, `${label}: additions = '+' lines in raw`);
  assert.equal(f.deletions, minus, `${label}: deletions = '-' lines in raw`);
}

/**
 * stats agree with the entries (§5.9.4): `files` counts filtered files too,
 * `changes` = additions + deletions. Line counts of filtered files are not
 * specified, so with filtered files the totals are only bounded below.
 */
function assertStats(res, label) {
  const additions = res.files.reduce((n, f) => n + f.additions, 0);
  const deletions = res.files.reduce((n, f) => n + f.deletions, 0);
  assert.equal(res.stats.files, res.files.length + res.filteredFiles.length, `${label}: stats.files`);
  assert.equal(res.stats.changes, res.stats.additions + res.stats.deletions, `${label}: stats.changes`);
  if (res.filteredFiles.length === 0) {
    assert.equal(res.stats.additions, additions, `${label}: stats.additions = sum over files`);
    assert.equal(res.stats.deletions, deletions, `${label}: stats.deletions = sum over files`);
  } else {
    assert.ok(res.stats.additions >= additions, `${label}: stats.additions >= sum over files`);
    assert.ok(res.stats.deletions >= deletions, `${label}: stats.deletions >= sum over files`);
  }
}

// ------------------------------------------------------------ getBranchDiff

const A_V1 = 'alpha\nbravo\ncharlie\ndelta\n';
const A_V2 = 'alpha\nBRAVO\ncharlie\ndelta\necho\n';

/** main: c1 → m2; feature (from c1): f1 → f2. */
async function branchHistory(prefix) {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, { 'a.txt': A_V1, 'b.txt': 'bee\n', 'keep.txt': 'keep\n', 'docs/x.md': 'x\n' }, { message: 'c1' });
  const f1 = await commit(
    repo,
    { 'a.txt': A_V2, 'c.txt': 'sea\nsea2\n', 'b.txt': null },
    { targetBranch: 'feature', baseBranch: 'main', message: 'f1' },
  );
  const f2 = await commit(repo, { 'docs/x.md': 'x\nx2\n' }, { targetBranch: 'feature', message: 'f2' });
  const m2 = await commit(repo, { 'main-only.txt': 'main\n', 'keep.txt': 'keep\nmore\n' }, { message: 'm2' });
  return { repo, c1, f1, f2, m2 };
}

test('getBranchDiff: three-dot diff against the default base', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await branchHistory('bdiff');

  const res = await repo.getBranchDiff({ branch: 'feature' });
  assert.equal(res.branch, 'feature');
  assert.equal(res.base, 'main', 'base defaults to the default branch');
  assert.equal(res.mergeBaseSha, c1.commitSha, 'merge base = fork point');
  // Changes made on main after the fork (main-only.txt, keep.txt) are not part of a three-dot diff.
  assert.deepEqual(sortedPaths(res.files), ['a.txt', 'b.txt', 'c.txt', 'docs/x.md']);
  assert.deepEqual(res.filteredFiles, []);
  const f = byPath(res.files);

  assert.equal(f['a.txt'].state, 'modified');
  assert.match(f['a.txt'].rawState, /^M/);
  assert.equal(f['a.txt'].oldPath, undefined, 'old_path only for renames/copies');
  assert.ok(f['a.txt'].raw.startsWith('diff --git a/a.txt b/a.txt\n'), f['a.txt'].raw);
  for (const line of ['-bravo\n', '+BRAVO\n', '+echo\n', ' alpha\n']) {
    assert.ok(f['a.txt'].raw.includes(line), `a.txt raw contains ${JSON.stringify(line)}`);
  }
  assert.equal(f['a.txt'].additions, 2);
  assert.equal(f['a.txt'].deletions, 1);

  assert.equal(f['b.txt'].state, 'deleted');
  assert.match(f['b.txt'].rawState, /^D/);
  assert.ok(f['b.txt'].raw.includes('deleted file mode 100644'), f['b.txt'].raw);
  assert.ok(f['b.txt'].raw.includes('-bee\n'));
  assert.equal(f['b.txt'].additions, 0);
  assert.equal(f['b.txt'].deletions, 1);

  assert.equal(f['c.txt'].state, 'added');
  assert.match(f['c.txt'].rawState, /^A/);
  assert.ok(f['c.txt'].raw.includes('new file mode 100644'), f['c.txt'].raw);
  assert.ok(f['c.txt'].raw.includes('+sea\n+sea2\n'));
  assert.equal(f['c.txt'].additions, 2);
  assert.equal(f['c.txt'].deletions, 0);

  assert.equal(f['docs/x.md'].state, 'modified');
  assert.ok(f['docs/x.md'].raw.startsWith('diff --git a/docs/x.md b/docs/x.md\n'));
  assert.equal(f['docs/x.md'].additions, 1);

  for (const entry of res.files) assertFileEntry(entry);
  assertStats(res, 'branch diff');
  assert.deepEqual(res.stats, { files: 4, additions: 5, deletions: 2, changes: 7 });

  // An explicit base equal to the default gives the same answer.
  const explicit = await repo.getBranchDiff({ branch: 'feature', base: 'main' });
  assert.deepEqual(explicit, res);
});

test('getBranchDiff: explicit base, reversed direction and unknown branches', { timeout: T_SHORT }, async () => {
  const { repo, c1, f2 } = await branchHistory('bdiff-base');

  // main relative to feature: only main's own changes since the fork.
  const rev = await repo.getBranchDiff({ branch: 'main', base: 'feature' });
  assert.equal(rev.branch, 'main');
  assert.equal(rev.base, 'feature');
  assert.equal(rev.mergeBaseSha, c1.commitSha);
  assert.deepEqual(sortedPaths(rev.files), ['keep.txt', 'main-only.txt']);
  const r = byPath(rev.files);
  assert.equal(r['main-only.txt'].state, 'added');
  assert.equal(r['keep.txt'].state, 'modified');
  assert.ok(r['keep.txt'].raw.includes('+more\n'));
  assertStats(rev, 'reversed');
  assert.deepEqual(rev.stats, { files: 2, additions: 2, deletions: 0, changes: 2 });

  // A branch at the tip of another: based on feature, one more commit.
  await commit(repo, { 'e.txt': 'e\n' }, { targetBranch: 'stacked', baseBranch: 'feature' });
  const stacked = await repo.getBranchDiff({ branch: 'stacked', base: 'feature' });
  assert.equal(stacked.mergeBaseSha, f2.commitSha);
  assert.deepEqual(sortedPaths(stacked.files), ['e.txt']);

  // A branch compared with itself: no changes.
  const self = await repo.getBranchDiff({ branch: 'feature', base: 'feature' });
  assert.deepEqual(self.files, []);
  assert.deepEqual(self.filteredFiles, []);
  assert.deepEqual(self.stats, { files: 0, additions: 0, deletions: 0, changes: 0 });

  await expectApiError(repo.getBranchDiff({ branch: 'no-such-branch' }), 404, 'unknown branch');
  await expectApiError(repo.getBranchDiff({ branch: 'feature', base: 'no-such-base' }), 404, 'unknown base');
});

test('getBranchDiff: paths filter (repeated path params, directories)', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await branchHistory('bdiff-paths');

  const two = await repo.getBranchDiff({ branch: 'feature', paths: ['a.txt', 'docs/x.md'] });
  assert.equal(two.mergeBaseSha, c1.commitSha);
  assert.deepEqual(sortedPaths(two.files), ['a.txt', 'docs/x.md']);
  assertStats(two, 'two paths');
  assert.deepEqual(two.stats, { files: 2, additions: 3, deletions: 1, changes: 4 });

  const one = await repo.getBranchDiff({ branch: 'feature', paths: ['c.txt'] });
  assert.deepEqual(sortedPaths(one.files), ['c.txt']);
  assert.deepEqual(one.stats, { files: 1, additions: 2, deletions: 0, changes: 2 });

  const dir = await repo.getBranchDiff({ branch: 'feature', paths: ['docs'] });
  assert.deepEqual(sortedPaths(dir.files), ['docs/x.md'], 'a directory path selects its files');

  const none = await repo.getBranchDiff({ branch: 'feature', paths: ['main-only.txt'] });
  assert.deepEqual(none.files, [], 'path changed only on the base side');
  assert.equal(none.stats.files, 0);
});

test('getBranchDiff: ephemeral and ephemeralBase select the namespaces', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bdiff-eph');
  const c1 = await commit(repo, { 'a.txt': 'a\n' });
  // Ephemeral "work" (from main) with one commit, ephemeral "work2" stacked on it.
  const e1 = await commit(repo, { 'e1.txt': 'e1\n' }, { targetBranch: 'work', baseBranch: 'main', ephemeral: true });
  await commit(repo, { 'e2.txt': 'e2\n' }, { targetBranch: 'work2', baseBranch: 'work', ephemeral: true, ephemeralBase: true });
  // A normal branch with the same name "work" and different content.
  await commit(repo, { 'normal.txt': 'n\n' }, { targetBranch: 'work', baseBranch: 'main' });

  const eph = await repo.getBranchDiff({ branch: 'work', ephemeral: true });
  assert.equal(eph.branch, 'work');
  assert.equal(eph.base, 'main');
  assert.equal(eph.mergeBaseSha, c1.commitSha);
  assert.deepEqual(sortedPaths(eph.files), ['e1.txt'], 'ephemeral=true reads the ephemeral "work"');

  const normal = await repo.getBranchDiff({ branch: 'work', ephemeral: false });
  assert.deepEqual(sortedPaths(normal.files), ['normal.txt'], 'ephemeral=false reads the normal "work"');

  const stackedOnEph = await repo.getBranchDiff({ branch: 'work2', ephemeral: true, base: 'work', ephemeralBase: true });
  assert.equal(stackedOnEph.mergeBaseSha, e1.commitSha, 'base resolved in the ephemeral namespace');
  assert.deepEqual(sortedPaths(stackedOnEph.files), ['e2.txt']);

  const againstNormal = await repo.getBranchDiff({ branch: 'work2', ephemeral: true, base: 'work', ephemeralBase: false });
  assert.equal(againstNormal.mergeBaseSha, c1.commitSha, 'base resolved in the normal namespace');
  assert.deepEqual(sortedPaths(againstNormal.files), ['e1.txt', 'e2.txt']);

  // work2 only exists in the ephemeral namespace.
  await expectApiError(repo.getBranchDiff({ branch: 'work2' }), 404, 'ephemeral-only branch read as normal');
});

test('getBranchDiff: renames are reported as R with old_path', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bdiff-rename');
  const lines = (tag) => Array.from({ length: 30 }, (_, i) => `${tag} line ${i + 1} of a file long enough for rename detection`).join('\n') + '\n';
  const moved = lines('moved');
  const edited = lines('edited');
  await commit(repo, { 'old.txt': moved, 'src/edit-me.txt': edited, 'stay.txt': 'stay\n' });
  const editedAfter = edited.replace('edited line 15 of', 'edited LINE 15 of');
  await commit(
    repo,
    { 'old.txt': null, 'renamed/new.txt': moved, 'src/edit-me.txt': null, 'src/edited.txt': editedAfter },
    { targetBranch: 'feature', baseBranch: 'main' },
  );

  const res = await repo.getBranchDiff({ branch: 'feature' });
  assert.deepEqual(sortedPaths(res.files), ['renamed/new.txt', 'src/edited.txt'], 'one entry per rename, no A/D pairs');
  const f = byPath(res.files);

  const pure = f['renamed/new.txt'];
  assert.equal(pure.state, 'renamed');
  assert.match(pure.rawState, /^R/);
  assert.equal(pure.oldPath, 'old.txt');
  assert.ok(pure.raw.includes('rename from old.txt\n'), pure.raw);
  assert.ok(pure.raw.includes('rename to renamed/new.txt\n'), pure.raw);
  assert.equal(pure.additions, 0);
  assert.equal(pure.deletions, 0);

  const withEdit = f['src/edited.txt'];
  assert.equal(withEdit.state, 'renamed');
  assert.match(withEdit.rawState, /^R/);
  assert.equal(withEdit.oldPath, 'src/edit-me.txt');
  assert.equal(withEdit.additions, 1);
  assert.equal(withEdit.deletions, 1);
  assert.ok(withEdit.raw.includes('+edited LINE 15 of'), withEdit.raw);

  for (const entry of res.files) assertFileEntry(entry);
  assertStats(res, 'renames');
});

test('getBranchDiff / getCommitDiff: files > 500 KB and binary files land in filtered_files', { timeout: T_LONG }, async () => {
  const repo = await freshRepo('bdiff-filtered');
  await commit(repo, { 'README.md': 'readme\n' });
  const bigLine = 'this line is part of a large text file that exceeds the diff size limit\n';
  const big = bigLine.repeat(Math.ceil(600_000 / bigLine.length));
  const mediumLine = 'a medium-sized text file stays inside the diff\n';
  const medium = mediumLine.repeat(Math.ceil(100_000 / mediumLine.length));
  const bin = new Uint8Array(2048);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) % 256; // contains NUL bytes
  const fc = await commit(
    repo,
    { 'big.txt': big, 'medium.txt': medium, 'bin.dat': bin, 'small.txt': 'small\n' },
    { targetBranch: 'feature', baseBranch: 'main' },
  );
  assert.ok(Buffer.byteLength(big) > 500_000);

  const check = (res, label) => {
    assert.deepEqual(sortedPaths(res.files), ['medium.txt', 'small.txt'], `${label}: files`);
    assert.deepEqual(sortedPaths(res.filteredFiles), ['big.txt', 'bin.dat'], `${label}: filtered_files`);
    const ff = byPath(res.filteredFiles);
    assert.equal(ff['big.txt'].state, 'added');
    assert.match(ff['big.txt'].rawState, /^A/);
    assert.equal(ff['big.txt'].bytes, Buffer.byteLength(big), `${label}: filtered bytes = blob size (Q2)`);
    assert.equal(typeof ff['big.txt'].isEof, 'boolean');
    assert.equal(ff['bin.dat'].state, 'added');
    assert.equal(ff['bin.dat'].bytes, bin.length, `${label}: filtered bytes = blob size (Q2)`);
    assert.equal(typeof ff['bin.dat'].isEof, 'boolean');
    assert.equal(ff['big.txt'].raw, undefined, 'filtered entries carry no raw');
    const f = byPath(res.files);
    assert.equal(f['medium.txt'].additions, medium.split('\n').length - 1);
    assert.ok(f['medium.txt'].raw.includes(`+${mediumLine}`));
    for (const entry of res.files) assertFileEntry(entry, `${label}: ${entry.path}`);
    assertStats(res, label);
    assert.equal(res.stats.files, 4, `${label}: stats.files counts filtered files`);
  };

  check(await repo.getBranchDiff({ branch: 'feature' }), 'branch diff');
  check(await repo.getCommitDiff({ sha: fc.commitSha }), 'commit diff');

  // Modifying the big file keeps it filtered (state M).
  const fc2 = await commit(repo, { 'big.txt': big + 'one more line\n' }, { targetBranch: 'feature' });
  const mod = await repo.getCommitDiff({ sha: fc2.commitSha });
  assert.deepEqual(mod.files, []);
  assert.deepEqual(sortedPaths(mod.filteredFiles), ['big.txt']);
  assert.equal(mod.filteredFiles[0].state, 'modified');
  assert.equal(mod.filteredFiles[0].bytes, Buffer.byteLength(big) + 'one more line\n'.length, 'size of the larger blob (Q2)');
});

// ------------------------------------------------------------ getCommitDiff

test('getCommitDiff: first parent by default, baseSha, root commit, paths', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('cdiff');
  const c1 = await commit(repo, { 'a.txt': 'one\ntwo\n', 'b.txt': 'bee\n' }, { message: 'root' });
  const c2 = await commit(repo, { 'a.txt': 'one\nTWO\nthree\n' }, { message: 'c2' });
  const c3 = await commit(repo, { 'b.txt': null, 'c/d.txt': 'dee\n' }, { message: 'c3' });

  const d2 = await repo.getCommitDiff({ sha: c2.commitSha });
  assert.equal(d2.sha, c2.commitSha);
  if (d2.baseSha !== undefined) assert.equal(d2.baseSha, c1.commitSha, 'base_sha = first parent');
  assert.deepEqual(sortedPaths(d2.files), ['a.txt']);
  assert.equal(d2.files[0].state, 'modified');
  assert.ok(d2.files[0].raw.includes('-two\n+TWO\n+three\n'), d2.files[0].raw);
  assert.deepEqual(d2.stats, { files: 1, additions: 2, deletions: 1, changes: 3 });
  assert.deepEqual(d2.filteredFiles, []);
  for (const entry of d2.files) assertFileEntry(entry);

  const d3 = await repo.getCommitDiff({ sha: c3.commitSha });
  assert.deepEqual(sortedPaths(d3.files), ['b.txt', 'c/d.txt']);
  assert.equal(byPath(d3.files)['b.txt'].state, 'deleted');
  assert.equal(byPath(d3.files)['c/d.txt'].state, 'added');

  // baseSha: cumulative diff c1..c3.
  const range = await repo.getCommitDiff({ sha: c3.commitSha, baseSha: c1.commitSha });
  assert.equal(range.sha, c3.commitSha);
  if (range.baseSha !== undefined) assert.equal(range.baseSha, c1.commitSha);
  assert.deepEqual(sortedPaths(range.files), ['a.txt', 'b.txt', 'c/d.txt']);
  assertStats(range, 'c1..c3');
  assert.deepEqual(range.stats, { files: 3, additions: 3, deletions: 2, changes: 5 });

  // Reverse direction: base newer than sha.
  const back = await repo.getCommitDiff({ sha: c1.commitSha, baseSha: c3.commitSha });
  const b = byPath(back.files);
  assert.equal(b['b.txt'].state, 'added');
  assert.equal(b['c/d.txt'].state, 'deleted');

  // Root commit: diff against the empty tree.
  const root = await repo.getCommitDiff({ sha: c1.commitSha });
  assert.equal(root.sha, c1.commitSha);
  assert.ok(root.baseSha === undefined || root.baseSha === '', `root base_sha is empty or omitted, got ${root.baseSha}`);
  assert.deepEqual(sortedPaths(root.files), ['a.txt', 'b.txt']);
  for (const f of root.files) {
    assert.equal(f.state, 'added');
    assert.ok(f.raw.includes('new file mode 100644'), f.raw);
    assertFileEntry(f);
  }
  assert.deepEqual(root.stats, { files: 2, additions: 3, deletions: 0, changes: 3 });

  // sha accepts a branch name and a short SHA (resolved in the response).
  const byBranch = await repo.getCommitDiff({ sha: 'main' });
  assert.equal(byBranch.sha, c3.commitSha);
  const byShort = await repo.getCommitDiff({ sha: c2.commitSha.slice(0, 10) });
  assert.equal(byShort.sha, c2.commitSha);
  assert.deepEqual(sortedPaths(byShort.files), ['a.txt']);

  // paths filter.
  const filtered = await repo.getCommitDiff({ sha: c3.commitSha, baseSha: c1.commitSha, paths: ['a.txt', 'c'] });
  assert.deepEqual(sortedPaths(filtered.files), ['a.txt', 'c/d.txt']);
  assertStats(filtered, 'paths');

  await expectApiError(repo.getCommitDiff({ sha: 'f'.repeat(40) }), 404, 'unknown sha');
  await expectApiError(repo.getCommitDiff({ sha: c2.commitSha, baseSha: 'e'.repeat(40) }), 404, 'unknown baseSha');
});

test('getCommitDiff: a merge commit is diffed against its first parent', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('cdiff-merge');
  await commit(repo, { 'a.txt': 'a\n' });
  const f1 = await commit(repo, { 'feat.txt': 'feature\n' }, { targetBranch: 'feature', baseBranch: 'main' });
  const m2 = await commit(repo, { 'main2.txt': 'main\n' });
  const merged = await repo.merge({ sourceBranch: 'feature', targetBranch: 'main', strategy: 'merge', author: AUTHOR });
  assert.equal(merged.result, 'merge_commit');
  const { commit: info } = await repo.getCommit({ sha: merged.commitSha });
  assert.deepEqual(info.parentShas, [m2.commitSha, f1.commitSha]);

  const d = await repo.getCommitDiff({ sha: merged.commitSha });
  assert.equal(d.sha, merged.commitSha);
  if (d.baseSha !== undefined) assert.equal(d.baseSha, m2.commitSha, 'base = first parent');
  assert.deepEqual(sortedPaths(d.files), ['feat.txt'], 'only what the merge brought into main');

  const vsSecond = await repo.getCommitDiff({ sha: merged.commitSha, baseSha: f1.commitSha });
  assert.deepEqual(sortedPaths(vsSecond.files), ['main2.txt']);
});

test('getCommitDiff gitApplyCompatible: concatenated raw patches rebuild the exact tree', { timeout: T_LONG }, async () => {
  const repo = await freshRepo('cdiff-apply');
  const baseFiles = {
    'indent.py': 'def f():\n    return 1\n\ndef g():\n    return 2\n',
    'trailing.txt': 'a line with trailing spaces   \nclean line\n',
    'tabs.txt': 'col1\tcol2\n\tindented\n',
    'crlf.txt': 'windows\r\nline two\r\n',
    'noeol.txt': 'no newline at the end',
    'delete-me.txt': 'bye\n',
    'rename-src.txt': Array.from({ length: 20 }, (_, i) => `rename me ${i}`).join('\n') + '\n',
    'run.sh': '#!/bin/sh\necho run\n',
    'blank-lines.txt': 'a\n\n\nb\n',
  };
  const c1 = await commit(repo, baseFiles, { message: 'base' });
  const local = await localRepo(baseFiles);
  assert.equal(await stagedTree(local), c1.treeSha, 'local reconstruction of the base tree');

  const changes = {
    'indent.py': 'def f():\n  return 1\n\ndef g():\n        return 2\n', // whitespace-amount changes only
    'trailing.txt': 'a line with trailing spaces\nclean line  \n',
    'tabs.txt': 'col1 col2\n\tindented\t\n',
    'crlf.txt': 'windows\nline two\r\nline three\r\n',
    'noeol.txt': 'no newline at the end\n',
    'delete-me.txt': null,
    'rename-src.txt': null,
    'renamed/dst.txt': baseFiles['rename-src.txt'].replace('rename me 7', 'renamed 7'),
    'run.sh': { content: '#!/bin/sh\necho run\n', mode: '100755' },
    'blank-lines.txt': 'a\n\nb\n',
    'empty.txt': '',
    'new/dir/file.md': '# new\n',
    'no-eol-new.txt': 'fresh without newline',
  };
  const c2 = await commit(repo, changes, { message: 'whitespace and structure changes' });
  writeTree(local, changes);
  assert.equal(await stagedTree(local), c2.treeSha, 'local reconstruction of the target tree');

  const d = await repo.getCommitDiff({ sha: c2.commitSha, gitApplyCompatible: true });
  assert.deepEqual(d.filteredFiles, [], 'nothing filtered');
  assert.equal(d.files.find((f) => f.path === 'renamed/dst.txt')?.oldPath, 'rename-src.txt');
  assert.equal(d.files.find((f) => f.path === 'run.sh')?.state, 'modified', 'mode-only change');
  const patch = d.files.map((f) => f.raw).join('');

  // 1. git apply --cached --check / apply on the base tree gives c2's tree.
  assert.equal(await applyToTree(local, c1.treeSha, patch), c2.treeSha, 'git apply of the concatenated patch');

  // 2. The same patch through createCommitFromDiff on a branch at the base.
  await repo.createBranch({ baseRef: c1.commitSha, targetBranch: 'replay' });
  const replay = await repo.createCommitFromDiff({
    targetBranch: 'replay',
    expectedHeadSha: c1.commitSha,
    commitMessage: 'replay',
    author: AUTHOR,
    diff: patch,
  });
  assert.equal(replay.treeSha, c2.treeSha, 'createCommitFromDiff reproduces the tree');
  assert.equal(replay.refUpdate.oldSha, c1.commitSha);

  // gitApplyCompatible=false is accepted too (may hide whitespace-only changes).
  const loose = await repo.getCommitDiff({ sha: c2.commitSha, gitApplyCompatible: false });
  assert.equal(loose.sha, c2.commitSha);
  assert.ok(loose.files.some((f) => f.path === 'new/dir/file.md'));
});

// ------------------------------------------------------------ createCommitFromDiff

async function diffBase(prefix) {
  const bin = new Uint8Array(300);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 31) % 256;
  const files = {
    'a.txt': 'one\ntwo\nthree\n',
    'b.txt': 'bee\n',
    'dir/c.txt': Array.from({ length: 12 }, (_, i) => `c line ${i}`).join('\n') + '\n',
    'bin.dat': bin,
  };
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, files, { message: 'base' });
  const local = await localRepo(files);
  assert.equal(await stagedTree(local), c1.treeSha, 'local reconstruction of the base tree');
  return { repo, c1, local, bin };
}

test('createCommitFromDiff: the commit tree equals git apply of the patch', { timeout: T_SHORT }, async () => {
  const { repo, c1, local, bin } = await diffBase('dcommit');
  const bin2 = Buffer.from(bin).reverse();
  writeTree(local, {
    'a.txt': 'one\nTWO\nthree\nfour\n',
    'b.txt': null,
    'new/d.txt': 'dee\n',
    'dir/c.txt': null,
    'dir/c2.txt': Array.from({ length: 12 }, (_, i) => `c line ${i}`).join('\n') + '\n',
    'bin.dat': bin2,
    'tool.sh': { content: '#!/bin/sh\n', mode: '100755' },
  });
  const patch = await stagedPatch(local);
  const expectedTree = await stagedTree(local);
  assert.ok(patch.includes('GIT binary patch'), 'the patch carries a binary hunk');
  assert.ok(patch.includes('rename from dir/c.txt'), 'the patch carries a rename');

  const res = await repo.createCommitFromDiff({
    targetBranch: 'main',
    expectedHeadSha: c1.commitSha,
    commitMessage: 'Apply patch',
    author: AUTHOR,
    committer: COMMITTER,
    diff: patch,
  });
  assert.match(res.commitSha, SHA_RE);
  assert.equal(res.treeSha, expectedTree, 'tree = git apply --cached --binary result');
  assert.equal(res.targetBranch, 'main');
  assert.equal(typeof res.packBytes, 'number');
  assert.equal(typeof res.blobCount, 'number');
  assert.deepEqual(res.refUpdate, { branch: 'main', oldSha: c1.commitSha, newSha: res.commitSha });

  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [c1.commitSha]);
  assert.equal(info.message.trimEnd(), 'Apply patch');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.authorEmail, AUTHOR.email);
  assert.equal(info.committerName, COMMITTER.name);
  assert.equal(info.committerEmail, COMMITTER.email);

  assert.equal(await branchHead(repo, 'main'), res.commitSha);
  assert.deepEqual(await filePaths(repo), ['a.txt', 'bin.dat', 'dir/c2.txt', 'new/d.txt', 'tool.sh']);
  assert.equal(await readText(repo, 'a.txt'), 'one\nTWO\nthree\nfour\n');
  assert.ok((await readFile(repo, 'bin.dat')).equals(bin2), 'binary patch applied byte-exactly');

  // The commit's own diff round-trips.
  const d = await repo.getCommitDiff({ sha: res.commitSha });
  assert.equal(byPath(d.files)['dir/c2.txt']?.oldPath, 'dir/c.txt');
});

test('createCommitFromDiff: patch as bytes, multi-chunk (> 4 MiB) patch', { timeout: T_LONG }, async () => {
  const { repo, c1, local } = await diffBase('dcommit-big');
  const line = 'a long line of text that is repeated to make a patch bigger than one NDJSON chunk\n';
  writeTree(local, { 'huge.txt': line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)), 'a.txt': 'one\n' });
  const patch = Buffer.from(await stagedPatch(local), 'utf8');
  assert.ok(patch.length > 4 * 1024 * 1024);
  const expectedTree = await stagedTree(local);
  const res = await repo.createCommitFromDiff({
    targetBranch: 'main',
    commitMessage: 'big patch',
    author: AUTHOR,
    diff: new Uint8Array(patch),
  });
  assert.equal(res.treeSha, expectedTree);
  assert.equal(res.refUpdate.oldSha, c1.commitSha);
  const head = await repo.headFile({ path: 'huge.txt' });
  assert.equal(head.size, Buffer.byteLength(line.repeat(Math.ceil((5 * 1024 * 1024) / line.length))));
});

test('createCommitFromDiff: a patch that does not apply → RefUpdateError conflict, branch unchanged', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await diffBase('dcommit-conflict');
  const patch = [
    'diff --git a/a.txt b/a.txt',
    'index 0000000..1111111 100644',
    '--- a/a.txt',
    '+++ b/a.txt',
    '@@ -1,3 +1,3 @@',
    ' uno',
    '-dos',
    '+DOS',
    ' tres',
    '',
  ].join('\n');
  const err = await expectRefUpdateError(
    repo.createCommitFromDiff({ targetBranch: 'main', commitMessage: 'nope', author: AUTHOR, diff: patch }),
    'conflict',
    'non-applying patch',
  );
  assert.equal(err.status, 'conflict');

  // Deleting a file that does not exist does not apply either.
  const del = [
    'diff --git a/missing.txt b/missing.txt',
    'deleted file mode 100644',
    'index 3b18e51..0000000',
    '--- a/missing.txt',
    '+++ /dev/null',
    '@@ -1 +0,0 @@',
    '-hello',
    '',
  ].join('\n');
  await expectRefUpdateError(
    repo.createCommitFromDiff({ targetBranch: 'main', commitMessage: 'nope', author: AUTHOR, diff: del }),
    'conflict',
    'delete of a missing file',
  );

  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'branch unchanged');
  assert.equal((await allCommits(repo)).length, 1, 'no commit created');
  assert.equal(await readText(repo, 'a.txt'), 'one\ntwo\nthree\n');
});

test('createCommitFromDiff: empty patch → invalid; stale expectedHeadSha → precondition_failed', { timeout: T_SHORT }, async () => {
  const { repo, c1, local } = await diffBase('dcommit-invalid');
  await expectRefUpdateError(
    repo.createCommitFromDiff({ targetBranch: 'main', commitMessage: 'empty', author: AUTHOR, diff: '' }),
    'invalid',
    'empty patch',
  );
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);

  writeTree(local, { 'a.txt': 'one\ntwo\nthree\nfour\n' });
  const patch = await stagedPatch(local);
  const c2 = await commit(repo, { 'other.txt': 'moved on\n' });
  const err = await expectRefUpdateError(
    repo.createCommitFromDiff({
      targetBranch: 'main',
      expectedHeadSha: c1.commitSha,
      commitMessage: 'stale',
      author: AUTHOR,
      diff: patch,
    }),
    'precondition_failed',
    'stale expectedHeadSha',
  );
  assert.equal(err.status, 'precondition_failed');
  assert.equal(await branchHead(repo, 'main'), c2.commitSha, 'branch unchanged');

  // Unknown target branch without a base → not_found.
  await expectRefUpdateError(
    repo.createCommitFromDiff({ targetBranch: 'no-such-branch', commitMessage: 'x', author: AUTHOR, diff: patch }),
    'not_found',
    'missing target without base',
  );

  // With the right expectation the same patch applies on top of c2.
  const ok = await repo.createCommitFromDiff({
    targetBranch: 'main',
    expectedHeadSha: c2.commitSha,
    commitMessage: 'fresh',
    author: AUTHOR,
    diff: patch,
  });
  assert.equal(ok.refUpdate.oldSha, c2.commitSha);
  assert.equal(await readText(repo, 'a.txt'), 'one\ntwo\nthree\nfour\n');
  assert.equal(await readText(repo, 'other.txt'), 'moved on\n');
});

test('createCommitFromDiff: new branch from baseBranch (normal and ephemeral)', { timeout: T_SHORT }, async () => {
  const { repo, c1, local } = await diffBase('dcommit-branch');
  writeTree(local, { 'feature.txt': 'feature\n', 'a.txt': 'one\ntwo\n' });
  const patch = await stagedPatch(local);
  const expectedTree = await stagedTree(local);

  const res = await repo.createCommitFromDiff({
    targetBranch: 'feature/diff',
    baseBranch: 'main',
    commitMessage: 'feature from diff',
    author: AUTHOR,
    diff: patch,
  });
  assert.equal(res.targetBranch, 'feature/diff');
  assert.equal(res.treeSha, expectedTree);
  assert.deepEqual(res.refUpdate, { branch: 'feature/diff', oldSha: ZERO_SHA, newSha: res.commitSha });
  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [c1.commitSha], 'parent = base branch tip');
  assert.equal(await branchHead(repo, 'feature/diff'), res.commitSha);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'base untouched');
  assert.equal(await readText(repo, 'feature.txt', { ref: 'feature/diff' }), 'feature\n');

  const eph = await repo.createCommitFromDiff({
    targetBranch: 'scratch',
    baseBranch: 'main',
    ephemeral: true,
    commitMessage: 'ephemeral from diff',
    author: AUTHOR,
    diff: patch,
  });
  assert.equal(eph.treeSha, expectedTree);
  assert.equal(eph.refUpdate.oldSha, ZERO_SHA);
  const ephBranches = await allBranches(repo, { ephemeral: true });
  assert.deepEqual(ephBranches.map((b) => [b.name, b.headSha]), [['scratch', eph.commitSha]]);
  assert.ok(!(await allBranches(repo)).some((b) => b.name === 'scratch'), 'not among normal branches');

  await expectRefUpdateError(
    repo.createCommitFromDiff({ targetBranch: 'x', baseBranch: 'no-such-base', commitMessage: 'x', author: AUTHOR, diff: patch }),
    'not_found',
    'missing base branch',
  );
});

test('createCommitFromDiff: ref policy denying the target → RefUpdateError forbidden', { timeout: T_SHORT }, async () => {
  const { repo, c1, local } = await diffBase('dcommit-policy');
  writeTree(local, { 'a.txt': 'policy\n' });
  const patch = await stagedPatch(local);
  const err = await expectRefUpdateError(
    repo.createCommitFromDiff({
      targetBranch: 'main',
      commitMessage: 'denied',
      author: AUTHOR,
      diff: patch,
      refPolicies: [{ pattern: 'main', ops: ['no-push'] }],
    }),
    'forbidden',
    'no-push policy on the target (§3.5, §3.6)',
  );
  assert.match(err.message, /denied by policy/);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'branch unchanged');

  // A policy on another ref does not apply.
  const ok = await repo.createCommitFromDiff({
    targetBranch: 'main',
    commitMessage: 'allowed',
    author: AUTHOR,
    diff: patch,
    refPolicies: [{ pattern: 'release/*', ops: ['no-push'] }, { pattern: '*' }],
  });
  assert.equal(ok.refUpdate.oldSha, c1.commitSha);
});

wireConformanceTest();
