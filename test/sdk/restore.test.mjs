// §5.8 restoreCommit → POST /repos/restore-commit.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTHOR,
  COMMITTER,
  SHA_RE,
  T_SHORT,
  allCommits,
  branchHead,
  commit,
  expectRefUpdateError,
  filePaths,
  freshRepo,
  readText,
  wireConformanceTest,
} from './helpers.mjs';

async function history() {
  const repo = await freshRepo('restore');
  const c1 = await commit(repo, { 'a.txt': 'v1\n', 'b.txt': 'bee\n', 'dir/x.txt': 'x1\n' }, { message: 'c1' });
  const c2 = await commit(repo, { 'a.txt': 'v2\n', 'c.txt': 'sea\n', 'dir/x.txt': null }, { message: 'c2' });
  const c3 = await commit(repo, { 'b.txt': null, 'd.txt': 'dee\n' }, { message: 'c3' });
  return { repo, c1, c2, c3 };
}

test('restoreCommit creates a new commit whose tree equals the old tree', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2, c3 } = await history();
  assert.deepEqual(await filePaths(repo), ['a.txt', 'c.txt', 'd.txt']);

  const res = await repo.restoreCommit({
    targetBranch: 'main',
    targetCommitSha: c1.commitSha,
    expectedHeadSha: c3.commitSha,
    commitMessage: 'Roll back to c1',
    author: AUTHOR,
    committer: COMMITTER,
  });
  assert.match(res.commitSha, SHA_RE);
  assert.notEqual(res.commitSha, c1.commitSha, 'restore is a new commit, not a reset');
  assert.equal(res.treeSha, c1.treeSha, 'tree equals the restored commit tree');
  assert.equal(res.targetBranch, 'main');
  assert.equal(typeof res.packBytes, 'number');
  assert.deepEqual(res.refUpdate, { branch: 'main', oldSha: c3.commitSha, newSha: res.commitSha });

  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.deepEqual(info.parentShas, [c3.commitSha], 'parent = previous tip');
  assert.equal(info.message.trimEnd(), 'Roll back to c1');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.committerName, COMMITTER.name);
  assert.equal(info.committerEmail, COMMITTER.email);

  // Content equals c1.
  assert.deepEqual(await filePaths(repo), ['a.txt', 'b.txt', 'dir/x.txt']);
  assert.equal(await readText(repo, 'a.txt'), 'v1\n');
  assert.equal(await readText(repo, 'b.txt'), 'bee\n');
  assert.equal(await readText(repo, 'dir/x.txt'), 'x1\n');
  assert.deepEqual(await filePaths(repo), await filePaths(repo, { ref: c1.commitSha }));

  // History preserved.
  const shas = (await allCommits(repo)).map((c) => c.sha);
  assert.deepEqual(shas, [res.commitSha, c3.commitSha, c2.commitSha, c1.commitSha]);
  assert.equal(await branchHead(repo, 'main'), res.commitSha);

  // Restore without expectedHeadSha / message / committer also works (default message, Q12).
  const res2 = await repo.restoreCommit({ targetBranch: 'main', targetCommitSha: c2.commitSha, author: AUTHOR });
  assert.equal(res2.treeSha, c2.treeSha);
  assert.equal(res2.refUpdate.oldSha, res.commitSha);
  const { commit: info2 } = await repo.getCommit({ sha: res2.commitSha });
  assert.ok(info2.message.trim().length > 0, 'a default message is used');
  assert.equal(info2.committerName, AUTHOR.name, 'committer defaults to author');
  assert.equal(await readText(repo, 'c.txt'), 'sea\n');
});

test('restoreCommit on a non-default branch', { timeout: T_SHORT }, async () => {
  const { repo, c1, c3 } = await history();
  const f1 = await commit(repo, { 'f.txt': 'f\n' }, { targetBranch: 'feature', baseBranch: 'main' });
  const res = await repo.restoreCommit({ targetBranch: 'feature', targetCommitSha: c1.commitSha, author: AUTHOR });
  assert.equal(res.targetBranch, 'feature');
  assert.equal(res.treeSha, c1.treeSha);
  assert.equal(res.refUpdate.oldSha, f1.commitSha);
  assert.equal(await branchHead(repo, 'main'), c3.commitSha, 'main untouched');
  assert.deepEqual(await filePaths(repo, { ref: 'feature' }), ['a.txt', 'b.txt', 'dir/x.txt']);
});

test('restoreCommit with a stale expectedHeadSha → RefUpdateError', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2, c3 } = await history();
  const err = await expectRefUpdateError(
    repo.restoreCommit({ targetBranch: 'main', targetCommitSha: c1.commitSha, expectedHeadSha: c2.commitSha, author: AUTHOR }),
    ['precondition_failed'],
    'restore with stale expectedHeadSha',
  );
  assert.equal(err.status, 'precondition_failed');
  assert.equal(await branchHead(repo, 'main'), c3.commitSha, 'branch unchanged');
  assert.equal((await allCommits(repo)).length, 3, 'no commit created');
});

test('restoreCommit of an unknown commit or branch → RefUpdateError not_found', { timeout: T_SHORT }, async () => {
  const { repo, c1, c3 } = await history();
  await expectRefUpdateError(
    repo.restoreCommit({ targetBranch: 'main', targetCommitSha: 'e'.repeat(40), author: AUTHOR }),
    'not_found',
    'restore to unknown sha',
  );
  await expectRefUpdateError(
    repo.restoreCommit({ targetBranch: 'no-such-branch', targetCommitSha: c1.commitSha, author: AUTHOR }),
    'not_found',
    'restore on unknown branch',
  );
  assert.equal(await branchHead(repo, 'main'), c3.commitSha);
});

wireConformanceTest();
