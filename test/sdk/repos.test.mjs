// §5.1 Repositories: createRepo, findOne, listRepos, deleteRepo, forks.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';

import {
  API_URL,
  ORG,
  STORAGE_HOST,
  T_LONG,
  T_SHORT,
  ZERO_SHA,
  allBranches,
  allCommits,
  commit,
  expectApiError,
  expectErrorMessage,
  freshRepo,
  newStorage,
  readText,
  storage,
  uid,
  wireConformanceTest,
} from './helpers.mjs';

test('getConfig honours apiBaseUrl/storageBaseUrl overrides', () => {
  const cfg = storage.getConfig();
  assert.equal(cfg.apiBaseUrl, API_URL);
  assert.equal(cfg.storageBaseUrl, STORAGE_HOST);
  assert.equal(cfg.name, ORG);
});

test('createRepo with default branch main; findOne returns it', { timeout: T_SHORT }, async () => {
  const id = uid('repo-default');
  const repo = await storage.createRepo({ id });
  assert.equal(repo.id, id);
  assert.equal(repo.defaultBranch, 'main');

  const found = await storage.findOne({ id });
  assert.ok(found, 'findOne must return the new repository');
  assert.equal(found.id, id);
  assert.equal(found.defaultBranch, 'main');
  assert.notEqual(found.createdAt, '', 'GET /repo should return created_at');
  assert.ok(Number.isFinite(new Date(found.createdAt).getTime()), `created_at parses: ${found.createdAt}`);

  // A new repository is empty: no branches.
  const branches = await found.listBranches();
  assert.deepEqual(branches.branches, []);
  assert.equal(branches.hasMore, false);
});

test('createRepo with a custom default branch', { timeout: T_SHORT }, async () => {
  const id = uid('repo-trunk');
  const repo = await storage.createRepo({ id, defaultBranch: 'trunk' });
  assert.equal(repo.defaultBranch, 'trunk');

  const found = await storage.findOne({ id });
  assert.equal(found?.defaultBranch, 'trunk');

  // First commit goes to trunk; listCommits without branch uses the default branch.
  const c = await commit(found, { 'README.md': '# trunk\n' }, { targetBranch: 'trunk' });
  assert.equal(c.targetBranch, 'trunk');
  assert.equal(c.refUpdate.oldSha, ZERO_SHA);
  const commits = await found.listCommits();
  assert.deepEqual(commits.commits.map((x) => x.sha), [c.commitSha]);
  const files = await found.listFiles();
  assert.equal(files.ref, 'trunk', 'listFiles defaults to the default branch');
  assert.deepEqual(files.paths, ['README.md']);

  const listed = await storage.listRepos({ q: id });
  const entry = listed.repos.find((r) => r.repoId === id);
  assert.ok(entry, 'listRepos q=<id> finds the repo');
  assert.equal(entry.defaultBranch, 'trunk');
});

test('repository ids may contain "/"', { timeout: T_SHORT }, async () => {
  const id = `${uid('team')}/project/nested`;
  const repo = await storage.createRepo({ id });
  const found = await storage.findOne({ id });
  assert.equal(found?.id, id);

  const c = await commit(repo, { 'a.txt': 'nested\n' });
  assert.equal(await readText(repo, 'a.txt'), 'nested\n');
  const head = (await repo.listBranches()).branches.find((b) => b.name === 'main');
  assert.equal(head?.headSha, c.commitSha);

  const listed = await storage.listRepos({ q: id });
  const entry = listed.repos.find((r) => r.repoId === id);
  assert.ok(entry, 'nested id listed');
  assert.equal(entry.url, id, 'url equals the repository id (Q4)');

  // The parent "directory" is not a repository.
  assert.equal(await storage.findOne({ id: id.split('/')[0] }), null);
});

test('createRepo twice → "Repository already exists"', { timeout: T_SHORT }, async () => {
  const id = uid('repo-dup');
  await storage.createRepo({ id });
  await expectErrorMessage(storage.createRepo({ id }), 'Repository already exists', 'duplicate createRepo');
  // Also with a different default branch.
  await expectErrorMessage(
    storage.createRepo({ id, defaultBranch: 'other' }),
    'Repository already exists',
    'duplicate createRepo (other default branch)',
  );
  const found = await storage.findOne({ id });
  assert.equal(found?.defaultBranch, 'main', 'duplicate create must not change the repo');
});

test('findOne of a missing repository → null', { timeout: T_SHORT }, async () => {
  assert.equal(await storage.findOne({ id: uid('missing') }), null);
  assert.equal(await storage.findOne({ id: `${uid('missing')}/nested` }), null);
});

test('listRepos: fields, q filter (case-insensitive), limit + cursor paging', { timeout: T_SHORT }, async () => {
  const prefix = uid('list').toLowerCase();
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const id = `${prefix}-r${i}`;
    await storage.createRepo({ id, ...(i === 1 ? { defaultBranch: 'develop' } : {}) });
    ids.push(id);
  }
  // A repo that must not match the filter.
  await storage.createRepo({ id: uid('unrelated') });

  // Unpaginated (default limit 20 ≥ 5).
  const all = await storage.listRepos({ q: prefix });
  assert.deepEqual(all.repos.map((r) => r.repoId), ids, 'q filter returns exactly the matching repos, in creation order');
  assert.equal(all.hasMore, false);
  for (const r of all.repos) {
    assert.equal(r.url, r.repoId, 'url equals repo id (Q4)');
    assert.equal(typeof r.createdAt, 'string');
    assert.ok(Number.isFinite(new Date(r.createdAt).getTime()), `created_at parses: ${r.createdAt}`);
    assert.equal(r.baseRepo, undefined, 'non-fork has no base_repo');
  }
  assert.equal(all.repos[0].defaultBranch, 'main');
  assert.equal(all.repos[1].defaultBranch, 'develop');

  // Case-insensitive substring match.
  const upper = await storage.listRepos({ q: `  ${prefix.toUpperCase()}  ` });
  assert.deepEqual(upper.repos.map((r) => r.repoId), ids, 'q is case-insensitive and trimmed');

  // Paging with limit 2 → 2 + 2 + 1.
  const seen = [];
  let cursor;
  const pageSizes = [];
  for (let page = 0; page < 10; page++) {
    const res = await storage.listRepos({ q: prefix, limit: 2, ...(cursor ? { cursor } : {}) });
    pageSizes.push(res.repos.length);
    seen.push(...res.repos.map((r) => r.repoId));
    if (!res.hasMore) break;
    assert.ok(res.nextCursor, 'hasMore requires nextCursor');
    cursor = res.nextCursor;
  }
  assert.deepEqual(pageSizes, [2, 2, 1]);
  assert.deepEqual(seen, ids);

  // Unfiltered walk over the whole org contains our repos exactly once.
  const everything = [];
  cursor = undefined;
  for (let page = 0; page < 500; page++) {
    const res = await storage.listRepos({ limit: 100, ...(cursor ? { cursor } : {}) });
    assert.ok(res.repos.length <= 100, 'page size respects limit');
    everything.push(...res.repos.map((r) => r.repoId));
    if (!res.hasMore) break;
    cursor = res.nextCursor;
  }
  for (const id of ids) {
    assert.equal(everything.filter((x) => x === id).length, 1, `${id} listed exactly once`);
  }
  assert.equal(new Set(everything).size, everything.length, 'no duplicates across pages');

  // A query that matches nothing.
  const none = await storage.listRepos({ q: `${prefix}-does-not-exist` });
  assert.deepEqual(none.repos, []);
  assert.equal(none.hasMore, false);
});

test('deleteRepo lifecycle: delete, re-delete → already deleted, findOne → null, recreate', { timeout: T_SHORT }, async () => {
  const id = uid('repo-del');
  const repo = await storage.createRepo({ id });
  await commit(repo, { 'old.txt': 'old\n' });

  const res = await storage.deleteRepo({ id });
  assert.equal(res.repoId, id);
  assert.equal(typeof res.message, 'string');

  assert.equal(await storage.findOne({ id }), null, 'deleted repo is not found');
  const listed = await storage.listRepos({ q: id });
  assert.ok(!listed.repos.some((r) => r.repoId === id), 'deleted repo excluded from listRepos');
  await expectApiError(repo.listBranches(), 404, 'listBranches on deleted repo');

  await expectErrorMessage(storage.deleteRepo({ id }), 'Repository already deleted', 'second deleteRepo');

  // Recreate: a brand-new, empty repository (Q29).
  const again = await storage.createRepo({ id, defaultBranch: 'main' });
  const found = await storage.findOne({ id });
  assert.ok(found, 'recreated repo is found');
  assert.deepEqual((await again.listBranches()).branches, [], 'recreated repo starts empty');
  const c = await commit(again, { 'new.txt': 'new\n' });
  assert.equal(c.refUpdate.oldSha, ZERO_SHA);
  assert.deepEqual((await again.listFiles()).paths, ['new.txt']);
  const relisted = await storage.listRepos({ q: id });
  assert.equal(relisted.repos.filter((r) => r.repoId === id).length, 1, 'recreated repo listed once');
});

test('deleteRepo of a never-created id → "Repository not found"', { timeout: T_SHORT }, async () => {
  await expectErrorMessage(storage.deleteRepo({ id: uid('never') }), 'Repository not found', 'deleteRepo unknown');
});

test('a token signed by an unregistered key is rejected with 401', { timeout: T_SHORT }, async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rogue = newStorage({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }) });
  const repo = await freshRepo('auth');
  await expectApiError(rogue.findOne({ id: repo.id }), 401, 'findOne with foreign key');
  await expectApiError(rogue.listRepos(), 401, 'listRepos with foreign key');
  await expectApiError(rogue.repo({ id: repo.id }).listBranches(), 401, 'listBranches with foreign key');
});

// ---------------------------------------------------------------- forks

async function sourceWithHistory() {
  const src = await freshRepo('fork-src');
  const c1 = await commit(src, { 'a.txt': 'one\n' }, { message: 'first' });
  const c2 = await commit(src, { 'a.txt': 'two\n', 'b.txt': 'bee\n' }, { message: 'second' });
  const f1 = await commit(src, { 'feature.txt': 'feat\n' }, { targetBranch: 'feature', baseBranch: 'main', message: 'feature work' });
  const c3 = await commit(src, { 'a.txt': 'three\n' }, { message: 'third' });
  return { src, c1, c2, c3, f1 };
}

test('fork: createRepo({baseRepo:{id}}) copies history', { timeout: T_LONG }, async () => {
  const { src, c1, c2, c3, f1 } = await sourceWithHistory();
  const forkId = uid('fork');
  const fork = await storage.createRepo({ id: forkId, baseRepo: { id: src.id } });
  assert.equal(fork.id, forkId);

  const srcCommits = await allCommits(src);
  const forkCommits = await allCommits(fork);
  assert.deepEqual(srcCommits.map((c) => c.sha), [c3.commitSha, c2.commitSha, c1.commitSha]);
  assert.deepEqual(forkCommits.map((c) => c.sha), srcCommits.map((c) => c.sha), 'fork history equals source history');
  assert.deepEqual(forkCommits, srcCommits, 'commit objects identical');

  const found = await storage.findOne({ id: forkId });
  assert.equal(found?.defaultBranch, 'main', 'fork inherits the source default branch');
  assert.equal(await readText(fork, 'a.txt'), 'three\n');

  // Q7: all branches are copied.
  const forkBranches = await allBranches(fork);
  const feature = forkBranches.find((b) => b.name === 'feature');
  assert.equal(feature?.headSha, f1.commitSha, 'feature branch copied');

  // listRepos reports the fork's base_repo.
  const listed = await storage.listRepos({ q: forkId });
  const entry = listed.repos.find((r) => r.repoId === forkId);
  assert.deepEqual(entry?.baseRepo, { provider: 'code', owner: ORG, name: src.id });

  // The fork is independent from the source afterwards.
  const fc = await commit(fork, { 'fork-only.txt': 'x\n' }, { expectedHeadSha: c3.commitSha });
  assert.equal(fc.refUpdate.oldSha, c3.commitSha);
  assert.deepEqual((await allCommits(src)).map((c) => c.sha), srcCommits.map((c) => c.sha), 'source unaffected');
  const sc = await commit(src, { 'src-only.txt': 'y\n' });
  const forkAfter = await allCommits(fork);
  assert.equal(forkAfter[0].sha, fc.commitSha);
  assert.ok(!forkAfter.some((c) => c.sha === sc.commitSha), 'source commits after the fork are not visible');
});

test('fork with ref / sha points the default branch at that commit (Q7)', { timeout: T_LONG }, async () => {
  const { src, c1, c2, f1 } = await sourceWithHistory();

  const byRef = await storage.createRepo({ id: uid('fork-ref'), baseRepo: { id: src.id, ref: 'feature' } });
  const refCommits = await allCommits(byRef);
  assert.deepEqual(refCommits.map((c) => c.sha), [f1.commitSha, c2.commitSha, c1.commitSha], 'fork(ref=feature) main == feature');
  assert.equal(await readText(byRef, 'feature.txt'), 'feat\n');

  const bySha = await storage.createRepo({ id: uid('fork-sha'), baseRepo: { id: src.id, sha: c2.commitSha } });
  const shaCommits = await allCommits(bySha);
  assert.deepEqual(shaCommits.map((c) => c.sha), [c2.commitSha, c1.commitSha], 'fork(sha=c2) main == c2');
  assert.equal(await readText(bySha, 'a.txt'), 'two\n');

  // Custom default branch on a fork.
  const custom = await storage.createRepo({ id: uid('fork-def'), baseRepo: { id: src.id }, defaultBranch: 'main' });
  assert.equal((await allCommits(custom))[0].sha, (await allCommits(src))[0].sha);
});

test('fork of a missing repository fails and creates nothing', { timeout: T_SHORT }, async () => {
  const id = uid('fork-bad');
  const err = await expectApiError(
    storage.createRepo({ id, baseRepo: { id: uid('no-such-src') } }),
    [400, 403, 404, 412, 422],
    'fork of missing source',
  );
  assert.ok(err.message.length > 0);
  assert.equal(await storage.findOne({ id }), null, 'failed fork leaves no repository behind');
});

wireConformanceTest();
