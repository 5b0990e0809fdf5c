// §5.10 listFiles, listFilesWithMetadata, getFileStream, headFile.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTHOR,
  SHA_RE,
  T_SHORT,
  bodyBytes,
  commit,
  expectApiError,
  freshRepo,
  gitBlobSha,
  readText,
  wireConformanceTest,
} from './helpers.mjs';

const TREE = {
  'README.md': '# readme\n',
  'src/main.ts': 'console.log("main");\n',
  'src/util/strings.ts': 'export const s = 1;\n',
  'src/util/numbers.ts': 'export const n = 2;\n',
  'docs/guide.md': 'guide\n',
  'docs/api/ref.md': 'ref\n',
  'z.txt': 'zed\n',
};

async function treeRepo() {
  const repo = await freshRepo('files');
  const c1 = await commit(repo, TREE, { message: 'tree' });
  return { repo, c1 };
}

test('listFiles legacy mode: all blob paths, entries, ref', { timeout: T_SHORT }, async () => {
  const { repo } = await treeRepo();
  const res = await repo.listFiles();
  assert.deepEqual([...res.paths].sort(), Object.keys(TREE).sort(), 'paths = every file, repo-relative');
  assert.equal(res.ref, 'main', 'ref echoes the default branch');
  assert.equal(res.hasMore, false);
  assert.equal(res.nextCursor, undefined);
  for (const p of res.paths) assert.ok(!p.endsWith('/') && !p.startsWith('/'), `clean path ${p}`);

  const blobs = res.entries.filter((e) => e.type === 'blob').map((e) => e.path).sort();
  assert.deepEqual(blobs, Object.keys(TREE).sort(), 'blob entries = files');
  for (const e of res.entries) {
    if (e.type === 'tree') assert.equal(e.mode, '040000', `tree mode for ${e.path}`);
    if (e.type === 'blob') assert.equal(e.mode, '100644', `blob mode for ${e.path}`);
  }
  const trees = res.entries.filter((e) => e.type === 'tree').map((e) => e.path).sort();
  if (trees.length > 0) {
    assert.deepEqual(trees, ['docs', 'docs/api', 'src', 'src/util'], 'tree entries (when present) are the directories');
  }

  // Explicit ref echo.
  const byBranch = await repo.listFiles({ ref: 'main' });
  assert.equal(byBranch.ref, 'main');
  assert.deepEqual([...byBranch.paths].sort(), Object.keys(TREE).sort());
});

test('listFiles with path and recursive:false', { timeout: T_SHORT }, async () => {
  const { repo } = await treeRepo();

  const src = await repo.listFiles({ path: 'src' });
  assert.deepEqual([...src.paths].sort(), ['src/main.ts', 'src/util/numbers.ts', 'src/util/strings.ts']);

  const srcSlash = await repo.listFiles({ path: 'src/util' });
  assert.deepEqual([...srcSlash.paths].sort(), ['src/util/numbers.ts', 'src/util/strings.ts']);

  const rootShallow = await repo.listFiles({ recursive: false });
  assert.deepEqual([...rootShallow.paths].sort(), ['README.md', 'z.txt'], 'recursive=false: only direct child files in paths');
  const shallowEntries = rootShallow.entries.map((e) => `${e.type}:${e.path}`).sort();
  assert.deepEqual(shallowEntries, ['blob:README.md', 'blob:z.txt', 'tree:docs', 'tree:src'], 'direct children incl. directories');

  const srcShallow = await repo.listFiles({ path: 'src', recursive: false });
  assert.deepEqual([...srcShallow.paths].sort(), ['src/main.ts']);
  assert.deepEqual(srcShallow.entries.map((e) => `${e.type}:${e.path}`).sort(), ['blob:src/main.ts', 'tree:src/util']);

  // recursive=true is the default and must not be read as truthy "false".
  const recursive = await repo.listFiles({ path: 'docs', recursive: true });
  assert.deepEqual([...recursive.paths].sort(), ['docs/api/ref.md', 'docs/guide.md']);
});

test('listFiles paginated with limit + cursor', { timeout: T_SHORT }, async () => {
  const { repo } = await treeRepo();
  const seen = [];
  let cursor;
  let pages = 0;
  for (; pages < 20; pages++) {
    const res = await repo.listFiles({ limit: 2, ...(cursor ? { cursor } : {}) });
    assert.ok(res.paths.length <= 2, 'page respects limit');
    seen.push(...res.paths);
    if (!res.hasMore) break;
    assert.ok(res.nextCursor, 'hasMore requires nextCursor');
    cursor = res.nextCursor;
  }
  assert.ok(pages >= 3, `expected several pages, got ${pages + 1}`);
  assert.equal(new Set(seen).size, seen.length, 'no duplicates across pages');
  assert.deepEqual([...seen].sort(), Object.keys(TREE).sort(), 'pages cover every file');

  // Paginated + path filter.
  const p = await repo.listFiles({ path: 'src', limit: 100 });
  assert.deepEqual([...p.paths].sort(), ['src/main.ts', 'src/util/numbers.ts', 'src/util/strings.ts']);
  assert.equal(p.hasMore, false);
});

test('listFiles at an older ref, unknown ref → 404', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await treeRepo();
  await commit(repo, { 'new.txt': 'new\n', 'z.txt': null });
  const old = await repo.listFiles({ ref: c1.commitSha });
  assert.deepEqual([...old.paths].sort(), Object.keys(TREE).sort());
  const now = await repo.listFiles();
  assert.ok(now.paths.includes('new.txt') && !now.paths.includes('z.txt'));
  await expectApiError(repo.listFiles({ ref: 'no-such-ref' }), 404, 'listFiles unknown ref');
});

test('listFilesWithMetadata: per-file last_commit_sha and commits map', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('files-meta');
  const c1 = await commit(repo, { 'a.txt': 'a1\n', 'b.txt': 'b1\n', 'dir/d.txt': 'd1\n' }, { message: 'c1 message' });
  const c2 = await commit(repo, { 'a.txt': 'a2 longer\n' }, { message: 'c2 message' });
  const c3 = await commit(repo, { 'c.txt': 'c3\n' }, { message: 'c3 message' });
  await commit(repo, { 'unrelated/x.txt': 'x\n' }, { targetBranch: 'side', baseBranch: 'main' });

  const res = await repo.listFilesWithMetadata();
  assert.equal(res.ref, 'main');
  assert.equal(res.hasMore, false);
  const by = Object.fromEntries(res.files.map((f) => [f.path, f]));
  assert.deepEqual(Object.keys(by).sort(), ['a.txt', 'b.txt', 'c.txt', 'dir/d.txt']);
  assert.equal(by['a.txt'].lastCommitSha, c2.commitSha, 'a.txt last touched by c2');
  assert.equal(by['b.txt'].lastCommitSha, c1.commitSha, 'b.txt last touched by c1');
  assert.equal(by['c.txt'].lastCommitSha, c3.commitSha, 'c.txt last touched by c3');
  assert.equal(by['dir/d.txt'].lastCommitSha, c1.commitSha);
  assert.equal(by['a.txt'].size, 'a2 longer\n'.length);
  assert.equal(by['b.txt'].size, 3);
  for (const f of res.files) {
    assert.equal(f.mode, '100644');
    if (f.type !== undefined) assert.equal(f.type, 'blob');
  }

  const shas = Object.keys(res.commits).sort();
  assert.deepEqual(shas, [c1.commitSha, c2.commitSha, c3.commitSha].sort(), 'commits map holds exactly the referenced shas');
  const m2 = res.commits[c2.commitSha];
  assert.equal(m2.author, AUTHOR.name);
  assert.ok(m2.message.startsWith('c2 message'), `message: ${m2.message}`);
  assert.ok(!Number.isNaN(m2.date.getTime()), `date parses: ${m2.rawDate}`);

  // ref = older commit.
  const old = await repo.listFilesWithMetadata({ ref: c1.commitSha });
  const oldBy = Object.fromEntries(old.files.map((f) => [f.path, f]));
  assert.deepEqual(Object.keys(oldBy).sort(), ['a.txt', 'b.txt', 'dir/d.txt']);
  assert.equal(oldBy['a.txt'].lastCommitSha, c1.commitSha);
  assert.deepEqual(Object.keys(old.commits), [c1.commitSha]);

  // path filter.
  const dir = await repo.listFilesWithMetadata({ path: 'dir' });
  assert.deepEqual(dir.files.map((f) => f.path), ['dir/d.txt']);

  // Pagination.
  const seen = [];
  let cursor;
  for (let i = 0; i < 10; i++) {
    const page = await repo.listFilesWithMetadata({ limit: 1, ...(cursor ? { cursor } : {}) });
    assert.ok(page.files.length <= 1);
    for (const f of page.files) {
      seen.push(f.path);
      assert.ok(page.commits[f.lastCommitSha], 'every page carries the commits it references');
    }
    if (!page.hasMore) break;
    assert.ok(page.nextCursor);
    cursor = page.nextCursor;
  }
  assert.deepEqual([...seen].sort(), ['a.txt', 'b.txt', 'c.txt', 'dir/d.txt']);
});

// ------------------------------------------------------------ file reads

async function fileRepo() {
  const repo = await freshRepo('file-read');
  const content = '0123456789abcdefghij\n';
  const c1 = await commit(repo, { 'data/f.txt': content, 'other.txt': 'other\n' });
  const c2 = await commit(repo, { 'other.txt': 'other changed\n' });
  return { repo, content, c1, c2, blob: gitBlobSha(content) };
}

test('getFileStream: bytes and validators', { timeout: T_SHORT }, async () => {
  const { repo, content, c1, blob } = await fileRepo();
  const res = await repo.getFileStream({ path: 'data/f.txt' });
  assert.equal(res.status, 200);
  assert.equal((await bodyBytes(res)).toString(), content);
  assert.equal(res.headers.get('etag'), `"${blob}"`, 'ETag is the quoted blob sha');
  assert.equal(res.headers.get('x-blob-sha'), blob);
  assert.equal(res.headers.get('x-last-commit-sha'), c1.commitSha, 'last commit touching the path');
  assert.equal(res.headers.get('content-length'), String(content.length));
  assert.match(res.headers.get('content-type') ?? '', /^application\/octet-stream/);
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.equal(res.headers.get('content-encoding'), null, 'no content-encoding');
  const lm = res.headers.get('last-modified');
  assert.ok(lm && !Number.isNaN(new Date(lm).getTime()), `Last-Modified parses: ${lm}`);
});

test('getFileStream: Range requests → 206 / 416', { timeout: T_SHORT }, async () => {
  const { repo, content, blob } = await fileRepo();
  const size = content.length;

  const r1 = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=2-5' } });
  assert.equal(r1.status, 206);
  assert.equal((await bodyBytes(r1)).toString(), content.slice(2, 6));
  assert.equal(r1.headers.get('content-range'), `bytes 2-5/${size}`);
  assert.equal(r1.headers.get('content-length'), '4');
  assert.equal(r1.headers.get('etag'), `"${blob}"`);

  const r2 = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=10-' } });
  assert.equal(r2.status, 206);
  assert.equal((await bodyBytes(r2)).toString(), content.slice(10));
  assert.equal(r2.headers.get('content-range'), `bytes 10-${size - 1}/${size}`);

  const r3 = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=-3' } });
  assert.equal(r3.status, 206);
  assert.equal((await bodyBytes(r3)).toString(), content.slice(-3));
  assert.equal(r3.headers.get('content-range'), `bytes ${size - 3}-${size - 1}/${size}`);

  // End beyond the size is clamped.
  const r4 = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=15-9999' } });
  assert.equal(r4.status, 206);
  assert.equal((await bodyBytes(r4)).toString(), content.slice(15));
  assert.equal(r4.headers.get('content-range'), `bytes 15-${size - 1}/${size}`);

  const bad = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=1000-2000' } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get('content-range'), `bytes */${size}`);
  await bad.arrayBuffer();

  // If-Range with the current ETag honours the range, a stale one gets the full body.
  const ir = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=0-1', ifRange: `"${blob}"` } });
  assert.equal(ir.status, 206);
  assert.equal((await bodyBytes(ir)).toString(), content.slice(0, 2));
  const stale = await repo.getFileStream({ path: 'data/f.txt', headers: { range: 'bytes=0-1', ifRange: `"${'0'.repeat(40)}"` } });
  assert.equal(stale.status, 200);
  assert.equal((await bodyBytes(stale)).toString(), content);
});

test('getFileStream: conditional requests → 304 / 412', { timeout: T_SHORT }, async () => {
  const { repo, content, blob } = await fileRepo();
  const etag = `"${blob}"`;

  const nm = await repo.getFileStream({ path: 'data/f.txt', headers: { ifNoneMatch: etag } });
  assert.equal(nm.status, 304);
  assert.equal((await bodyBytes(nm)).length, 0);

  const nmList = await repo.getFileStream({ path: 'data/f.txt', headers: { ifNoneMatch: `"abc", ${etag}` } });
  assert.equal(nmList.status, 304, 'If-None-Match list containing the etag');
  await nmList.arrayBuffer();

  const nmWeak = await repo.getFileStream({ path: 'data/f.txt', headers: { ifNoneMatch: `W/${etag}` } });
  assert.equal(nmWeak.status, 304, 'If-None-Match uses weak comparison');
  await nmWeak.arrayBuffer();

  const nmOther = await repo.getFileStream({ path: 'data/f.txt', headers: { ifNoneMatch: '"other"' } });
  assert.equal(nmOther.status, 200);
  assert.equal((await bodyBytes(nmOther)).toString(), content);

  const im = await repo.getFileStream({ path: 'data/f.txt', headers: { ifMatch: '"mismatch"' } });
  assert.equal(im.status, 412);
  await im.arrayBuffer();

  const imOk = await repo.getFileStream({ path: 'data/f.txt', headers: { ifMatch: etag } });
  assert.equal(imOk.status, 200);
  assert.equal((await bodyBytes(imOk)).toString(), content);

  const imStar = await repo.getFileStream({ path: 'data/f.txt', headers: { ifMatch: '*' } });
  assert.equal(imStar.status, 200);
  await imStar.arrayBuffer();

  // If-Modified-Since in the future → 304; far past → 200.
  const future = new Date(Date.now() + 3600_000).toUTCString();
  const ims = await repo.getFileStream({ path: 'data/f.txt', headers: { ifModifiedSince: future } });
  assert.equal(ims.status, 304);
  await ims.arrayBuffer();
  const past = new Date(Date.UTC(2000, 0, 1)).toUTCString();
  const ims2 = await repo.getFileStream({ path: 'data/f.txt', headers: { ifModifiedSince: past } });
  assert.equal(ims2.status, 200);
  await ims2.arrayBuffer();
  const ius = await repo.getFileStream({ path: 'data/f.txt', headers: { ifUnmodifiedSince: past } });
  assert.equal(ius.status, 412);
  await ius.arrayBuffer();
});

test('getFileStream: ref param, missing path / ref → 404', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await fileRepo();
  assert.equal(await readText(repo, 'other.txt', { ref: c1.commitSha }), 'other\n');
  assert.equal(await readText(repo, 'other.txt', { ref: 'main' }), 'other changed\n');
  const r = await repo.getFileStream({ path: 'other.txt' });
  assert.equal(r.headers.get('x-last-commit-sha'), c2.commitSha);
  await r.arrayBuffer();

  await expectApiError(repo.getFileStream({ path: 'nope.txt' }), 404, 'missing path');
  await expectApiError(repo.getFileStream({ path: 'data' }), [400, 404], 'directory path');
  await expectApiError(repo.getFileStream({ path: 'other.txt', ref: 'no-such-branch' }), 404, 'missing ref');
});

test('headFile: size, blobSha, lastCommitSha, etag', { timeout: T_SHORT }, async () => {
  const { repo, content, c1, blob } = await fileRepo();
  const meta = await repo.headFile({ path: 'data/f.txt' });
  assert.equal(meta.status, 200);
  assert.equal(meta.size, content.length, 'HEAD carries the real Content-Length');
  assert.equal(meta.blobSha, blob);
  assert.match(meta.blobSha, SHA_RE);
  assert.equal(meta.lastCommitSha, c1.commitSha);
  assert.equal(meta.etag, `"${blob}"`);
  assert.equal(meta.acceptRanges, 'bytes');
  assert.match(meta.contentType ?? '', /^application\/octet-stream/);
  assert.ok(meta.lastModified instanceof Date, `Last-Modified: ${meta.rawLastModified}`);
  // Last-Modified is within a few minutes of the commit.
  assert.ok(Math.abs(meta.lastModified.getTime() - Date.now()) < 10 * 60_000);

  const notModified = await repo.headFile({ path: 'data/f.txt', headers: { ifNoneMatch: `"${blob}"` } });
  assert.equal(notModified.status, 304);

  const ranged = await repo.headFile({ path: 'data/f.txt', headers: { range: 'bytes=0-3' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.contentRange, `bytes 0-3/${content.length}`);
  assert.equal(ranged.size, 4);

  await expectApiError(repo.headFile({ path: 'missing.txt' }), 404, 'HEAD missing path');
});

test('file paths with spaces and unicode round-trip through query encoding', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('file-names');
  const names = ['dir with space/file name.txt', 'ünïcødé/файл.md', 'plus+and&amp=.txt', 'percent%20literal.txt'];
  const files = Object.fromEntries(names.map((n, i) => [n, `content ${i}\n`]));
  await repo
    .createCommit({ targetBranch: 'main', commitMessage: 'names', author: AUTHOR })
    .addFileFromString(names[0], files[names[0]])
    .addFileFromString(names[1], files[names[1]])
    .addFileFromString(names[2], files[names[2]])
    .addFileFromString(names[3], files[names[3]])
    .send();
  assert.deepEqual([...(await repo.listFiles()).paths].sort(), [...names].sort());
  for (const [i, n] of names.entries()) {
    assert.equal(await readText(repo, n), `content ${i}\n`, n);
  }
  const sub = await repo.listFiles({ path: 'dir with space' });
  assert.deepEqual(sub.paths, ['dir with space/file name.txt']);
});

wireConformanceTest();
