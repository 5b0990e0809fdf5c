// §5.6 createCommit().send() → POST /repos/commit-pack.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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
  assertCommitResult,
  assertRecentTimestamp,
  branchHead,
  commit,
  expectRefUpdateError,
  filePaths,
  freshRepo,
  gitBlobSha,
  readFile,
  readText,
  sha256,
  wireConformanceTest,
} from './helpers.mjs';

test('first commit on an empty repository (root commit)', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('first');
  const res = await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'Initial commit', author: AUTHOR })
    .addFileFromString('README.md', '# Hello\n')
    .addFileFromString('docs/guide.md', 'guide\n')
    .send();
  assertCommitResult(res);
  assert.equal(res.targetBranch, 'main');
  assert.equal(res.refUpdate.branch, 'main');
  assert.equal(res.refUpdate.oldSha, ZERO_SHA, 'a created ref reports old_sha = 40 zeros');
  assert.equal(res.blobCount, 2, 'two blobs written');
  assert.ok(res.packBytes > 0, 'pack_bytes > 0');

  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.equal(info.sha, res.commitSha);
  assert.deepEqual(info.parentShas, [], 'root commit has no parents');
  assert.equal(info.message.trimEnd(), 'Initial commit');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.authorEmail, AUTHOR.email);
  assert.equal(info.committerName, AUTHOR.name, 'committer defaults to author');
  assert.equal(info.committerEmail, AUTHOR.email);
  assertRecentTimestamp(info.rawDate, 'commit date');

  assert.deepEqual(await filePaths(repo), ['README.md', 'docs/guide.md']);
  assert.equal(await readText(repo, 'README.md'), '# Hello\n');
  assert.equal(await branchHead(repo, 'main'), res.commitSha);

  // Second commit: parent is the first, old_sha is the previous tip.
  const second = await commit(repo, { 'README.md': '# Hello again\n' });
  assert.equal(second.refUpdate.oldSha, res.commitSha);
  const { commit: info2 } = await repo.getCommit({ sha: second.commitSha });
  assert.deepEqual(info2.parentShas, [res.commitSha]);
  assert.equal(await readText(repo, 'README.md'), '# Hello again\n');
  assert.equal(await readText(repo, 'docs/guide.md'), 'guide\n', 'untouched files are kept');
});

test('addFile with binary bytes (all 256 byte values) round-trips exactly', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('binary');
  const bytes = new Uint8Array(512);
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
  const res = await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'binary', author: AUTHOR })
    .addFile('bin/all-bytes.bin', bytes)
    .addFile('bin/empty.bin', new Uint8Array(0))
    .addFileFromString('text/latin1.txt', 'caf\u00e9', { encoding: 'latin1' })
    .addFileFromString('text/utf8.txt', 'caf\u00e9 \u{1F600}\n')
    .send();
  assertCommitResult(res);
  assert.equal(res.blobCount, 4);

  const got = await readFile(repo, 'bin/all-bytes.bin');
  assert.equal(got.length, 512);
  assert.ok(Buffer.from(bytes).equals(got), 'binary content identical');

  const empty = await readFile(repo, 'bin/empty.bin');
  assert.equal(empty.length, 0, 'empty file stored as empty blob');

  assert.ok((await readFile(repo, 'text/latin1.txt')).equals(Buffer.from([0x63, 0x61, 0x66, 0xe9])));
  assert.equal(await readText(repo, 'text/utf8.txt'), 'caf\u00e9 \u{1F600}\n');

  const head = await repo.headFile({ path: 'bin/all-bytes.bin' });
  assert.equal(head.blobSha, gitBlobSha(bytes), 'X-Blob-Sha is the git blob id');
  assert.equal(head.size, 512);
  const emptyHead = await repo.headFile({ path: 'bin/empty.bin' });
  assert.equal(emptyHead.blobSha, 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391', 'empty blob id');
  assert.equal(emptyHead.size, 0);
});

test('20 MiB file streamed from a ReadableStream round-trips (sha256)', { timeout: T_LONG }, async () => {
  const repo = await freshRepo('big');
  const CHUNK = 1024 * 1024 + 7; // deliberately not aligned with the SDK's 4 MiB chunks
  const TOTAL = 20 * 1024 * 1024;
  const sha = createHash('sha256');
  const git = createHash('sha1').update(`blob ${TOTAL}\0`);
  let produced = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (produced >= TOTAL) {
        controller.close();
        return;
      }
      const n = Math.min(CHUNK, TOTAL - produced);
      const chunk = randomBytes(n);
      sha.update(chunk);
      git.update(chunk);
      produced += n;
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    },
  });

  const res = await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'big file', author: AUTHOR })
    .addFileFromString('small.txt', 'small\n')
    .addFile('data/big.bin', stream)
    .send();
  assertCommitResult(res);
  assert.equal(produced, TOTAL);
  assert.equal(res.blobCount, 2);
  const expectedSha256 = sha.digest('hex');
  const expectedBlob = git.digest('hex');

  const response = await repo.getFileStream({ path: 'data/big.bin' });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-length'), String(TOTAL));
  assert.equal(response.headers.get('x-blob-sha'), expectedBlob);
  const readBack = createHash('sha256');
  let size = 0;
  for await (const chunk of response.body) {
    readBack.update(chunk);
    size += chunk.byteLength;
  }
  assert.equal(size, TOTAL, 'byte count');
  assert.equal(readBack.digest('hex'), expectedSha256, 'sha256 of the content');

  const meta = await repo.listFilesWithMetadata();
  const big = meta.files.find((f) => f.path === 'data/big.bin');
  assert.equal(big?.size, TOTAL, 'metadata size');

  // A range deep inside the file.
  const ranged = await repo.getFileStream({ path: 'data/big.bin', headers: { range: 'bytes=10485760-10485775' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-range'), `bytes 10485760-10485775/${TOTAL}`);
  assert.equal((await ranged.arrayBuffer()).byteLength, 16);
});

test('file modes: 100755 executable and 120000 symlink', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('modes');
  await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'modes', author: AUTHOR })
    .addFileFromString('bin/run.sh', '#!/bin/sh\necho hi\n', { mode: '100755' })
    .addFileFromString('target.txt', 'target\n')
    .addFileFromString('link', 'target.txt', { mode: '120000' })
    .addFile('plain.txt', new TextEncoder().encode('plain\n'), { mode: '100644' })
    .send();

  const files = await repo.listFiles();
  const byPath = Object.fromEntries(files.entries.map((e) => [e.path, e]));
  assert.deepEqual(byPath['bin/run.sh'], { path: 'bin/run.sh', type: 'blob', mode: '100755' });
  assert.deepEqual(byPath['link'], { path: 'link', type: 'symlink', mode: '120000' });
  assert.deepEqual(byPath['plain.txt'], { path: 'plain.txt', type: 'blob', mode: '100644' });
  assert.deepEqual(byPath['target.txt'], { path: 'target.txt', type: 'blob', mode: '100644' });
  assert.ok(files.paths.includes('link'), 'symlinks are listed in paths (Q3)');

  // The symlink blob content is the link target.
  assert.equal(await readText(repo, 'link'), 'target.txt');

  const meta = await repo.listFilesWithMetadata();
  const metaBy = Object.fromEntries(meta.files.map((f) => [f.path, f]));
  assert.equal(metaBy['bin/run.sh'].mode, '100755');
  assert.equal(metaBy['link'].mode, '120000');
  assert.equal(metaBy['link'].size, 'target.txt'.length);
  if (metaBy['link'].type !== undefined) assert.equal(metaBy['link'].type, 'symlink');

  // Changing only the mode of a file is a real change.
  const chmod = await commit(repo, { 'plain.txt': { content: 'plain\n', mode: '100755' } });
  const after = await repo.listFiles();
  assert.equal(after.entries.find((e) => e.path === 'plain.txt')?.mode, '100755');
  assert.match(chmod.commitSha, SHA_RE);
});

test('deletePath removes a file and a whole directory', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('delete');
  await commit(repo, {
    'keep.txt': 'keep\n',
    'gone.txt': 'gone\n',
    'dir/a.txt': 'a\n',
    'dir/sub/b.txt': 'b\n',
    'dir/sub/deeper/c.txt': 'c\n',
    'other/d.txt': 'd\n',
  });
  assert.equal((await filePaths(repo)).length, 6);

  const res = await commit(repo, { 'gone.txt': null, dir: null });
  assert.deepEqual(await filePaths(repo), ['keep.txt', 'other/d.txt']);
  assert.equal(res.blobCount, 0, 'a delete-only commit writes no blobs');

  // Deleting a nested directory only.
  await commit(repo, { 'other/e.txt': 'e\n', 'x/y/z.txt': 'z\n' });
  await commit(repo, { 'x/y': null });
  assert.deepEqual(await filePaths(repo), ['keep.txt', 'other/d.txt', 'other/e.txt']);

  // Delete + re-add in the same commit; leading "/" is stripped by the SDK.
  await commit(repo, { 'keep.txt': null, '/fresh.txt': 'fresh\n' });
  assert.deepEqual(await filePaths(repo), ['fresh.txt', 'other/d.txt', 'other/e.txt']);

  // A file can replace a directory and vice versa.
  await commit(repo, { other: 'now a file\n' });
  assert.deepEqual(await filePaths(repo), ['fresh.txt', 'other']);
  await commit(repo, { 'fresh.txt/inner.txt': 'inner\n' });
  assert.deepEqual(await filePaths(repo), ['fresh.txt/inner.txt', 'other']);
});

test('expectedHeadSha: match succeeds, mismatch → RefUpdateError precondition_failed', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('expect');
  const c1 = await commit(repo, { 'a.txt': '1\n' });
  const c2 = await commit(repo, { 'a.txt': '2\n' }, { expectedHeadSha: c1.commitSha });
  assert.equal(c2.refUpdate.oldSha, c1.commitSha);

  const err = await expectRefUpdateError(
    commit(repo, { 'a.txt': '3\n' }, { expectedHeadSha: c1.commitSha }),
    'precondition_failed',
    'stale expectedHeadSha',
  );
  assert.equal(err.status, 'precondition_failed');
  if (err.refUpdate?.branch !== undefined) assert.equal(err.refUpdate.branch, 'main');
  if (err.refUpdate?.oldSha !== undefined) assert.equal(err.refUpdate.oldSha, c2.commitSha, 'old_sha reports the current tip');

  // An unrelated, well-formed SHA also mismatches.
  await expectRefUpdateError(
    commit(repo, { 'a.txt': '3\n' }, { expectedHeadSha: 'f'.repeat(40) }),
    'precondition_failed',
    'bogus expectedHeadSha',
  );

  assert.equal(await branchHead(repo, 'main'), c2.commitSha, 'branch unchanged after failures');
  assert.equal(await readText(repo, 'a.txt'), '2\n');
});

test('new branch from baseBranch; unknown target without base → not_found', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('branching');
  const m1 = await commit(repo, { 'base.txt': 'base\n' });

  const f1 = await commit(repo, { 'feature.txt': 'f\n' }, { targetBranch: 'feature/one', baseBranch: 'main' });
  assert.equal(f1.targetBranch, 'feature/one');
  assert.equal(f1.refUpdate.oldSha, ZERO_SHA, 'new branch reports zero old_sha');
  const { commit: info } = await repo.getCommit({ sha: f1.commitSha });
  assert.deepEqual(info.parentShas, [m1.commitSha], 'parent is the base branch tip');

  assert.deepEqual(await filePaths(repo, { ref: 'feature/one' }), ['base.txt', 'feature.txt']);
  assert.deepEqual(await filePaths(repo), ['base.txt'], 'main unchanged');
  assert.equal(await branchHead(repo, 'feature/one'), f1.commitSha);
  assert.equal(await branchHead(repo, 'main'), m1.commitSha);

  // baseBranch is ignored when the target already exists (parent = target tip).
  const f2 = await commit(repo, { 'feature2.txt': 'f2\n' }, { targetBranch: 'feature/one', baseBranch: 'main' });
  assert.equal(f2.refUpdate.oldSha, f1.commitSha);

  // expectedHeadSha with a new branch must equal the base tip.
  const g = await commit(repo, { 'g.txt': 'g\n' }, { targetBranch: 'g', baseBranch: 'main', expectedHeadSha: m1.commitSha });
  assert.equal(g.refUpdate.oldSha, ZERO_SHA);

  // Missing target, no base, repo has refs → not_found.
  await expectRefUpdateError(
    commit(repo, { 'x.txt': 'x\n' }, { targetBranch: 'nowhere' }),
    'not_found',
    'unknown target branch without base',
  );
  // Missing base branch → not_found.
  await expectRefUpdateError(
    commit(repo, { 'x.txt': 'x\n' }, { targetBranch: 'nowhere2', baseBranch: 'no-such-base' }),
    'not_found',
    'unknown base branch',
  );
  const names = (await allBranches(repo)).map((b) => b.name);
  assert.ok(!names.includes('nowhere') && !names.includes('nowhere2'), 'failed commits create no branches');
});

test('committer different from author is recorded', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('committer');
  const res = await commit(repo, { 'a.txt': 'a\n' }, { committer: COMMITTER, message: 'Subject line\n\nBody paragraph.' });
  const { commit: info } = await repo.getCommit({ sha: res.commitSha });
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.authorEmail, AUTHOR.email);
  assert.equal(info.committerName, COMMITTER.name);
  assert.equal(info.committerEmail, COMMITTER.email);
  assert.equal(info.message.trimEnd(), 'Subject line\n\nBody paragraph.', 'full message preserved');
  assert.equal(info.signature, undefined, 'unsigned commit has no signature');
  assert.equal(info.payload, undefined);

  const listed = (await repo.listCommits()).commits[0];
  assert.equal(listed.committerName, COMMITTER.name);
  assert.equal(listed.committerEmail, COMMITTER.email);
});

test('metadata-only commit and an empty file', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('empty-change');
  const c1 = await commit(repo, { 'a.txt': 'a\n' });
  // No operations at all (Q8: recommended to create a commit with the same tree).
  const builder = repo.createCommit({ targetBranch: 'main', commitMessage: 'no-op', author: AUTHOR });
  let res;
  try {
    res = await builder.send();
  } catch (err) {
    // Q8 alternative: 400 invalid.
    assert.equal(err.reason, 'invalid', `empty commit rejected with unexpected error: ${err}`);
  }
  if (res) {
    assertCommitResult(res);
    assert.equal(res.treeSha, c1.treeSha, 'no-op commit keeps the tree');
    assert.equal(res.refUpdate.oldSha, c1.commitSha);
  }
  // Deleting a path that does not exist is a no-op, not an error.
  const c3 = await commit(repo, { 'does/not/exist.txt': null, 'b.txt': '' });
  assert.equal((await readFile(repo, 'b.txt')).length, 0);
  assert.deepEqual(await filePaths(repo), ['a.txt', 'b.txt']);
  assert.match(c3.commitSha, SHA_RE);
});

test('commit to an ephemeral branch does not touch normal branches', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('eph-commit');
  const m1 = await commit(repo, { 'a.txt': 'main\n' });
  const e1 = await commit(repo, { 'a.txt': 'ephemeral\n' }, { targetBranch: 'scratch', baseBranch: 'main', ephemeral: true });
  assert.equal(e1.targetBranch, 'scratch');
  const { commit: info } = await repo.getCommit({ sha: e1.commitSha });
  assert.deepEqual(info.parentShas, [m1.commitSha]);

  assert.equal(await readText(repo, 'a.txt', { ref: 'scratch', ephemeral: true }), 'ephemeral\n');
  assert.equal(await readText(repo, 'a.txt'), 'main\n');
  const normal = (await allBranches(repo)).map((b) => b.name);
  assert.deepEqual(normal, ['main'], 'ephemeral branch not listed among normal branches');

  // Follow-up commit on the ephemeral branch, then one based on it (ephemeralBase).
  const e2 = await commit(repo, { 'b.txt': 'b\n' }, { targetBranch: 'scratch', ephemeral: true, expectedHeadSha: e1.commitSha });
  assert.equal(e2.refUpdate.oldSha, e1.commitSha);
  const n1 = await commit(repo, { 'c.txt': 'c\n' }, { targetBranch: 'from-eph', baseBranch: 'scratch', ephemeralBase: true });
  const { commit: n1info } = await repo.getCommit({ sha: n1.commitSha });
  assert.deepEqual(n1info.parentShas, [e2.commitSha], 'ephemeralBase resolves the base in the ephemeral namespace');
  assert.deepEqual(await filePaths(repo, { ref: 'from-eph' }), ['a.txt', 'b.txt', 'c.txt']);

  const ephCommits = await allCommits(repo, { branch: 'scratch', ephemeral: true });
  assert.deepEqual(ephCommits.map((c) => c.sha), [e2.commitSha, e1.commitSha, m1.commitSha]);
});

test('pack_bytes / blob_count reflect the written blobs', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('counts');
  const res = await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'three', author: AUTHOR })
    .addFileFromString('a', 'a')
    .addFileFromString('b', 'b')
    .addFileFromString('c', 'c')
    .send();
  assert.equal(res.blobCount, 3);
  assert.ok(Number.isInteger(res.packBytes) && res.packBytes > 0);
  const hash = sha256(Buffer.from('a'));
  assert.equal(sha256(await readFile(repo, 'a')), hash);
});

wireConformanceTest();
