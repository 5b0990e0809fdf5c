// Upstream sync and git credentials through the SDK (API.md §5.1.1 (c),
// §5.2, §5.3): a repository created with a generic base_repo follows an
// upstream on loopback (git http-backend over TLS, started by
// sdk_test.go), pullUpstream brings new commits, and a credential made
// with createGitCredential opens an upstream behind basic auth.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  T_LONG,
  T_SHORT,
  allBranches,
  expectErrorMessage,
  git,
  readText,
  storage,
  tempDir,
  uid,
  wireConformanceTest,
} from './helpers.mjs';

const ORIGIN_HOST = process.env.STRATA_ORIGIN_HOST ?? '';
const ORIGIN_ROOT = process.env.STRATA_ORIGIN_ROOT ?? '';
const ORIGIN_PASSWORD = process.env.STRATA_ORIGIN_PASSWORD ?? '';

// An upstream repository: a bare repository under the origin's root and a
// work tree that pushes to it.
async function upstream(owner) {
  const name = uid('up');
  const bare = join(ORIGIN_ROOT, owner, `${name}.git`);
  mkdirSync(join(ORIGIN_ROOT, owner), { recursive: true });
  await git(['init', '-q', '--bare', '-b', 'main', bare]);
  const work = tempDir('strata-origin-');
  await git(['init', '-q', '-b', 'main', work]);
  const commit = async (branch, files) => {
    const current = (await git(['branch', '--show-current'], { cwd: work })).trim();
    if (current !== branch) {
      const exists = (await git(['branch', '--list', branch], { cwd: work })).trim() !== '';
      await git(exists ? ['checkout', '-q', branch] : ['checkout', '-q', '-b', branch], { cwd: work });
    }
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(work, path, '..'), { recursive: true });
      writeFileSync(join(work, path), text);
    }
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '-q', '-m', `change ${branch}`], { cwd: work });
    await git(['push', '-q', '--mirror', bare], { cwd: work });
    return (await git(['rev-parse', 'HEAD'], { cwd: work })).trim();
  };
  return { owner, name, bare, commit };
}

async function eventually(check, label, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${label}: ${last?.message ?? last}`);
}

async function heads(repo) {
  const list = await allBranches(repo);
  return Object.fromEntries(list.map((b) => [b.name, b.headSha]));
}

test('sync: a generic upstream is mirrored at creation and on pullUpstream', { timeout: T_LONG }, async () => {
  assert.ok(ORIGIN_HOST, 'STRATA_ORIGIN_HOST must be set by sdk_test.go');
  const up = await upstream('team');
  const first = await up.commit('main', { 'README.md': 'one\n' });
  const feature = await up.commit('feature', { 'f.txt': 'f\n' });

  const repo = await storage.createRepo({
    id: uid('mirror'),
    baseRepo: { provider: 'gitlab', owner: up.owner, name: up.name, upstreamHost: ORIGIN_HOST },
  });
  await eventually(async () => assert.deepEqual(await heads(repo), { main: first, feature }), 'first sync');

  const second = await up.commit('main', { 'README.md': 'two\n' });
  await repo.pullUpstream();
  await eventually(async () => assert.equal((await heads(repo)).main, second), 'sync after pullUpstream');
  assert.equal(await readText(repo, 'README.md'), 'two\n');

  // One ref: only that branch moves.
  const third = await up.commit('main', { 'README.md': 'three\n' });
  const feature2 = await up.commit('feature', { 'f.txt': 'f2\n' });
  await repo.pullUpstream({ ref: 'feature' });
  await eventually(async () => assert.equal((await heads(repo)).feature, feature2), 'sync of feature');
  assert.equal((await heads(repo)).main, second, 'main moved on a sync of feature only');
  await repo.pullUpstream();
  await eventually(async () => assert.equal((await heads(repo)).main, third), 'full sync');
});

test('sync: pullUpstream on a repository without upstream is refused', { timeout: T_SHORT }, async () => {
  const repo = await storage.createRepo({ id: uid('plain') });
  await assert.rejects(repo.pullUpstream(), (err) => err.status === 400 && /no upstream/.test(err.message));
});

test('git credentials: create, conflict, update, delete; a credential opens a private upstream', { timeout: T_LONG }, async () => {
  const up = await upstream('private');
  const tip = await up.commit('main', { 'secret.txt': 'classified\n' });
  const repo = await storage.createRepo({
    id: uid('private'),
    baseRepo: { provider: 'gitea', owner: up.owner, name: up.name, upstreamHost: ORIGIN_HOST },
  });

  // A wrong password first.
  const cred = await storage.createGitCredential({ repoId: repo.id, username: 'sdk', password: 'wrong' });
  assert.match(cred.id, /\S/);
  await expectErrorMessage(
    storage.createGitCredential({ repoId: repo.id, username: 'sdk', password: 'again' }),
    'A credential already exists for this repository',
    'second credential',
  );
  // (That the wrong password syncs nothing is checked in Go:
  // internal/upstream TestSync_credentials.)
  const updated = await storage.updateGitCredential({ id: cred.id, username: 'sdk', password: ORIGIN_PASSWORD });
  assert.equal(updated.id, cred.id);
  await repo.pullUpstream();
  await eventually(async () => assert.deepEqual(await heads(repo), { main: tip }), 'sync with the credential');
  assert.equal(await readText(repo, 'secret.txt'), 'classified\n');

  await storage.deleteGitCredential({ id: cred.id });
  await expectErrorMessage(storage.deleteGitCredential({ id: cred.id }), 'Credential not found', 'second delete');
  await expectErrorMessage(
    storage.updateGitCredential({ id: cred.id, password: 'x' }),
    'Credential not found',
    'update after delete',
  );
});

wireConformanceTest();
