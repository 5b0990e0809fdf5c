// §6 Git smart-HTTP through the SDK's remote URLs: getRemoteURL,
// getEphemeralRemoteURL, getImportRemoteURL (§2.5, §6.1–6.3), ref policies
// on pushes (§3), and the interplay of pushes with REST writes.
//
// Real git runs against the server (helpers.mjs: isolated config and HOME,
// GIT_SSL_CAINFO = the test CA, no prompts).
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import {
  AUTHOR,
  CA_FILE,
  RefUpdateError,
  SHA_RE,
  STORAGE_HOST,
  T_LONG,
  T_SHORT,
  allBranches,
  allCommits,
  assertRecentTimestamp,
  branchHead,
  commit,
  filePaths,
  freshRepo,
  git,
  gitFails,
  readText,
  redact,
  runGit,
  storage,
  tempDir,
  uid,
  wireConformanceTest,
} from './helpers.mjs';

assert.ok(CA_FILE, 'STRATA_CA_FILE must be set (run the suite through: go test ./test/sdk/)');

const GIT_TIMEOUT = 60_000;

function jwtClaims(url) {
  const parts = decodeURIComponent(new URL(url).password).split('.');
  assert.equal(parts.length, 3, 'the password is a compact JWS');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

async function clone(url, extra = []) {
  const dir = join(tempDir('strata-clone-'), 'wt');
  await git(['clone', '-q', ...extra, url, dir], { timeoutMs: GIT_TIMEOUT });
  return dir;
}

async function rev(dir, what) {
  return (await git(['rev-parse', what], { cwd: dir })).trim();
}

/** Writes files into a work tree, stages and commits them; returns the new HEAD. */
async function localCommit(dir, files, message = 'local commit') {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git(['add', '-A'], { cwd: dir });
  await git(['commit', '-q', '-m', message], { cwd: dir });
  return rev(dir, 'HEAD');
}

async function push(dir, remote, ...refspecs) {
  return git(['push', '--porcelain', remote, ...refspecs], { cwd: dir, timeoutMs: GIT_TIMEOUT });
}

/** `git ls-remote` as a {ref: sha} map. */
async function lsRemote(url, cwd) {
  const out = await git(['ls-remote', url], { cwd, timeoutMs: GIT_TIMEOUT });
  const refs = {};
  for (const line of out.split('\n').filter(Boolean)) {
    const [sha, ref] = line.split('\t');
    refs[ref] = sha;
  }
  return refs;
}

const BIN = new Uint8Array(Array.from({ length: 1024 }, (_, i) => (i * 13) % 256));

async function seededRepo(prefix, options = {}) {
  const repo = await freshRepo(prefix, options);
  const c1 = await commit(repo, {
    'README.md': '# remote test\n',
    'src/main.go': 'package main\n\nfunc main() {}\n',
    'bin/run.sh': { content: '#!/bin/sh\necho run\n', mode: '100755' },
    'data/blob.bin': BIN,
    'link': { content: 'README.md', mode: '120000' },
  });
  return { repo, c1 };
}

// ------------------------------------------------------------ clone

test('getRemoteURL: URL and token shape; git clone yields the createCommit content', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-clone');
  const c2 = await commit(repo, { 'docs/guide.md': 'guide\n' });
  await repo.createBranch({ baseRef: c1.commitSha, targetBranch: 'feature/x' });

  const url = await repo.getRemoteURL();
  const parsed = new URL(url);
  assert.equal(parsed.protocol, 'https:');
  assert.equal(parsed.host, STORAGE_HOST);
  assert.equal(parsed.username, 't');
  assert.equal(parsed.pathname, `/${repo.id}.git`);
  const claims = jwtClaims(url);
  assert.equal(claims.repo, repo.id);
  assert.deepEqual([...claims.scopes].sort(), ['git:read', 'git:write']);
  assert.equal(claims.exp - claims.iat, 365 * 24 * 3600, 'remote URL tokens live one year by default');

  const dir = await clone(url);
  assert.equal(await rev(dir, 'HEAD'), c2.commitSha, 'HEAD = main tip');
  assert.equal(await rev(dir, 'HEAD^{tree}'), c2.treeSha);
  assert.equal((await git(['symbolic-ref', 'HEAD'], { cwd: dir })).trim(), 'refs/heads/main', 'HEAD follows the default branch');
  assert.equal(await rev(dir, 'origin/feature/x'), c1.commitSha);
  assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), '# remote test\n');
  assert.equal(readFileSync(join(dir, 'docs/guide.md'), 'utf8'), 'guide\n');
  assert.ok(readFileSync(join(dir, 'data/blob.bin')).equals(Buffer.from(BIN)), 'binary file byte-exact');
  assert.ok(lstatSync(join(dir, 'link')).isSymbolicLink());
  assert.equal(readlinkSync(join(dir, 'link')), 'README.md');
  assert.ok((lstatSync(join(dir, 'bin/run.sh')).mode & 0o111) !== 0, 'executable bit');
  const tree = await git(['ls-tree', '-r', 'HEAD'], { cwd: dir });
  assert.match(tree, /^100755 blob [0-9a-f]{40}\tbin\/run\.sh$/m);
  assert.match(tree, /^120000 blob [0-9a-f]{40}\tlink$/m);
  const log = (await git(['log', '--format=%H %P', 'HEAD'], { cwd: dir })).trim().split('\n');
  assert.deepEqual(log, [`${c2.commitSha} ${c1.commitSha}`, `${c1.commitSha} `.trimEnd()]);
  await git(['fsck', '--strict'], { cwd: dir });

  // Protocol v0 and a shallow single-branch clone work too.
  const v0 = join(tempDir('strata-clone-'), 'v0');
  await git(['-c', 'protocol.version=0', 'clone', '-q', url, v0], { timeoutMs: GIT_TIMEOUT });
  assert.equal(await rev(v0, 'HEAD'), c2.commitSha);
  const shallow = await clone(url, ['--depth', '1', '--single-branch', '--branch', 'main']);
  assert.equal(await rev(shallow, 'HEAD'), c2.commitSha);
  assert.equal((await git(['rev-list', '--count', 'HEAD'], { cwd: shallow })).trim(), '1');
});

test('getRemoteURL: repository ids containing "/" are routed', { timeout: T_SHORT }, async () => {
  const id = `${uid('remote-nested')}/team/project`;
  const { repo, c1 } = await seededRepo('unused', { id });
  const url = await repo.getRemoteURL();
  assert.equal(new URL(url).pathname, `/${id}.git`);
  const dir = await clone(url);
  assert.equal(await rev(dir, 'HEAD'), c1.commitSha);
  const sha = await localCommit(dir, { 'nested.txt': 'nested\n' });
  await push(dir, 'origin', 'HEAD:refs/heads/nested-push');
  assert.equal(await branchHead(repo, 'nested-push'), sha);
});

// ------------------------------------------------------------ push

test('git push: new branch, fast-forward, force, tag and delete are visible through REST', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-push');
  const dir = await clone(await repo.getRemoteURL());

  await git(['checkout', '-q', '-b', 'feature/pushed'], { cwd: dir });
  const p1 = await localCommit(dir, { 'pushed.txt': 'from git\n' }, 'pushed by git');
  await push(dir, 'origin', 'feature/pushed');
  const branches = await allBranches(repo);
  const pushed = branches.find((b) => b.name === 'feature/pushed');
  assert.ok(pushed, `pushed branch listed: ${branches.map((b) => b.name)}`);
  assert.equal(pushed.headSha, p1);
  assert.ok(pushed.cursor.length > 0);
  assertRecentTimestamp(pushed.createdAt, 'created_at of a pushed branch (Q18)');
  assert.deepEqual(branches.map((b) => b.name), ['main', 'feature/pushed'], 'creation order');
  assert.equal(await readText(repo, 'pushed.txt', { ref: 'feature/pushed' }), 'from git\n');
  const { commit: info } = await repo.getCommit({ sha: p1 });
  assert.deepEqual(info.parentShas, [c1.commitSha]);
  assert.equal(info.message.trimEnd(), 'pushed by git');
  assert.equal(info.authorName, AUTHOR.name);

  // Fast-forward main.
  await git(['checkout', '-q', 'main'], { cwd: dir });
  const m2 = await localCommit(dir, { 'main.txt': 'main from git\n' });
  await push(dir, 'origin', 'main');
  assert.equal(await branchHead(repo, 'main'), m2);
  assert.deepEqual(await filePaths(repo), ['README.md', 'bin/run.sh', 'data/blob.bin', 'link', 'main.txt', 'src/main.go']);

  // Non-fast-forward without --force is rejected, with --force accepted.
  await git(['checkout', '-q', 'feature/pushed'], { cwd: dir });
  await git(['reset', '-q', '--hard', c1.commitSha], { cwd: dir });
  const rewritten = await localCommit(dir, { 'rewritten.txt': 'rewritten\n' });
  const nonFf = await gitFails(['push', 'origin', 'feature/pushed'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(nonFf.stderr, /rejected|non-fast-forward|fetch first/);
  assert.equal(await branchHead(repo, 'feature/pushed'), p1, 'rejected push changed nothing');
  await push(dir, 'origin', '--force', 'feature/pushed');
  assert.equal(await branchHead(repo, 'feature/pushed'), rewritten);

  // Tags.
  await git(['tag', 'v1.0', m2], { cwd: dir });
  await push(dir, 'origin', 'refs/tags/v1.0');
  const tags = await repo.listTags();
  assert.deepEqual(tags.tags.map((t) => [t.name, t.sha]), [['v1.0', m2]]);

  // Delete by push.
  await push(dir, 'origin', ':feature/pushed');
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);
  const refs = await lsRemote(await repo.getRemoteURL(), dir);
  assert.equal(refs['refs/heads/main'], m2);
  assert.equal(refs['refs/heads/feature/pushed'], undefined);
  assert.equal(refs.HEAD, m2);

  // Atomic push of two refs.
  const a1 = await localCommit(dir, { 'atomic.txt': 'a\n' });
  await push(dir, 'origin', '--atomic', `${a1}:refs/heads/atomic-1`, `${a1}:refs/heads/atomic-2`);
  assert.equal(await branchHead(repo, 'atomic-1'), a1);
  assert.equal(await branchHead(repo, 'atomic-2'), a1);
});

test('a commit made with createCommit is fetched by git, and git builds on it', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-fetch');
  const dir = await clone(await repo.getRemoteURL());
  assert.equal(await rev(dir, 'HEAD'), c1.commitSha);

  const c2 = await commit(repo, { 'rest.txt': 'from REST\n', 'README.md': '# changed by REST\n' });
  const b1 = await commit(repo, { 'branch.txt': 'b\n' }, { targetBranch: 'rest-branch', baseBranch: 'main' });
  await git(['fetch', '-q', 'origin'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.equal(await rev(dir, 'origin/main'), c2.commitSha);
  assert.equal(await rev(dir, 'origin/main^{tree}'), c2.treeSha);
  assert.equal(await rev(dir, 'origin/rest-branch'), b1.commitSha);
  assert.equal(await git(['show', 'origin/main:rest.txt'], { cwd: dir }), 'from REST\n');
  assert.equal(await git(['show', 'origin/main:README.md'], { cwd: dir }), '# changed by REST\n');
  await git(['fsck', '--strict'], { cwd: dir });

  await git(['merge', '-q', '--ff-only', 'origin/main'], { cwd: dir });
  const g = await localCommit(dir, { 'git.txt': 'on top\n' });
  await push(dir, 'origin', 'main');
  assert.equal(await branchHead(repo, 'main'), g);
  const c3 = await commit(repo, { 'rest2.txt': 'again\n' }, { expectedHeadSha: g });
  assert.equal(c3.refUpdate.oldSha, g);
  await git(['pull', '-q', '--ff-only', 'origin', 'main'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.equal(await rev(dir, 'HEAD'), c3.commitSha);
});

// ------------------------------------------------------------ ephemeral

test('getEphemeralRemoteURL: pushes land in the ephemeral namespace only', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-eph');
  const ephUrl = await repo.getEphemeralRemoteURL();
  assert.equal(new URL(ephUrl).pathname, `/${repo.id}+ephemeral.git`);
  assert.equal(jwtClaims(ephUrl).repo, repo.id);

  const dir = await clone(await repo.getRemoteURL());
  await git(['checkout', '-q', '-b', 'scratch'], { cwd: dir });
  const s1 = await localCommit(dir, { 'scratch.txt': 'ephemeral work\n' });
  await push(dir, ephUrl, 'scratch');

  assert.deepEqual((await allBranches(repo, { ephemeral: true })).map((b) => [b.name, b.headSha]), [['scratch', s1]]);
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main'], 'not among normal branches');
  assert.equal(await readText(repo, 'scratch.txt', { ref: 'scratch', ephemeral: true }), 'ephemeral work\n');

  // The normal remote does not show it; the ephemeral remote shows only ephemeral branches.
  const normalRefs = await lsRemote(await repo.getRemoteURL(), dir);
  assert.equal(normalRefs['refs/heads/scratch'], undefined);
  assert.equal(normalRefs['refs/heads/main'], c1.commitSha);
  const ephRefs = await lsRemote(ephUrl, dir);
  assert.equal(ephRefs['refs/heads/scratch'], s1);
  assert.equal(ephRefs['refs/heads/main'], undefined, 'normal branches are not in the ephemeral namespace');
  const fresh = await clone(await repo.getRemoteURL());
  const remoteBranches = (await git(['branch', '-r', '--format=%(refname:short)'], { cwd: fresh })).trim().split('\n');
  assert.deepEqual(remoteBranches.filter((b) => b !== 'origin/HEAD' && b !== 'origin'), ['origin/main']);

  // A REST commit on the ephemeral branch is fetched through the ephemeral remote.
  const e2 = await commit(repo, { 'rest-eph.txt': 'r\n' }, { targetBranch: 'scratch', ephemeral: true });
  assert.equal(e2.refUpdate.oldSha, s1);
  await git(['fetch', '-q', ephUrl, 'refs/heads/scratch:refs/remotes/eph/scratch'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.equal(await rev(dir, 'eph/scratch'), e2.commitSha);

  // Promotion: fetch from +ephemeral, push to the normal remote.
  await push(dir, 'origin', 'refs/remotes/eph/scratch:refs/heads/promoted');
  assert.equal(await branchHead(repo, 'promoted'), e2.commitSha);
  assert.equal(await branchHead(repo, 'scratch', { ephemeral: true }), e2.commitSha, 'ephemeral branch kept');

  // The same name can exist in both namespaces independently.
  await git(['checkout', '-q', 'main'], { cwd: dir });
  const n1 = await localCommit(dir, { 'normal-scratch.txt': 'n\n' });
  await push(dir, 'origin', 'main:scratch');
  assert.equal(await branchHead(repo, 'scratch'), n1);
  assert.equal(await branchHead(repo, 'scratch', { ephemeral: true }), e2.commitSha);
});

// ------------------------------------------------------------ import

test('getImportRemoteURL: push works (normal namespace), clone and ls-remote are refused', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-import');
  const importUrl = await repo.getImportRemoteURL();
  assert.equal(new URL(importUrl).pathname, `/${repo.id}+import.git`);

  const dir = await clone(await repo.getRemoteURL());
  await git(['checkout', '-q', '-b', 'imported'], { cwd: dir });
  const i1 = await localCommit(dir, { 'imported.txt': 'bulk\n' });
  await push(dir, importUrl, 'imported');
  assert.equal(await branchHead(repo, 'imported'), i1, 'import pushes land in the normal namespace');
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);
  assert.equal(await readText(repo, 'imported.txt', { ref: 'imported' }), 'bulk\n');

  const target = join(tempDir('strata-clone-'), 'import-clone');
  const cloned = await gitFails(['clone', importUrl, target], { timeoutMs: GIT_TIMEOUT });
  assert.match(cloned.stderr, /403/, `clone through +import must be refused with 403:\n${cloned.stderr}`);
  const listed = await gitFails(['ls-remote', importUrl], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(listed.stderr, /403/, `ls-remote through +import must be refused with 403:\n${listed.stderr}`);
  const fetched = await gitFails(['fetch', importUrl, 'imported'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(fetched.stderr, /403/);
});

// ------------------------------------------------------------ auth

test('read-only remote URL (git:read) clones but cannot push (403); bad tokens', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-readonly');
  const roUrl = await repo.getRemoteURL({ permissions: ['git:read'] });
  assert.deepEqual(jwtClaims(roUrl).scopes, ['git:read']);
  const dir = await clone(roUrl);
  assert.equal(await rev(dir, 'HEAD'), c1.commitSha);

  await localCommit(dir, { 'nope.txt': 'nope\n' });
  const main = await gitFails(['push', 'origin', 'main'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(main.stderr, /403/, `push with a read-only token must fail with 403:\n${main.stderr}`);
  const other = await gitFails(['push', 'origin', 'HEAD:refs/heads/new-branch'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(other.stderr, /403/);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);

  // A token for another repository → 403; a tampered signature → 401 (git: authentication failed).
  const { repo: other2 } = await seededRepo('remote-other');
  const foreign = new URL(await other2.getRemoteURL());
  foreign.pathname = `/${repo.id}.git`;
  const wrongRepo = await gitFails(['ls-remote', foreign.toString()], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(wrongRepo.stderr, /403/, `token for another repo:\n${wrongRepo.stderr}`);

  const tampered = new URL(await repo.getRemoteURL());
  const [h, p, s] = decodeURIComponent(tampered.password).split('.');
  tampered.password = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
  const bad = await gitFails(['ls-remote', tampered.toString()], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(bad.stderr, /Authentication failed|401/, `tampered token:\n${bad.stderr}`);

  // Unknown repository with a valid token for it → 404 (§6.2).
  const missing = await storage.repo({ id: `${repo.id}-missing` }).getRemoteURL();
  const notFound = await gitFails(['ls-remote', missing], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(notFound.stderr, /404|not found/i, `unknown repository:\n${notFound.stderr}`);
});

// ------------------------------------------------------------ ref policies

test('refPolicies on getRemoteURL: no-push on main is "denied by policy", other refs push fine', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-policy');
  await repo.createBranch({ baseRef: 'main', targetBranch: 'frozen' });
  const url = await repo.getRemoteURL({
    refPolicies: [
      { pattern: 'main', ops: ['no-push'] },
      { pattern: 'refs/heads/frozen', ops: ['no-push'] },
      { pattern: 'guarded/*', ops: ['no-force-push'] },
    ],
  });
  assert.deepEqual(jwtClaims(url).refs, [
    ['main', ['no-push']],
    ['refs/heads/frozen', ['no-push']],
    ['guarded/*', ['no-force-push']],
  ]);
  const dir = await clone(url);
  const local = await localCommit(dir, { 'policy.txt': 'p\n' });

  const denied = await gitFails(['push', 'origin', 'main'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(denied.stderr, /denied by policy/, `git stderr must contain "denied by policy":\n${denied.stderr}`);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha, 'main unchanged');

  await push(dir, 'origin', 'HEAD:refs/heads/allowed');
  assert.equal(await branchHead(repo, 'allowed'), local);

  // One non-atomic push with a denied and an allowed ref: only the denied one is rejected.
  const mixed = await gitFails(
    ['push', '--porcelain', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/also-allowed'],
    { cwd: dir, timeoutMs: GIT_TIMEOUT },
  );
  assert.match(mixed.stdout, /^!\tHEAD:refs\/heads\/main\t.*denied by policy/m, `porcelain:\n${mixed.stdout}\n${mixed.stderr}`);
  assert.match(mixed.stdout, /^\*\tHEAD:refs\/heads\/also-allowed\t/m, mixed.stdout);
  assert.equal(await branchHead(repo, 'also-allowed'), local);
  assert.equal(await branchHead(repo, 'main'), c1.commitSha);

  // no-push covers deletion too (and any update of a fully-qualified pattern).
  const del = await gitFails(['push', 'origin', ':frozen'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(del.stderr, /denied by policy/, del.stderr);
  const upd = await gitFails(['push', 'origin', 'HEAD:refs/heads/frozen'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(upd.stderr, /denied by policy/, upd.stderr);
  assert.equal(await branchHead(repo, 'frozen'), c1.commitSha, 'frozen unchanged');

  // no-force-push: creation and fast-forward allowed, rewrite rejected.
  await push(dir, 'origin', 'HEAD:refs/heads/guarded/x');
  const ff = await localCommit(dir, { 'ff.txt': 'ff\n' });
  await push(dir, 'origin', 'HEAD:refs/heads/guarded/x');
  assert.equal(await branchHead(repo, 'guarded/x'), ff);
  await git(['reset', '-q', '--hard', c1.commitSha], { cwd: dir });
  await localCommit(dir, { 'rewrite.txt': 'r\n' });
  const forced = await gitFails(['push', '--force', 'origin', 'HEAD:refs/heads/guarded/x'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(forced.stderr, /denied by policy/);
  assert.equal(await branchHead(repo, 'guarded/x'), ff);
  // Deleting is treated as a non-fast-forward update (Q5).
  const delGuarded = await gitFails(['push', 'origin', ':guarded/x'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(delGuarded.stderr, /denied by policy/, delGuarded.stderr);
  assert.equal(await branchHead(repo, 'guarded/x'), ff);

  // Without policies the same token holder can push main.
  const free = await repo.getRemoteURL();
  await git(['reset', '-q', '--hard', local], { cwd: dir });
  await push(dir, free, 'HEAD:refs/heads/main');
  assert.equal(await branchHead(repo, 'main'), local);
});

test('legacy ops on getRemoteURL fold into a trailing "*" rule (§3.4)', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await seededRepo('remote-ops');
  const url = await repo.getRemoteURL({ ops: ['no-force-push'], refPolicies: [{ pattern: 'free/*' }] });
  const claims = jwtClaims(url);
  assert.deepEqual(claims.ops, ['no-force-push']);
  assert.deepEqual(claims.refs, [['free/*', []]]);
  const dir = await clone(url);
  const a = await localCommit(dir, { 'a.txt': 'a\n' });
  await push(dir, 'origin', 'main', 'HEAD:refs/heads/free/x');
  assert.equal(await branchHead(repo, 'main'), a, 'fast-forward allowed');

  await git(['reset', '-q', '--hard', c1.commitSha], { cwd: dir });
  const b = await localCommit(dir, { 'b.txt': 'b\n' });
  const forced = await gitFails(['push', '--force', 'origin', 'HEAD:refs/heads/main'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.match(forced.stderr, /denied by policy/, forced.stderr);
  assert.equal(await branchHead(repo, 'main'), a);
  // The earlier explicit allow rule shadows the legacy ops for free/*.
  await push(dir, 'origin', '--force', 'HEAD:refs/heads/free/x');
  assert.equal(await branchHead(repo, 'free/x'), b);
});

// ------------------------------------------------------------ races

test('git pushes racing createCommit calls: nothing acknowledged is lost', { timeout: T_LONG }, async (t) => {
  const { repo, c1 } = await seededRepo('remote-race');
  const url = await repo.getRemoteURL();
  const acked = []; // { sha, file, via }
  const pushRejections = [];
  let restConflicts = 0;

  async function restWriter(tag, n) {
    for (let i = 0; i < n; i++) {
      const file = `rest/${tag}-${i}.txt`;
      try {
        const res = await commit(repo, { [file]: `${tag} ${i}\n` }, { message: `rest ${tag} ${i}` });
        acked.push({ sha: res.commitSha, file, via: 'rest' });
      } catch (err) {
        assert.ok(
          err instanceof RefUpdateError && err.reason === 'conflict',
          `a racing createCommit may only fail with RefUpdateError(conflict), got ${err?.name}: ${err?.message} reason=${err?.reason}`,
        );
        restConflicts++;
      }
    }
  }

  async function gitPusher(tag, n, branch) {
    const dir = await clone(url);
    for (let i = 0; i < n; i++) {
      const file = `git/${tag}-${i}.txt`;
      let done = false;
      for (let attempt = 0; attempt < 25 && !done; attempt++) {
        await git(['fetch', '-q', 'origin'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
        const known = await runGit(['rev-parse', '--verify', '-q', `refs/remotes/origin/${branch}`], { cwd: dir });
        await git(['checkout', '-q', '-B', 'work', known.code === 0 ? `origin/${branch}` : 'origin/main'], { cwd: dir });
        const sha = await localCommit(dir, { [file]: `${tag} ${i} attempt ${attempt}\n` }, `git ${tag} ${i}`);
        const res = await runGit(['push', 'origin', `work:refs/heads/${branch}`], { cwd: dir, timeoutMs: GIT_TIMEOUT });
        if (res.code === 0) {
          acked.push({ sha, file, via: `git:${branch}` });
          done = true;
        } else {
          const lines = redact(res.stderr).trim().split('\n');
          pushRejections.push(lines.find((l) => /rejected|error|fatal/.test(l)) ?? lines.at(-1));
        }
      }
      assert.ok(done, `push ${tag}-${i} never succeeded in 25 attempts; last: ${pushRejections.at(-1)}`);
    }
  }

  await Promise.all([
    restWriter('a', 12),
    restWriter('b', 12),
    gitPusher('p', 5, 'main'),
    gitPusher('q', 5, 'main'),
    gitPusher('s', 4, 'side'),
  ]);

  t.diagnostic(
    `acknowledged: ${acked.filter((a) => a.via === 'rest').length} createCommit, ` +
      `${acked.filter((a) => a.via !== 'rest').length} pushes; createCommit conflicts: ${restConflicts}; ` +
      `rejected push attempts: ${pushRejections.length}${pushRejections.length ? ` (e.g. ${pushRejections[0]})` : ''}`,
  );
  const onMain = acked.filter((a) => a.via !== 'git:side');
  const onSide = acked.filter((a) => a.via === 'git:side');
  assert.equal(onMain.filter((a) => a.via === 'git:main').length, 10, 'every main push eventually acknowledged');
  assert.ok(onMain.some((a) => a.via === 'rest'), 'some createCommit calls were acknowledged');
  assert.equal(onSide.length, 4);

  // REST view: every acknowledged commit is in main's history and its file is in the tree.
  const history = new Set((await allCommits(repo)).map((c) => c.sha));
  assert.ok(history.has(c1.commitSha));
  const lost = onMain.filter((a) => !history.has(a.sha));
  assert.deepEqual(lost, [], 'acknowledged commits missing from main');
  const paths = new Set(await filePaths(repo));
  assert.deepEqual(onMain.filter((a) => !paths.has(a.file)).map((a) => a.file), [], 'acknowledged files missing from main');
  const sideHistory = new Set((await allCommits(repo, { branch: 'side' })).map((c) => c.sha));
  assert.deepEqual(onSide.filter((a) => !sideHistory.has(a.sha)), [], 'acknowledged side pushes lost');
  // History is linear (every update was a fast-forward) and has no duplicates.
  assert.equal(history.size, (await allCommits(repo)).length);

  // git view: a fresh clone agrees and is consistent.
  const dir = await clone(url);
  const head = await rev(dir, 'origin/main');
  assert.equal(head, await branchHead(repo, 'main'));
  for (const a of onMain) {
    await git(['merge-base', '--is-ancestor', a.sha, 'origin/main'], { cwd: dir });
  }
  for (const a of onSide) {
    await git(['merge-base', '--is-ancestor', a.sha, 'origin/side'], { cwd: dir });
  }
  await git(['fsck', '--strict'], { cwd: dir, timeoutMs: GIT_TIMEOUT });
  assert.ok(SHA_RE.test(head));
});

wireConformanceTest();
