// Validation errors (§5.6.2, §5.6.6) and ref policies (§3) through the SDK.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTHOR,
  T_SHORT,
  allBranches,
  branchHead,
  commit,
  expectApiError,
  expectRefUpdateError,
  filePaths,
  freshRepo,
  readText,
  storage,
  wireConformanceTest,
} from './helpers.mjs';

const BAD_PATHS = [
  '../x',
  'a/../../x',
  'dir/..',
  '.git/config',
  'sub/.git/hooks/pre-commit',
  '.git',
  'a\u0000b',
];

test('invalid file paths → RefUpdateError invalid, nothing written', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bad-paths');
  const c1 = await commit(repo, { 'ok.txt': 'ok\n' });
  for (const path of BAD_PATHS) {
    await expectRefUpdateError(
      repo
        .createCommit({ targetBranch: 'main', commitMessage: 'bad path', author: AUTHOR })
        .addFileFromString('fine.txt', 'fine\n')
        .addFileFromString(path, 'evil\n')
        .send(),
      'invalid',
      `upsert ${JSON.stringify(path)}`,
    );
    await expectRefUpdateError(
      repo.createCommit({ targetBranch: 'main', commitMessage: 'bad delete', author: AUTHOR }).deletePath(path).send(),
      'invalid',
      `delete ${JSON.stringify(path)}`,
    );
  }
  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'main unchanged');
  assert.deepEqual(await filePaths(repo), ['ok.txt']);
});

test('invalid paths on an empty repository also fail without creating a branch', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bad-paths-empty');
  await expectRefUpdateError(
    repo.createCommit({ targetBranch: 'main', commitMessage: 'bad', author: AUTHOR }).addFileFromString('../escape', 'x').send(),
    'invalid',
    'first commit with ../escape',
  );
  assert.deepEqual(await allBranches(repo), []);
});

const BAD_BRANCHES = ['bad..name', 'has space', 'ends.lock', 'trailing/', 'tilde~1', 'colon:x', 'ctrl\u0001x', 'a/.hidden', 'x@{y'];

test('invalid target branch names → RefUpdateError invalid', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bad-branches');
  const c1 = await commit(repo, { 'ok.txt': 'ok\n' });
  for (const name of BAD_BRANCHES) {
    await expectRefUpdateError(
      commit(repo, { 'x.txt': 'x\n' }, { targetBranch: name, baseBranch: 'main' }),
      'invalid',
      `targetBranch ${JSON.stringify(name)}`,
    );
  }
  // Invalid base branch name.
  await expectRefUpdateError(
    commit(repo, { 'x.txt': 'x\n' }, { targetBranch: 'fine', baseBranch: 'bad..base' }),
    ['invalid', 'not_found'],
    'invalid baseBranch',
  );
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);
});

test('invalid branch names on createBranch / deleteBranch → ApiError 400', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bad-branch-api');
  await commit(repo, { 'ok.txt': 'ok\n' });
  for (const name of ['bad..name', 'has space', 'x.lock']) {
    await expectApiError(repo.createBranch({ baseRef: 'main', targetBranch: name }), 400, `createBranch ${name}`);
  }
  await expectApiError(repo.deleteBranch({ name: 'bad..name' }), [400, 404], 'deleteBranch invalid name');
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);
});

test('invalid author / committer are rejected', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('bad-ident');
  const c1 = await commit(repo, { 'ok.txt': 'ok\n' });
  // The SDK forwards committer without validation; the server must reject empty values (§5.6.2).
  await expectRefUpdateError(
    repo
      .createCommit({ targetBranch: 'main', commitMessage: 'm', author: AUTHOR, committer: { name: '', email: '' } })
      .addFileFromString('a.txt', 'a')
      .send(),
    'invalid',
    'empty committer',
  );
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);
});

// ------------------------------------------------------------ ref policies

const PROTECT_MAIN = [{ pattern: 'main', ops: ['no-push'] }];

test('refPolicies no-push on main: commit to main forbidden, other branch allowed', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('policy');
  const c1 = await commit(repo, { 'a.txt': 'a\n' });

  const err = await expectRefUpdateError(
    commit(repo, { 'a.txt': 'b\n' }, { refPolicies: PROTECT_MAIN }),
    'forbidden',
    'commit to protected main',
  );
  assert.equal(err.status, 'forbidden');
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);
  assert.equal(await readText(repo, 'a.txt'), 'a\n');

  const f = await commit(repo, { 'a.txt': 'feature\n' }, { targetBranch: 'feature', baseBranch: 'main', refPolicies: PROTECT_MAIN });
  assert.equal(await branchHead(repo, 'feature'), f.commitSha, 'other branches are allowed');

  // Fully-qualified pattern behaves the same.
  await expectRefUpdateError(
    commit(repo, { 'a.txt': 'c\n' }, { refPolicies: [{ pattern: 'refs/heads/main', ops: ['no-push'] }] }),
    'forbidden',
    'refs/heads/main pattern',
  );
  // Without policies the same commit succeeds.
  const ok = await commit(repo, { 'a.txt': 'c\n' });
  assert.equal(ok.refUpdate.oldSha, c1.commitSha);
});

test('refPolicies: prefix globs and first-match-wins', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('policy-glob');
  await commit(repo, { 'a.txt': 'a\n' });

  const globs = [{ pattern: 'release/*', ops: ['no-push'] }];
  await expectRefUpdateError(
    commit(repo, { 'r.txt': 'r\n' }, { targetBranch: 'release/1.0', baseBranch: 'main', refPolicies: globs }),
    'forbidden',
    'release/1.0 under release/*',
  );
  await expectRefUpdateError(
    commit(repo, { 'r.txt': 'r\n' }, { targetBranch: 'release/a/b', baseBranch: 'main', refPolicies: globs }),
    'forbidden',
    'nested release/a/b under release/*',
  );
  await commit(repo, { 'r.txt': 'r\n' }, { targetBranch: 'releases', baseBranch: 'main', refPolicies: globs });

  // First match wins: explicit allow for main shadows the catch-all deny.
  const ordered = [{ pattern: 'main' }, { pattern: '*', ops: ['no-push'] }];
  await commit(repo, { 'b.txt': 'b\n' }, { refPolicies: ordered });
  await expectRefUpdateError(
    commit(repo, { 'b.txt': 'b\n' }, { targetBranch: 'other', baseBranch: 'main', refPolicies: ordered }),
    'forbidden',
    'catch-all deny',
  );
  // Unknown ops are ignored.
  await commit(repo, { 'c.txt': 'c\n' }, { refPolicies: [{ pattern: 'main', ops: ['some-future-op'] }] });

  const names = (await allBranches(repo)).map((b) => b.name).sort();
  assert.deepEqual(names, ['main', 'releases']);
});

test('refPolicies apply to restoreCommit, createBranch and deleteBranch', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('policy-rest');
  const c1 = await commit(repo, { 'a.txt': 'a\n' });
  const c2 = await commit(repo, { 'a.txt': 'b\n' });

  await expectRefUpdateError(
    repo.restoreCommit({ targetBranch: 'main', targetCommitSha: c1.commitSha, author: AUTHOR, refPolicies: PROTECT_MAIN }),
    'forbidden',
    'restore onto protected main',
  );
  assert.equal(await branchHead(repo, 'main'), c2.commitSha);

  const protectedTopic = [{ pattern: 'topic', ops: ['no-push'] }];
  await expectApiError(
    repo.createBranch({ baseRef: 'main', targetBranch: 'topic', refPolicies: protectedTopic }),
    403,
    'createBranch protected',
  );
  await repo.createBranch({ baseRef: 'main', targetBranch: 'topic' });
  await expectApiError(repo.deleteBranch({ name: 'topic', refPolicies: protectedTopic }), 403, 'deleteBranch protected');
  assert.ok((await allBranches(repo)).some((b) => b.name === 'topic'), 'protected branch not deleted');
  const del = await repo.deleteBranch({ name: 'topic', refPolicies: PROTECT_MAIN });
  assert.equal(del.name, 'topic', 'policy on another ref does not block');
});

test('repository-scoped tokens cannot touch other repositories', { timeout: T_SHORT }, async () => {
  // Every SDK call mints a token for the handle's id; a handle for a missing
  // repository must get 404, not somebody else's data.
  const a = await freshRepo('scope-a');
  await commit(a, { 'secret.txt': 'a\n' });
  const ghost = storage.repo({ id: `${a.id}-ghost` });
  await expectApiError(ghost.listFiles(), 404, 'listFiles on missing repo');
  await expectApiError(ghost.getFileStream({ path: 'secret.txt' }), 404, 'getFileStream on missing repo');
  await expectRefUpdateError(
    ghost.createCommit({ targetBranch: 'main', commitMessage: 'x', author: AUTHOR }).addFileFromString('x', 'x').send(),
    ['not_found', 'failed'],
    'commit to missing repo',
  );
});

wireConformanceTest();
