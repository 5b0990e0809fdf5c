// The next SDK generation (API-next.md): path-scoped routes under
// /api/repos/{url-escaped name}/..., the standard vocabulary of request
// fields, the response aliases and the new getBranch / getTag endpoints.
//
// That generation is not on npm, so these tests speak HTTP directly with
// the requests its own contract tests pin down (public repository
// pierrecomputer/sdk):
//   TS  tests/route-contract.test.ts       (b4770996) method + path per call
//   TS  tests/standard-vocabulary.test.ts  (3b7c83e9) query/body field names
//   TS  tests/named-ref-lookup.test.ts     (32b63133) getBranch / getTag
//   Py  tests/test_route_contract.py       (7fc0bd0b) method + path per call
//   Py  pierre_storage/repo.py             (7fc0bd0b) exact bodies, status rules
//   skills/code-storage/SKILL.md           the REST reference (credentials)
// Every operation is also run on /api/v1/... with the 1.17.1 request, and
// both responses go through the same check (shapes.mjs), so each route
// family answers in a form both SDK generations accept.
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import {
  API_URL,
  AUTHOR,
  COMMITTER,
  KEY_PEM,
  ORG,
  RFC3339_RE,
  SHA_RE,
  STORAGE_HOST,
  T_SHORT,
  ZERO_SHA,
  git,
  gitBlobSha,
  tempDir,
} from './helpers.mjs';
import { assertShape } from './shapes.mjs';

// ------------------------------------------------------------ tokens

const SIGNING_KEY = createPrivateKey(KEY_PEM);
const AGENT = 'code-storage-sdk/next-routes-conformance';

const b64url = (data) => Buffer.from(data).toString('base64url');

/** An ES256 JWT with the claims every SDK generation mints (API-next.md §1). */
function mintJWT(repo, scopes, { ttl = 3600 } = {}) {
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES256', typ: 'JWT' };
  const claims = { iss: ORG, sub: '@pierre/storage', repo, scopes, iat, exp: iat + ttl };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: SIGNING_KEY, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

const READ = ['git:read'];
const WRITE = ['git:write'];
const REPO_WRITE = ['repo:write'];
const TAG_DELETE = ['git:read', 'git:write'];

// ------------------------------------------------------------ HTTP

const enc = encodeURIComponent;

/** /api/repos/{name}[/suffix] with the name as one escaped segment. */
const nextPath = (name, suffix = '') => `/api/repos/${enc(name)}${suffix ? `/${suffix}` : ''}`;
const v1Path = (suffix) => `/api/v1/${suffix}`;

function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  const pairs = Array.isArray(query) ? query : Object.entries(query);
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    params.append(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * One request. `json` is sent as an application/json body; `ndjson` (array
 * of objects) as a streamed application/x-ndjson body with Accept:
 * application/json, like the SDK commit transports.
 */
async function call(method, path, { token, query, json, ndjson, headers = {}, raw = false } = {}) {
  const url = `${API_URL}${path}${queryString(query)}`;
  const h = { 'Code-Storage-Agent': AGENT, ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const init = { method, headers: h };
  if (json !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (ndjson !== undefined) {
    h['Content-Type'] = 'application/x-ndjson';
    h.Accept = 'application/json';
    const lines = ndjson.map((o) => Buffer.from(`${JSON.stringify(o)}\n`));
    init.body = new ReadableStream({
      pull(controller) {
        const next = lines.shift();
        if (next) controller.enqueue(new Uint8Array(next));
        else controller.close();
      },
    });
    init.duplex = 'half';
  }
  const response = await fetch(url, init);
  const bytes = Buffer.from(await response.arrayBuffer());
  const contentType = response.headers.get('content-type') ?? '';
  let body;
  if (!raw || !response.ok) {
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      body = undefined;
    }
  }
  const label = `${method} ${path}${queryString(query)}`;
  return { status: response.status, headers: response.headers, contentType, bytes, body, label, text: bytes.toString('utf8') };
}

function show(res) {
  return `${res.label} → ${res.status} ${res.contentType} ${res.text.slice(0, 600)}`;
}

/** Asserts the status (one of `statuses`) and a JSON body; returns the body. */
function expectJSON(res, statuses, what = '') {
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  assert.ok(allowed.includes(res.status), `${what ? `${what}: ` : ''}want HTTP ${allowed.join('|')}, got ${show(res)}`);
  assert.match(res.contentType, /application\/json/, `${what}: JSON Content-Type expected: ${show(res)}`);
  assert.notEqual(res.body, undefined, `${what}: body is not JSON: ${show(res)}`);
  return res.body;
}

/** Asserts an error status with the {"error": "..."} envelope. */
function expectError(res, statuses, what = '') {
  const body = expectJSON(res, statuses, what);
  assertShape('errorEnvelope', body, `${what} (error envelope)`);
  assert.ok(body.error.trim().length > 0, `${what}: empty error message: ${show(res)}`);
  return body;
}

// ------------------------------------------------------------ a repository seen through both route families

/**
 * Calls on one repository: `next(...)` on /api/repos/{name}/<suffix>,
 * `v1(...)` on /api/v1/repos/<suffix>; both with a token for that repository.
 */
function repoClient(name) {
  return {
    name,
    next: (method, suffix, { scopes = READ, ...opts } = {}) =>
      call(method, nextPath(name, suffix), { token: mintJWT(name, scopes), ...opts }),
    v1: (method, suffix, { scopes = READ, ...opts } = {}) =>
      call(method, v1Path(`repos/${suffix}`), { token: mintJWT(name, scopes), ...opts }),
  };
}

/** A name exercising the escaping rules: '/', a space and '%'. */
function oddName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}/team space/50%off`;
}

async function createRepoNext(name, body = { default_branch: 'main' }) {
  const res = await call('POST', '/api/repos', { token: mintJWT(name, REPO_WRITE), json: body });
  const created = expectJSON(res, [200, 201], 'createRepo POST /api/repos');
  assertShape('createRepo', created, 'createRepo (new route)');
  return created;
}

/**
 * Builds commit-pack NDJSON. `family` picks the vocabulary: 'next' sends
 * the standard names (expected_target_sha, target_is_ephemeral,
 * base_is_ephemeral), 'v1' the 1.17.1 ones (expected_head_sha, ephemeral,
 * ephemeral_base). `extraMetadata` is merged last (for precedence tests).
 */
function commitPackLines(family, { targetBranch, message, files, baseBranch, expectedSha, targetEphemeral, baseEphemeral, extraMetadata = {} }) {
  const entries = [];
  const chunks = [];
  let n = 0;
  for (const [path, content] of Object.entries(files)) {
    if (content === null) {
      entries.push({ path, content_id: `del-${n++}`, operation: 'delete' });
      continue;
    }
    const id = `blob-${n++}`;
    entries.push({ path, content_id: id, operation: 'upsert', mode: '100644' });
    chunks.push({ blob_chunk: { content_id: id, data: Buffer.from(content).toString('base64'), eof: true } });
  }
  const metadata = {
    target_branch: targetBranch,
    commit_message: message ?? `commit ${randomBytes(3).toString('hex')}`,
    author: { ...AUTHOR },
    committer: { ...COMMITTER },
    files: entries,
  };
  if (baseBranch) metadata.base_branch = baseBranch;
  if (family === 'next') {
    if (expectedSha) metadata.expected_target_sha = expectedSha;
    if (targetEphemeral !== undefined) metadata.target_is_ephemeral = targetEphemeral;
    if (baseEphemeral !== undefined) metadata.base_is_ephemeral = baseEphemeral;
  } else {
    if (expectedSha) metadata.expected_head_sha = expectedSha;
    if (targetEphemeral) metadata.ephemeral = true;
    if (baseEphemeral) metadata.ephemeral_base = true;
  }
  Object.assign(metadata, extraMetadata);
  return [{ metadata }, ...chunks];
}

/** A successful commit-pack on either family; checks the ack and returns {commitSha, treeSha, body}. */
async function commitPack(client, family, opts) {
  const res = await client[family]('POST', 'commit-pack', { scopes: WRITE, ndjson: commitPackLines(family, opts) });
  const body = expectJSON(res, [200, 201], `commit-pack (${family})`);
  assertShape('commitPack', body, `commit-pack (${family}) ${res.label}`);
  assert.equal(body.result.success, true, `commit-pack success: ${show(res)}`);
  assert.match(body.commit.commit_sha, SHA_RE);
  assert.equal(body.result.new_sha, body.commit.commit_sha, 'result.new_sha == commit.commit_sha');
  assert.equal(body.commit.target_branch, opts.targetBranch);
  assert.equal(body.result.branch, opts.targetBranch, 'result.branch names the target');
  assert.equal(body.result.target_branch, opts.targetBranch, 'result.target_branch names the target');
  return { commitSha: body.commit.commit_sha, treeSha: body.commit.tree_sha, oldSha: body.result.old_sha, body };
}

const README_1 = '# Title\nhello world\nTODO: first\n';
const README_2 = '# Title\nhello world\nTODO: second\nmore\n';
const A_TXT = 'alpha\n';
const GUIDE = 'guide text\n';

/**
 * A repository (odd name) with two commits on main:
 *   c1: README.md (README_1), src/a.txt
 *   c2: README.md (README_2), docs/guide.md
 */
async function seed(prefix, name = oddName(prefix)) {
  await createRepoNext(name);
  const client = repoClient(name);
  const c1 = await commitPack(client, 'next', {
    targetBranch: 'main',
    message: 'first commit',
    files: { 'README.md': README_1, 'src/a.txt': A_TXT },
  });
  assert.equal(c1.oldSha, ZERO_SHA, 'first commit creates main');
  const c2 = await commitPack(client, 'next', {
    targetBranch: 'main',
    message: 'second commit',
    files: { 'README.md': README_2, 'docs/guide.md': GUIDE },
    expectedSha: c1.commitSha,
  });
  assert.equal(c2.oldSha, c1.commitSha);
  return { name, client, c1: c1.commitSha, c2: c2.commitSha, tree1: c1.treeSha, tree2: c2.treeSha };
}

/** Head of a branch via getBranch on the new route (null on 404). */
async function headOf(client, branch, { ephemeral } = {}) {
  const res = await client.next('GET', 'branch', { query: { name: branch, ephemeral } });
  if (res.status === 404) return null;
  const body = expectJSON(res, 200, `getBranch ${branch}`);
  return body.branch.head_sha;
}

// A minimal tar reader (ustar + pax path records) for archive checks.
function untar(buf) {
  const out = new Map();
  let offset = 0;
  let paxPath;
  while (offset + 512 <= buf.length) {
    const header = buf.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a, b) => header.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = str(345, 500);
    let name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    const data = buf.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
      paxPath = m ? m[1] : undefined;
      continue;
    }
    if (type === 'g') continue;
    if (paxPath) {
      name = paxPath;
      paxPath = undefined;
    }
    out.set(name, { type, data: Buffer.from(data) });
  }
  return out;
}

// ------------------------------------------------------------ repositories

test('repositories: create, findOne, listRepos, deleteRepo on /api/repos with an escaped name', { timeout: T_SHORT }, async () => {
  const name = oddName('nx-repo');
  const created = await createRepoNext(name);
  assert.equal(created.repo_name, name, 'createRepo repo_name is the public name (SKILL.md)');

  // A second create → 409 with the envelope.
  expectError(
    await call('POST', '/api/repos', { token: mintJWT(name, REPO_WRITE), json: { default_branch: 'other' } }),
    409,
    'second createRepo',
  );

  // findOne: GET /api/repos/{name} (TS/Py route contract).
  const foundNext = expectJSON(await call('GET', nextPath(name), { token: mintJWT(name, READ) }), 200, 'findOne (new)');
  assertShape('findOne', foundNext, 'findOne (new)');
  assert.equal(foundNext.default_branch, 'main');
  assert.match(foundNext.created_at, RFC3339_RE);
  const foundV1 = expectJSON(await call('GET', v1Path('repo'), { token: mintJWT(name, READ) }), 200, 'findOne (v1)');
  assertShape('findOne', foundV1, 'findOne (v1)');
  assert.equal(foundV1.default_branch, 'main', 'the duplicate create did not change the repository');
  assert.equal(foundV1.created_at, foundNext.created_at, 'both families describe the same repository');

  // listRepos: GET /api/repos?q=..., repo claim "org", scope org:read.
  const orgToken = () => mintJWT('org', ['org:read']);
  const listNext = expectJSON(await call('GET', '/api/repos', { token: orgToken(), query: { q: name, limit: 20 } }), 200, 'listRepos (new)');
  assertShape('listRepos', listNext, 'listRepos (new)');
  const listV1 = expectJSON(await call('GET', v1Path('repos'), { token: orgToken(), query: { q: name, limit: 20 } }), 200, 'listRepos (v1)');
  assertShape('listRepos', listV1, 'listRepos (v1)');
  for (const [label, list] of [['new', listNext], ['v1', listV1]]) {
    const entries = list.repos.filter((r) => r.url === name || r.repo_name === name);
    assert.equal(entries.length, 1, `listRepos (${label}) lists the repository once: ${JSON.stringify(list)}`);
    assert.equal(entries[0].repo_name, name, `listRepos (${label}) repo_name`);
    assert.equal(entries[0].url, name, `listRepos (${label}) url`);
    assert.equal(entries[0].default_branch, 'main');
    assert.equal(entries[0].created_at, foundNext.created_at);
  }
  assert.deepEqual(listNext, listV1, 'both families list the same');
  // The q filter is applied: a non-matching query lists nothing.
  const none = expectJSON(await call('GET', '/api/repos', { token: orgToken(), query: { q: `${name}-nope` } }), 200, 'listRepos (q miss)');
  assert.deepEqual(none.repos, []);

  // deleteRepo: DELETE /api/repos/{name}, no body.
  const del = expectJSON(await call('DELETE', nextPath(name), { token: mintJWT(name, REPO_WRITE) }), 200, 'deleteRepo (new)');
  assertShape('deleteRepo', del, 'deleteRepo (new)');
  assert.equal(typeof del.message, 'string');
  expectError(await call('GET', nextPath(name), { token: mintJWT(name, READ) }), 404, 'findOne after delete (new)');
  expectError(await call('GET', v1Path('repo'), { token: mintJWT(name, READ) }), 404, 'findOne after delete (v1)');
  expectError(await call('DELETE', nextPath(name), { token: mintJWT(name, REPO_WRITE) }), 409, 'second deleteRepo (new)');
  expectError(await call('DELETE', nextPath(`${name}-never`), { token: mintJWT(`${name}-never`, REPO_WRITE) }), 404, 'deleteRepo of a never-created name');
  const relist = expectJSON(await call('GET', '/api/repos', { token: orgToken(), query: { q: name } }), 200, 'listRepos after delete');
  assert.deepEqual(relist.repos, [], 'deleted repository is not listed');

  // The 1.17.1 delete on another repository, for the shape check.
  const other = oddName('nx-repo-v1');
  await createRepoNext(other);
  const delV1 = expectJSON(await call('DELETE', v1Path('repos/delete'), { token: mintJWT(other, REPO_WRITE) }), 200, 'deleteRepo (v1)');
  assertShape('deleteRepo', delV1, 'deleteRepo (v1)');
  expectError(await call('GET', nextPath(other), { token: mintJWT(other, READ) }), 404, 'v1-deleted repo is gone on the new route');
});

test('the path name must match the token repo claim: 403 {"error"}, and nothing happens', { timeout: T_SHORT }, async () => {
  const a = await seed('nx-claim-a');
  const b = await seed('nx-claim-b');
  const tokenA = (scopes) => mintJWT(a.name, scopes);

  for (const [method, suffix, opts] of [
    ['GET', 'files', {}],
    ['GET', 'branches', {}],
    ['GET', 'file', { query: { path: 'README.md' } }],
    ['POST', 'branches/create', { json: { target_branch: 'intruder', base_ref: 'main', base_is_ephemeral: false, target_is_ephemeral: false } }],
    ['POST', 'commit-pack', { ndjson: commitPackLines('next', { targetBranch: 'main', files: { 'x.txt': 'x\n' } }) }],
  ]) {
    const res = await call(method, nextPath(b.name, suffix), { token: tokenA(method === 'GET' ? READ : WRITE), ...opts });
    expectError(res, 403, `${method} on B with A's token`);
  }
  // Repository-level routes too.
  expectError(await call('GET', nextPath(b.name), { token: tokenA(READ) }), 403, "findOne of B with A's token");
  expectError(await call('DELETE', nextPath(b.name), { token: tokenA(REPO_WRITE) }), 403, "deleteRepo of B with A's token");
  // Case and escaping matter: the decoded segment must equal the claim exactly.
  expectError(await call('GET', nextPath(a.name.toUpperCase(), 'branches'), { token: tokenA(READ) }), 403, 'upper-cased name');

  // B is untouched.
  assert.equal(await headOf(b.client, 'main'), b.c2, 'B main unchanged');
  assert.equal(await headOf(b.client, 'intruder'), null, 'no branch created on B');
  expectJSON(await call('GET', nextPath(b.name), { token: mintJWT(b.name, READ) }), 200, 'B still exists');
  // And A's own token works on A.
  assert.equal(await headOf(a.client, 'main'), a.c2);
});

test('a name holding a literal "%2F" is decoded once: it is not the name with a "/"', { timeout: T_SHORT }, async () => {
  const stem = `nx-lit-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const literal = `${stem}/a%2Fb`; // path segment ...%2Fa%252Fb
  const slashed = `${stem}/a/b`; // path segment ...%2Fa%2Fb
  const lit = await seed('nx-lit', literal);
  const sl = await seed('nx-lit', slashed);
  // Seeded histories are identical (same content, same second); tell them apart.
  const litOwn = await commitPack(lit.client, 'next', { targetBranch: 'main', files: { 'which.txt': 'literal\n' } });
  const slOwn = await commitPack(sl.client, 'next', { targetBranch: 'main', files: { 'which.txt': 'slashed\n' } });
  assert.notEqual(litOwn.commitSha, slOwn.commitSha);
  assert.equal(await headOf(lit.client, 'main'), litOwn.commitSha);
  assert.equal(await headOf(sl.client, 'main'), slOwn.commitSha);
  for (const [c, want] of [[lit.client, 'literal\n'], [sl.client, 'slashed\n']]) {
    const res = await c.next('GET', 'file', { query: { path: 'which.txt', ref: 'main' }, raw: true });
    assert.equal(res.status, 200, show(res));
    assert.equal(res.bytes.toString('utf8'), want, `${c.name} serves its own content`);
  }
  // The literal repository's token does not open the slashed one, and vice versa.
  expectError(await call('GET', nextPath(slashed, 'branches'), { token: mintJWT(literal, READ) }), 403, 'literal token on slashed path');
  expectError(await call('GET', nextPath(literal, 'branches'), { token: mintJWT(slashed, READ) }), 403, 'slashed token on literal path');
  // findOne on each answers for that repository only.
  const f = expectJSON(await call('GET', nextPath(literal), { token: mintJWT(literal, READ) }), 200, 'findOne literal');
  assert.equal(f.default_branch, 'main');
  const files = expectJSON(await lit.client.next('GET', 'files', { query: { ref: 'main' } }), 200, 'files of the literal repo');
  assert.deepEqual([...files.paths].sort(), ['README.md', 'docs/guide.md', 'src/a.txt', 'which.txt']);
});

// ------------------------------------------------------------ git credentials

test('git credentials on /api/repos/{name}/git-credentials: create 201 {id}, 409, update, delete, 404', { timeout: T_SHORT }, async () => {
  const name = oddName('nx-cred');
  await createRepoNext(name);
  const token = () => mintJWT(name, REPO_WRITE);

  const createRes = await call('POST', nextPath(name, 'git-credentials'), { token: token(), json: { password: 'secret', username: 'git' } });
  const created = expectJSON(createRes, 201, 'createGitCredential (new)');
  assertShape('createGitCredential', created, 'createGitCredential (new)');
  assert.ok(created.id.length > 0, 'credential id');

  expectError(
    await call('POST', nextPath(name, 'git-credentials'), { token: token(), json: { password: 'again' } }),
    409,
    'second createGitCredential (new)',
  );

  const credPath = (id) => nextPath(name, `git-credentials/${enc(id)}`);
  const updated = expectJSON(
    await call('PUT', credPath(created.id), { token: token(), json: { password: 'rotated', username: 'git' } }),
    200,
    'updateGitCredential (new)',
  );
  assertShape('updateGitCredential', updated, 'updateGitCredential (new)');
  assert.equal(updated.id, created.id, 'update returns the same id');

  expectError(await call('PUT', credPath('credential/none'), { token: token(), json: { password: 'x' } }), 404, 'update unknown id');
  expectError(await call('DELETE', credPath('credential/none'), { token: token() }), 404, 'delete unknown id');

  const delRes = await call('DELETE', credPath(created.id), { token: token() });
  assert.ok(delRes.status >= 200 && delRes.status < 300, `deleteGitCredential (new): ${show(delRes)}`);
  expectError(await call('DELETE', credPath(created.id), { token: token() }), 404, 'second delete');
  expectError(await call('PUT', credPath(created.id), { token: token(), json: { password: 'x' } }), 404, 'update after delete');

  // One credential per repository: after the delete a new one can be created.
  const again = expectJSON(
    await call('POST', nextPath(name, 'git-credentials'), { token: token(), json: { password: 'secret2' } }),
    201,
    'create after delete',
  );
  assertShape('createGitCredential', again, 'createGitCredential (new, again)');

  // A credential belongs to its repository: another repository's path cannot touch it.
  const other = oddName('nx-cred-other');
  await createRepoNext(other);
  expectError(
    await call('DELETE', nextPath(other, `git-credentials/${enc(again.id)}`), { token: mintJWT(other, REPO_WRITE) }),
    404,
    "delete through another repository's path",
  );
  expectJSON(
    await call('PUT', credPath(again.id), { token: token(), json: { password: 'still-here' } }),
    200,
    'credential survives a foreign delete',
  );
});

test('git credentials, 1.17.1 routes: the same lifecycle answers in the same shapes', { timeout: T_SHORT }, async () => {
  const name = oddName('nx-cred-v1');
  await createRepoNext(name);
  const created = expectJSON(
    await call('POST', v1Path('repos/git-credentials'), { token: mintJWT(name, REPO_WRITE), json: { repo_id: name, password: 'secret', username: 'git' } }),
    201,
    'createGitCredential (v1)',
  );
  assertShape('createGitCredential', created, 'createGitCredential (v1)');
  expectError(
    await call('POST', v1Path('repos/git-credentials'), { token: mintJWT(name, REPO_WRITE), json: { repo_id: name, password: 'x' } }),
    409,
    'second createGitCredential (v1)',
  );
  const orgToken = () => mintJWT('org', REPO_WRITE);
  const updated = expectJSON(
    await call('PUT', v1Path('repos/git-credentials'), { token: orgToken(), json: { id: created.id, password: 'rotated' } }),
    200,
    'updateGitCredential (v1)',
  );
  assertShape('updateGitCredential', updated, 'updateGitCredential (v1)');
  assert.equal(updated.id, created.id);
  // The v1 credential is the same object the new route addresses.
  expectJSON(
    await call('PUT', nextPath(name, `git-credentials/${enc(created.id)}`), { token: mintJWT(name, REPO_WRITE), json: { password: 'p' } }),
    200,
    'v1-created credential via the new route',
  );
  const del = await call('DELETE', v1Path('repos/git-credentials'), { token: orgToken(), json: { id: created.id } });
  assert.ok(del.status >= 200 && del.status < 300, `deleteGitCredential (v1): ${show(del)}`);
  expectError(
    await call('DELETE', v1Path('repos/git-credentials'), { token: orgToken(), json: { id: created.id } }),
    404,
    'second delete (v1)',
  );
});

// ------------------------------------------------------------ files

test('file GET/HEAD with Range and If-None-Match; archive; listFiles; listFilesWithMetadata', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-files');
  const blob2 = gitBlobSha(README_2);

  for (const family of ['next', 'v1']) {
    const full = await client[family]('GET', 'file', { query: { path: 'README.md', ref: 'main' }, raw: true });
    assert.equal(full.status, 200, `file (${family}): ${show(full)}`);
    assert.equal(full.bytes.toString('utf8'), README_2, `file (${family}) bytes`);
    assert.equal(full.headers.get('x-blob-sha'), blob2, `file (${family}) X-Blob-Sha`);
    assert.equal(full.headers.get('x-last-commit-sha'), c2, `file (${family}) X-Last-Commit-Sha`);
    const etag = full.headers.get('etag');
    assert.ok(etag && etag.includes(blob2), `file (${family}) ETag carries the blob sha: ${etag}`);
    assert.equal(full.headers.get('accept-ranges'), 'bytes');
    assert.equal(full.headers.get('content-length'), String(Buffer.byteLength(README_2)));
    assert.ok(full.headers.get('last-modified'), 'Last-Modified');

    const ranged = await client[family]('GET', 'file', { query: { path: 'README.md', ref: 'main' }, headers: { Range: 'bytes=0-6' }, raw: true });
    assert.equal(ranged.status, 206, `range (${family}): ${show(ranged)}`);
    assert.equal(ranged.bytes.toString('utf8'), README_2.slice(0, 7));
    assert.equal(ranged.headers.get('content-range'), `bytes 0-6/${Buffer.byteLength(README_2)}`);

    const notModified = await client[family]('GET', 'file', { query: { path: 'README.md', ref: 'main' }, headers: { 'If-None-Match': etag }, raw: true });
    assert.equal(notModified.status, 304, `If-None-Match (${family}): ${show(notModified)}`);
    assert.equal(notModified.bytes.length, 0);
    const stale = await client[family]('GET', 'file', { query: { path: 'README.md', ref: c1 }, headers: { 'If-None-Match': etag }, raw: true });
    assert.equal(stale.status, 200, `If-None-Match on another version (${family}) serves it`);
    assert.equal(stale.bytes.toString('utf8'), README_1);
    assert.equal(stale.headers.get('x-blob-sha'), gitBlobSha(README_1));

    const head = await client[family]('HEAD', 'file', { query: { path: 'README.md', ref: 'main' }, raw: true });
    assert.equal(head.status, 200, `HEAD (${family})`);
    assert.equal(head.bytes.length, 0, 'HEAD has no body');
    assert.equal(head.headers.get('x-blob-sha'), blob2);
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(README_2)));

    expectError(await client[family]('GET', 'file', { query: { path: 'nope.txt', ref: 'main' } }), 404, `missing file (${family})`);
  }

  // Archive: POST .../archive {ref, include_globs, archive:{prefix}}.
  const archives = {};
  for (const family of ['next', 'v1']) {
    const res = await client[family]('POST', 'archive', {
      json: { ref: 'main', include_globs: ['src/**', 'docs/**'], exclude_globs: ['docs/**'], archive: { prefix: 'pfx/' } },
      raw: true,
    });
    assert.equal(res.status, 200, `archive (${family}): ${show(res)}`);
    const entries = untar(gunzipSync(res.bytes));
    const files = [...entries].filter(([, e]) => e.type === '0' || e.type === '\0').map(([n]) => n).sort();
    assert.deepEqual(files, ['pfx/src/a.txt'], `archive (${family}) honours globs and prefix`);
    assert.equal(entries.get('pfx/src/a.txt').data.toString('utf8'), A_TXT);
    archives[family] = files;
  }
  assert.deepEqual(archives.next, archives.v1);

  // listFiles (plain, at a commit, paginated with entries).
  const lists = {};
  for (const family of ['next', 'v1']) {
    const all = expectJSON(await client[family]('GET', 'files', { query: { ref: 'main' } }), 200, `listFiles (${family})`);
    assertShape('listFiles', all, `listFiles (${family})`);
    assert.deepEqual([...all.paths].sort(), ['README.md', 'docs/guide.md', 'src/a.txt']);
    assert.equal(all.ref, 'main');
    const old = expectJSON(await client[family]('GET', 'files', { query: { ref: c1 } }), 200, `listFiles @c1 (${family})`);
    assert.deepEqual([...old.paths].sort(), ['README.md', 'src/a.txt']);
    const paged = expectJSON(
      await client[family]('GET', 'files', { query: { ref: 'main', path: 'src', recursive: 'false', limit: 10 } }),
      200,
      `listFiles paginated (${family})`,
    );
    assertShape('listFiles', paged, `listFiles paginated (${family})`);
    assert.deepEqual(paged.paths, ['src/a.txt']);
    assert.deepEqual(paged.entries, [{ path: 'src/a.txt', type: 'blob', mode: '100644' }]);
    lists[family] = [all, old, paged];
  }
  assert.deepEqual(lists.next, lists.v1, 'listFiles answers agree across families');

  const metas = {};
  for (const family of ['next', 'v1']) {
    const meta = expectJSON(await client[family]('GET', 'files/metadata', { query: { ref: 'main' } }), 200, `listFilesWithMetadata (${family})`);
    assertShape('listFilesWithMetadata', meta, `listFilesWithMetadata (${family})`);
    const byPath = Object.fromEntries(meta.files.map((f) => [f.path, f]));
    assert.deepEqual(Object.keys(byPath).sort(), ['README.md', 'docs/guide.md', 'src/a.txt']);
    assert.equal(byPath['README.md'].last_commit_sha, c2);
    assert.equal(byPath['src/a.txt'].last_commit_sha, c1);
    assert.equal(byPath['src/a.txt'].size, Buffer.byteLength(A_TXT));
    assert.equal(byPath['README.md'].mode, '100644');
    assert.equal(meta.commits[c1]?.message.trim(), 'first commit');
    assert.equal(meta.commits[c2]?.message.trim(), 'second commit');
    metas[family] = meta;
  }
  assert.deepEqual(metas.next, metas.v1);
});

// ------------------------------------------------------------ branches

test('branches: createBranch (exactly 200), listBranches, getBranch, deleteBranch with target_branch', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-branches');

  // createBranch as Python sends it: both *_is_ephemeral booleans always present.
  const createdRes = await client.next('POST', 'branches/create', {
    scopes: WRITE,
    json: { target_branch: 'feature/one', base_is_ephemeral: false, target_is_ephemeral: false, base_ref: 'main' },
  });
  const created = expectJSON(createdRes, 200, 'createBranch (new) must answer exactly 200 (Python create_branch)');
  assertShape('createBranch', created, 'createBranch (new)');
  assert.equal(created.target_branch, 'feature/one');
  assert.equal(created.target_is_ephemeral, false);
  assert.equal(created.commit_sha, c2);

  const fromSha = expectJSON(
    await client.next('POST', 'branches/create', {
      scopes: WRITE,
      json: { target_branch: 'from-sha', base_is_ephemeral: false, target_is_ephemeral: false, base_ref: c1 },
    }),
    200,
    'createBranch from a sha',
  );
  assert.equal(fromSha.commit_sha, c1);

  const createdV1 = expectJSON(
    await client.v1('POST', 'branches/create', { scopes: WRITE, json: { target_branch: 'feature/v1', base_ref: 'main' } }),
    200,
    'createBranch (v1)',
  );
  assertShape('createBranch', createdV1, 'createBranch (v1)');

  // listBranches on both families.
  const lists = {};
  for (const family of ['next', 'v1']) {
    const list = expectJSON(await client[family]('GET', 'branches', { query: { limit: 50 } }), 200, `listBranches (${family})`);
    assertShape('listBranches', list, `listBranches (${family})`);
    assert.deepEqual(
      list.branches.map((b) => [b.name, b.head_sha]),
      [['main', c2], ['feature/one', c2], ['from-sha', c1], ['feature/v1', c2]],
      `listBranches (${family})`,
    );
    lists[family] = list;
  }
  assert.deepEqual(lists.next, lists.v1);

  // getBranch (named-ref-lookup): ?name=&ephemeral=false and without ephemeral.
  for (const query of [{ name: 'feature/one', ephemeral: 'false' }, { name: 'feature/one' }]) {
    const got = expectJSON(await client.next('GET', 'branch', { query }), 200, `getBranch ${JSON.stringify(query)}`);
    assertShape('getBranch', got, 'getBranch');
    assert.equal(got.branch.name, 'feature/one');
    assert.equal(got.branch.head_sha, c2);
    const listed = lists.next.branches.find((b) => b.name === 'feature/one');
    assert.equal(got.branch.created_at, listed.created_at, 'getBranch created_at agrees with listBranches');
  }
  expectError(await client.next('GET', 'branch', { query: { name: 'missing/ref' } }), 404, 'getBranch of a missing branch');

  // Ephemeral namespace: a commit with target_is_ephemeral creates attempt/7 there only.
  const eph = await commitPack(client, 'next', {
    targetBranch: 'attempt/7',
    baseBranch: 'main',
    targetEphemeral: true,
    baseEphemeral: false,
    files: { 'eph.txt': 'ephemeral\n' },
  });
  const ephGot = expectJSON(await client.next('GET', 'branch', { query: { name: 'attempt/7', ephemeral: 'true' } }), 200, 'getBranch ephemeral');
  assertShape('getBranch', ephGot, 'getBranch (ephemeral)');
  assert.equal(ephGot.branch.head_sha, eph.commitSha);
  expectError(await client.next('GET', 'branch', { query: { name: 'attempt/7', ephemeral: 'false' } }), 404, 'ephemeral branch is not a normal branch');
  expectError(await client.next('GET', 'branch', { query: { name: 'attempt/7' } }), 404, 'ephemeral branch without ephemeral=');
  expectError(await client.next('GET', 'branch', { query: { name: 'main', ephemeral: 'true' } }), 404, 'main is not ephemeral');

  // Promotion (Python promote_ephemeral_branch → createBranch base_is_ephemeral:true).
  const promoted = expectJSON(
    await client.next('POST', 'branches/create', {
      scopes: WRITE,
      json: { target_branch: 'promoted', base_is_ephemeral: true, target_is_ephemeral: false, base_ref: 'attempt/7' },
    }),
    200,
    'promote',
  );
  assert.equal(promoted.commit_sha, eph.commitSha);
  assert.equal(await headOf(client, 'promoted'), eph.commitSha);

  // deleteBranch with target_branch: exactly 200, target_branch and name both sent.
  const delRes = await client.next('DELETE', 'branches', { scopes: WRITE, json: { target_branch: 'feature/one' } });
  const del = expectJSON(delRes, 200, 'deleteBranch (new) must answer exactly 200 (Python delete_branch)');
  assertShape('deleteBranch', del, 'deleteBranch (new)');
  assert.equal(del.target_branch, 'feature/one');
  assert.equal(del.ephemeral ?? false, false);
  assert.equal(await headOf(client, 'feature/one'), null, 'feature/one is gone');

  const delEph = expectJSON(
    await client.next('DELETE', 'branches', { scopes: WRITE, json: { target_branch: 'attempt/7', ephemeral: true } }),
    200,
    'deleteBranch ephemeral',
  );
  assertShape('deleteBranch', delEph, 'deleteBranch (new, ephemeral)');
  assert.equal(delEph.ephemeral, true);
  assert.equal(await headOf(client, 'attempt/7', { ephemeral: 'true' }), null);
  assert.equal(await headOf(client, 'promoted'), eph.commitSha, 'the promoted copy survives');

  // The standard name wins over the deprecated one when both are sent.
  for (const b of ['win-new', 'win-old']) {
    expectJSON(
      await client.next('POST', 'branches/create', {
        scopes: WRITE,
        json: { target_branch: b, base_is_ephemeral: false, target_is_ephemeral: false, base_ref: 'main' },
      }),
      200,
      `create ${b}`,
    );
  }
  const both = expectJSON(
    await client.next('DELETE', 'branches', { scopes: WRITE, json: { target_branch: 'win-new', name: 'win-old' } }),
    200,
    'deleteBranch with both names',
  );
  assert.equal(both.target_branch, 'win-new');
  assert.equal(await headOf(client, 'win-new'), null, 'target_branch was deleted');
  assert.equal(await headOf(client, 'win-old'), c2, 'name (deprecated) was ignored');

  // 1.17.1 delete: body {name}.
  const delV1 = expectJSON(await client.v1('DELETE', 'branches', { scopes: WRITE, json: { name: 'feature/v1' } }), 200, 'deleteBranch (v1)');
  assertShape('deleteBranch', delV1, 'deleteBranch (v1)');
  assert.equal(delV1.name, 'feature/v1');
  assert.equal(await headOf(client, 'feature/v1'), null);

  expectError(await client.next('DELETE', 'branches', { scopes: WRITE, json: { target_branch: 'never' } }), 404, 'delete a missing branch');
});

// ------------------------------------------------------------ tags

test('tags: createTag {name, ref}, listTags, getTag (annotated → peeled commit), deleteTag by path', { timeout: T_SHORT }, async () => {
  // A '/'-only name: this repository is also pushed to over Git.
  const name = `nx-tags-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}/tags`;
  const { client, c1, c2 } = await seed('nx-tags', name);

  // createTag {name, ref} (exact status: see the next test).
  const created = expectJSON(
    await client.next('POST', 'tags', { scopes: WRITE, json: { name: 'release/v1', ref: 'main' } }),
    [200, 201],
    'createTag (new)',
  );
  assertShape('createTag', created, 'createTag (new)');
  assert.deepEqual([created.name, created.sha], ['release/v1', c2]);

  // ref wins over the deprecated target.
  const prec = expectJSON(
    await client.next('POST', 'tags', { scopes: WRITE, json: { name: 'prec', ref: c1, target: c2 } }),
    [200, 201],
    'createTag with ref and target',
  );
  assert.equal(prec.sha, c1, 'ref (standard) wins over target');

  // 1.17.1 createTag {name, target}.
  const createdV1 = expectJSON(await client.v1('POST', 'tags', { scopes: WRITE, json: { name: 'v1tag', target: c1 } }), [200, 201], 'createTag (v1)');
  assertShape('createTag', createdV1, 'createTag (v1)');
  assert.equal(createdV1.sha, c1);

  // An annotated tag (and a tag of a tag) pushed over Git.
  const remote = `https://t:${mintJWT(name, ['git:read', 'git:write'])}@${STORAGE_HOST}/${name}.git`;
  const dir = tempDir('strata-next-tags-');
  await git(['init', '-q', '--bare', dir]);
  await git(['fetch', '-q', remote, '+refs/heads/main:refs/heads/main'], { cwd: dir });
  await git(['tag', '-a', '-m', 'annotated release', 'ann/1', c1], { cwd: dir });
  await git(['tag', '-a', '-m', 'tag of a tag', 'ann/nested', 'ann/1'], { cwd: dir });
  await git(['push', '-q', remote, 'refs/tags/ann/1', 'refs/tags/ann/nested'], { cwd: dir });

  const lists = {};
  for (const family of ['next', 'v1']) {
    const list = expectJSON(await client[family]('GET', 'tags', { query: { limit: 50 } }), 200, `listTags (${family})`);
    assertShape('listTags', list, `listTags (${family})`);
    assert.deepEqual(
      list.tags.map((t) => [t.name, t.sha]),
      [['ann/1', c1], ['ann/nested', c1], ['prec', c1], ['release/v1', c2], ['v1tag', c1]],
      `listTags (${family})`,
    );
    lists[family] = list;
  }
  assert.deepEqual(lists.next, lists.v1);

  // getTag: {tag:{name, sha}}, sha is the dereferenced commit.
  for (const [tag, sha] of [['ann/1', c1], ['ann/nested', c1], ['release/v1', c2]]) {
    const got = expectJSON(await client.next('GET', 'tag', { query: { name: tag } }), 200, `getTag ${tag}`);
    assertShape('getTag', got, `getTag ${tag}`);
    assert.deepEqual([got.tag.name, got.tag.sha], [tag, sha], `getTag ${tag} peels to the commit`);
  }
  expectError(await client.next('GET', 'tag', { query: { name: 'missing/ref' } }), 404, 'getTag of a missing tag');

  // deleteTag: DELETE .../tags/{escaped tag}, no body, git:read + git:write, exactly 200.
  const delRes = await client.next('DELETE', `tags/${enc('release/v1')}`, { scopes: TAG_DELETE });
  const del = expectJSON(delRes, 200, 'deleteTag (new) must answer exactly 200 (Python delete_tag)');
  assertShape('deleteTag', del, 'deleteTag (new)');
  assert.equal(del.name, 'release/v1');
  expectError(await client.next('GET', 'tag', { query: { name: 'release/v1' } }), 404, 'deleted tag');
  const delAnn = expectJSON(await client.next('DELETE', `tags/${enc('ann/1')}`, { scopes: TAG_DELETE }), 200, 'deleteTag annotated');
  assert.equal(delAnn.name, 'ann/1');
  expectError(await client.next('DELETE', `tags/${enc('release/v1')}`, { scopes: TAG_DELETE }), 404, 'delete a deleted tag');

  // 1.17.1 delete with a body.
  const delV1 = expectJSON(await client.v1('DELETE', 'tags', { scopes: TAG_DELETE, json: { name: 'v1tag' } }), 200, 'deleteTag (v1)');
  assertShape('deleteTag', delV1, 'deleteTag (v1)');

  const after = expectJSON(await client.next('GET', 'tags', {}), 200, 'listTags after deletes');
  assert.deepEqual(after.tags.map((t) => t.name), ['ann/nested', 'prec']);
});

test('createTag on the new route answers exactly 200 (Python create_tag raises on any other status)', { timeout: T_SHORT }, async () => {
  // pierre_storage/repo.py (7fc0bd0b) create_tag: `if response.status_code != 200: raise ApiError`,
  // like create_branch, delete_branch, merge and delete_tag.
  const { client, c2 } = await seed('nx-tag200');
  const res = await client.next('POST', 'tags', { scopes: WRITE, json: { name: 'v1', ref: 'main' } });
  const body = expectJSON(res, 200, 'createTag (new)');
  assert.deepEqual([body.name, body.sha], ['v1', c2]);
});

// ------------------------------------------------------------ commits, blame

test('listCommits ref=, getCommit ref=, getBlame; the standard name wins over the old one', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-commits');

  const listNext = expectJSON(await client.next('GET', 'commits', { query: { ref: 'main' } }), 200, 'listCommits (new)');
  assertShape('listCommits', listNext, 'listCommits (new)');
  assert.deepEqual(listNext.commits.map((c) => c.sha), [c2, c1]);
  assert.deepEqual(listNext.commits[0].parent_shas, [c1]);
  assert.deepEqual(listNext.commits[1].parent_shas, []);
  assert.equal(listNext.commits[0].message.trim(), 'second commit');
  assert.equal(listNext.commits[0].author_email, AUTHOR.email);
  assert.equal(listNext.commits[0].committer_email, COMMITTER.email);

  const listV1 = expectJSON(await client.v1('GET', 'commits', { query: { branch: 'main' } }), 200, 'listCommits (v1)');
  assertShape('listCommits', listV1, 'listCommits (v1)');
  assert.deepEqual(listV1, listNext, 'v1 branch= and new ref= list the same');

  const atC1 = expectJSON(await client.next('GET', 'commits', { query: { ref: c1 } }), 200, 'listCommits ref=<sha>');
  assert.deepEqual(atC1.commits.map((c) => c.sha), [c1]);
  const prefer = expectJSON(await client.next('GET', 'commits', { query: { ref: c1, branch: 'main' } }), 200, 'listCommits ref+branch');
  assert.deepEqual(prefer.commits.map((c) => c.sha), [c1], 'ref (standard) wins over branch');
  const byPath = expectJSON(await client.next('GET', 'commits', { query: { ref: 'main', path: 'docs/guide.md' } }), 200, 'listCommits path=');
  assert.deepEqual(byPath.commits.map((c) => c.sha), [c2]);
  const paged = expectJSON(await client.next('GET', 'commits', { query: { ref: 'main', limit: 1 } }), 200, 'listCommits limit=1');
  assert.deepEqual(paged.commits.map((c) => c.sha), [c2]);
  assert.equal(paged.has_more, true);
  const page2 = expectJSON(await client.next('GET', 'commits', { query: { ref: 'main', limit: 1, cursor: paged.next_cursor } }), 200, 'page 2');
  assert.deepEqual(page2.commits.map((c) => c.sha), [c1]);

  // getCommit: ?ref= accepts any revision.
  for (const [ref, sha] of [['main', c2], [c1, c1], ['main~1', c1], [c2.slice(0, 12), c2]]) {
    const got = expectJSON(await client.next('GET', 'commit', { query: { ref } }), 200, `getCommit ref=${ref}`);
    assertShape('getCommit', got, `getCommit ref=${ref}`);
    assert.equal(got.commit.sha, sha, `getCommit ref=${ref}`);
  }
  const preferSha = expectJSON(await client.next('GET', 'commit', { query: { ref: c1, sha: c2 } }), 200, 'getCommit ref+sha');
  assert.equal(preferSha.commit.sha, c1, 'ref (standard) wins over sha');
  const gotV1 = expectJSON(await client.v1('GET', 'commit', { query: { sha: c1 } }), 200, 'getCommit (v1)');
  assertShape('getCommit', gotV1, 'getCommit (v1)');
  const gotNext = expectJSON(await client.next('GET', 'commit', { query: { ref: c1 } }), 200, 'getCommit (new)');
  assert.deepEqual(gotV1, gotNext);
  expectError(await client.next('GET', 'commit', { query: { ref: 'f'.repeat(40) } }), 404, 'getCommit of a missing commit');

  // getBlame.
  const blames = {};
  for (const family of ['next', 'v1']) {
    const blame = expectJSON(await client[family]('GET', 'blame', { query: { path: 'README.md', ref: 'main' } }), 200, `getBlame (${family})`);
    assertShape('getBlame', blame, `getBlame (${family})`);
    assert.equal(blame.commit_sha, c2);
    assert.equal(blame.path, 'README.md');
    assert.deepEqual(
      blame.lines.map((l) => [l.line_number, l.commit_sha]),
      [[1, c1], [2, c1], [3, c2], [4, c2]],
      `getBlame (${family}) attribution`,
    );
    blames[family] = blame;
  }
  assert.deepEqual(blames.next, blames.v1);
});

// ------------------------------------------------------------ notes

test('notes: object_ref / notes_ref / expected_notes_ref_sha; responses carry notes_ref and target_ref; listNotesRefs', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-notes');

  const addRes = await client.next('POST', 'notes', { scopes: WRITE, json: { object_ref: c1, action: 'add', note: 'first note', author: { ...AUTHOR } } });
  const add = expectJSON(addRes, [200, 201], 'createNote (new)');
  assertShape('noteWrite', add, 'createNote (new)');
  assert.equal(add.sha, c1);
  assert.equal(add.notes_ref, 'refs/notes/commits');
  assert.equal(add.result.success, true);
  assert.match(add.new_ref_sha, SHA_RE);

  const read = expectJSON(await client.next('GET', 'notes', { query: { object_ref: c1 } }), 200, 'getNote (new)');
  assertShape('getNote', read, 'getNote (new)');
  assert.deepEqual([read.sha, read.note.replace(/\n$/, ''), read.ref_sha], [c1, 'first note', add.new_ref_sha]);
  // object_ref takes any revision.
  const byRef = expectJSON(await client.next('GET', 'notes', { query: { object_ref: 'main~1' } }), 200, 'getNote object_ref=main~1');
  assert.equal(byRef.sha, c1);

  // A stale expected_notes_ref_sha fails and changes nothing.
  const staleRes = await client.next('POST', 'notes', {
    scopes: WRITE,
    json: { object_ref: c1, action: 'append', note: 'never', expected_notes_ref_sha: c2 },
  });
  assert.ok(staleRes.status >= 400 && staleRes.status < 500, `stale guard must fail: ${show(staleRes)}`);
  assert.notEqual(staleRes.body?.result?.success, true, `stale guard: ${show(staleRes)}`);
  const unchanged = expectJSON(await client.next('GET', 'notes', { query: { object_ref: c1 } }), 200, 'note after stale append');
  assert.equal(unchanged.ref_sha, add.new_ref_sha, 'notes ref did not move');

  // expected_notes_ref_sha (standard) wins over expected_ref_sha.
  const appendRes = await client.next('POST', 'notes', {
    scopes: WRITE,
    json: { object_ref: c1, action: 'append', note: 'second', expected_notes_ref_sha: add.new_ref_sha, expected_ref_sha: c2 },
  });
  const appended = expectJSON(appendRes, [200, 201], 'appendNote with both guards');
  assertShape('noteWrite', appended, 'appendNote (new)');
  assert.equal(appended.result.success, true);
  assert.equal(
    expectJSON(await client.next('GET', 'notes', { query: { object_ref: c1 } }), 200, 'note after append').note,
    'first note\n\nsecond\n',
  );

  // notes_ref (standard) on a custom ref; read back with notes_ref=; object_ref wins over sha.
  const review = expectJSON(
    await client.next('POST', 'notes', { scopes: WRITE, json: { object_ref: c2, sha: c1, action: 'add', note: 'review', notes_ref: 'reviews', ref: 'ignored' } }),
    [200, 201],
    'createNote on notes_ref=reviews',
  );
  assertShape('noteWrite', review, 'createNote notes_ref=reviews');
  assert.equal(review.sha, c2, 'object_ref (standard) wins over sha');
  assert.equal(review.notes_ref, 'refs/notes/reviews', 'notes_ref (standard) wins over ref');
  const reviewRead = expectJSON(
    await client.next('GET', 'notes', { query: { object_ref: c2, notes_ref: 'reviews', sha: c1, ref: 'commits' } }),
    200,
    'getNote notes_ref=reviews',
  );
  assert.deepEqual([reviewRead.sha, reviewRead.note.replace(/\n$/, ''), reviewRead.ref_sha], [c2, 'review', review.new_ref_sha]);
  expectError(await client.next('GET', 'notes', { query: { object_ref: c2 } }), 404, 'default notes ref has no note on c2');

  // listNotesRefs on both families.
  const refsLists = {};
  for (const family of ['next', 'v1']) {
    const refs = expectJSON(await client[family]('GET', 'notes/refs', {}), 200, `listNotesRefs (${family})`);
    assertShape('listNotesRefs', refs, `listNotesRefs (${family})`);
    assert.deepEqual(
      refs.refs.map((r) => [r.ref, r.sha]),
      [['refs/notes/commits', appended.new_ref_sha], ['refs/notes/reviews', review.new_ref_sha]],
    );
    refsLists[family] = refs;
  }
  assert.deepEqual(refsLists.next, refsLists.v1);

  // deleteNote with the standard guard.
  const delRes = await client.next('DELETE', 'notes', { scopes: WRITE, json: { object_ref: c1, expected_notes_ref_sha: appended.new_ref_sha } });
  const del = expectJSON(delRes, [200, 201], 'deleteNote (new)');
  assertShape('noteWrite', del, 'deleteNote (new)');
  assert.equal(del.result.success, true);
  expectError(await client.next('GET', 'notes', { query: { object_ref: c1 } }), 404, 'deleted note');

  // 1.17.1: {sha, ref?, expected_ref_sha?} and ?sha=&ref=.
  const addV1 = expectJSON(await client.v1('POST', 'notes', { scopes: WRITE, json: { sha: c1, action: 'add', note: 'v1 note' } }), [200, 201], 'createNote (v1)');
  assertShape('noteWrite', addV1, 'createNote (v1)');
  assert.equal(addV1.target_ref, 'refs/notes/commits');
  const readV1 = expectJSON(await client.v1('GET', 'notes', { query: { sha: c1 } }), 200, 'getNote (v1)');
  assertShape('getNote', readV1, 'getNote (v1)');
  assert.equal(readV1.note.replace(/\n$/, ''), 'v1 note');
  const delV1 = expectJSON(
    await client.v1('DELETE', 'notes', { scopes: WRITE, json: { sha: c1, expected_ref_sha: addV1.new_ref_sha } }),
    [200, 201],
    'deleteNote (v1)',
  );
  assertShape('noteWrite', delV1, 'deleteNote (v1)');
});

// ------------------------------------------------------------ diffs, grep

test('getBranchDiff; getCommitDiff with ref / base_ref / git_apply_compatible; grep', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-diff');
  expectJSON(
    await client.next('POST', 'branches/create', {
      scopes: WRITE,
      json: { target_branch: 'feature', base_is_ephemeral: false, target_is_ephemeral: false, base_ref: c1 },
    }),
    200,
    'createBranch feature',
  );
  await commitPack(client, 'next', { targetBranch: 'feature', files: { 'feature.txt': 'one\ntwo\n' } });

  const branchDiffs = {};
  for (const family of ['next', 'v1']) {
    const diff = expectJSON(await client[family]('GET', 'branches/diff', { query: { branch: 'feature', base: 'main' } }), 200, `getBranchDiff (${family})`);
    assertShape('getBranchDiff', diff, `getBranchDiff (${family})`);
    assert.equal(diff.branch, 'feature');
    assert.equal(diff.base, 'main');
    assert.deepEqual(diff.files.map((f) => f.path), ['feature.txt']);
    assert.equal(diff.stats.files, 1);
    assert.equal(diff.stats.additions, 2);
    assert.match(diff.files[0].raw, /\+one\n\+two/);
    branchDiffs[family] = diff;
  }
  assert.deepEqual(branchDiffs.next, branchDiffs.v1);

  // getCommitDiff: new names vs 1.17.1 names (sha, baseSha, gitApplyCompatible).
  const nextDiff = expectJSON(
    await client.next('GET', 'diff', {
      query: { ref: c2, base_ref: c1, ref_is_ephemeral: 'false', base_is_ephemeral: 'false', git_apply_compatible: 'true' },
    }),
    200,
    'getCommitDiff (new)',
  );
  assertShape('getCommitDiff', nextDiff, 'getCommitDiff (new)');
  assert.equal(nextDiff.sha, c2);
  if (nextDiff.base_sha !== undefined) assert.equal(nextDiff.base_sha, c1);
  assert.deepEqual(nextDiff.files.map((f) => f.path).sort(), ['README.md', 'docs/guide.md']);
  assert.match(nextDiff.files.find((f) => f.path === 'README.md').raw, /-TODO: first\n\+TODO: second\n\+more/);
  const v1Diff = expectJSON(
    await client.v1('GET', 'diff', { query: { sha: c2, baseSha: c1, gitApplyCompatible: 'true' } }),
    200,
    'getCommitDiff (v1)',
  );
  assertShape('getCommitDiff', v1Diff, 'getCommitDiff (v1)');
  assert.deepEqual(v1Diff, nextDiff, 'both vocabularies select the same diff');

  // Standard names win over the old ones (standard-vocabulary test: ref/sha, base_ref/baseSha).
  const prefer = expectJSON(
    await client.next('GET', 'diff', { query: { ref: c2, sha: c1, base_ref: c1, baseSha: c2 } }),
    200,
    'getCommitDiff with both vocabularies',
  );
  assert.equal(prefer.sha, c2, 'ref wins over sha');
  assert.deepEqual(prefer.files.map((f) => f.path).sort(), ['README.md', 'docs/guide.md'], 'base_ref wins over baseSha');
  // Against the parent by default, filtered by path.
  const parentOnly = expectJSON(await client.next('GET', 'diff', { query: [['ref', c2], ['path', 'docs/guide.md']] }), 200, 'getCommitDiff path=');
  assert.deepEqual(parentOnly.files.map((f) => f.path), ['docs/guide.md']);

  // grep (Python flattens its args into this body).
  const body = { query: { pattern: 'TODO', case_sensitive: true }, ref: 'main' };
  const greps = {};
  for (const family of ['next', 'v1']) {
    const res = await client[family]('POST', 'grep', { json: body });
    if (res.status === 501) {
      // The server's git lacks PCRE2; it must say so the same way on both families.
      expectError(res, 501, `grep (${family})`);
      greps[family] = 501;
      continue;
    }
    const g = expectJSON(res, 200, `grep (${family})`);
    assertShape('grep', g, `grep (${family})`);
    assert.deepEqual(g.query, { pattern: 'TODO', case_sensitive: true });
    assert.equal(g.repo.commit, c2);
    assert.deepEqual(
      g.matches.map((m) => [m.path, m.lines.filter((l) => l.type === 'match').map((l) => [l.line_number, l.text])]),
      [['README.md', [[3, 'TODO: second']]]],
    );
    greps[family] = g;
  }
  assert.deepEqual(greps.next, greps.v1);
});

// ------------------------------------------------------------ pull-upstream

test('pullUpstream on a repository without an upstream → 400 with the error envelope', { timeout: T_SHORT }, async () => {
  const { client } = await seed('nx-upstream');
  expectError(await client.next('POST', 'pull-upstream', { scopes: WRITE, json: { ref: 'main' } }), 400, 'pullUpstream (new)');
  expectError(await client.v1('POST', 'pull-upstream', { scopes: WRITE, json: {} }), 400, 'pullUpstream (v1)');
  // DELETE /api/repos/{name}/base (SKILL.md "Detach upstream"): idempotent, 200 {message}.
  for (const attempt of [1, 2]) {
    const detached = expectJSON(await client.next('DELETE', 'base', { scopes: WRITE }), 200, `detach upstream #${attempt}`);
    assert.equal(typeof detached.message, 'string');
  }
  assert.equal(await headOf(client, 'main') !== null, true, 'detach leaves the repository alone');
});

// ------------------------------------------------------------ merge

test('previewMerge (with source/target_is_ephemeral) and merge with source_ref (exactly 200)', { timeout: T_SHORT }, async () => {
  const { client, c1, c2 } = await seed('nx-merge');
  expectJSON(
    await client.next('POST', 'branches/create', {
      scopes: WRITE,
      json: { target_branch: 'feature', base_is_ephemeral: false, target_is_ephemeral: false, base_ref: c1 },
    }),
    200,
    'createBranch feature',
  );
  const f1 = await commitPack(client, 'next', { targetBranch: 'feature', files: { 'feature.txt': 'feature\n' } });

  const previews = {};
  for (const family of ['next', 'v1']) {
    const query = family === 'next'
      ? { source_branch: 'feature', target_branch: 'main', source_is_ephemeral: 'false', target_is_ephemeral: 'false' }
      : { source_branch: 'feature', target_branch: 'main' };
    const p = expectJSON(await client[family]('GET', 'merge/preview', { query }), 200, `previewMerge (${family})`);
    assertShape('previewMerge', p, `previewMerge (${family})`);
    assert.deepEqual(
      [p.status, p.result, p.source_branch, p.target_branch, p.source_tip_sha, p.target_tip_sha],
      ['clean', 'merge_commit', 'feature', 'main', f1.commitSha, c2],
    );
    if (p.merge_base_sha !== undefined) assert.equal(p.merge_base_sha, c1);
    previews[family] = p;
  }
  assert.deepEqual(previews.next, previews.v1);

  // An ephemeral source, previewed with source_is_ephemeral=true.
  const eph = await commitPack(client, 'next', {
    targetBranch: 'eph-src',
    baseBranch: 'main',
    targetEphemeral: true,
    baseEphemeral: false,
    files: { 'eph.txt': 'eph\n' },
  });
  const ephPreview = expectJSON(
    await client.next('GET', 'merge/preview', { query: { source_branch: 'eph-src', target_branch: 'main', source_is_ephemeral: 'true', target_is_ephemeral: 'false' } }),
    200,
    'previewMerge ephemeral source',
  );
  assertShape('previewMerge', ephPreview, 'previewMerge (ephemeral source)');
  assert.deepEqual([ephPreview.result, ephPreview.source_tip_sha, ephPreview.target_tip_sha], ['fast_forward', eph.commitSha, c2]);
  expectError(
    await client.next('GET', 'merge/preview', { query: { source_branch: 'eph-src', target_branch: 'main', source_is_ephemeral: 'false' } }),
    404,
    'ephemeral source without the flag',
  );
  assert.equal(await headOf(client, 'main'), c2, 'previews move nothing');

  // merge {source_ref, ...}: exactly 200; source carries both ref and branch.
  const mergeRes = await client.next('POST', 'merge', {
    scopes: WRITE,
    json: {
      source_ref: 'feature',
      target_branch: 'main',
      strategy: 'merge',
      source_is_ephemeral: false,
      target_is_ephemeral: false,
      expected_target_sha: c2,
      commit_message: 'Merge feature',
      author: { ...AUTHOR },
    },
  });
  const merged = expectJSON(mergeRes, 200, 'merge (new) must answer exactly 200 (Python merge)');
  assertShape('merge', merged, 'merge (new)');
  assert.equal(merged.result, 'merge_commit');
  assert.deepEqual([merged.source.ref, merged.source.sha, merged.source.ephemeral], ['feature', f1.commitSha, false]);
  assert.deepEqual(
    [merged.target.branch, merged.target.old_sha, merged.target.new_sha, merged.target.ephemeral],
    ['main', c2, merged.commit_sha, false],
  );
  assert.equal(await headOf(client, 'main'), merged.commit_sha);
  const mergeCommit = expectJSON(await client.next('GET', 'commit', { query: { ref: merged.commit_sha } }), 200, 'merge commit');
  assert.deepEqual(mergeCommit.commit.parent_shas, [c2, f1.commitSha]);
  assert.equal(mergeCommit.commit.message.trim(), 'Merge feature');

  // source_ref wins over source_branch; an ephemeral source with source_is_ephemeral.
  const decoy = await commitPack(client, 'next', { targetBranch: 'decoy', baseBranch: 'main', files: { 'decoy.txt': 'd\n' } });
  const ff = expectJSON(
    await client.next('POST', 'merge', {
      scopes: WRITE,
      json: { source_ref: 'eph-src', source_branch: 'decoy', source_is_ephemeral: true, target_branch: 'main', strategy: 'ff_prefer' },
    }),
    200,
    'merge with source_ref + source_branch',
  );
  assertShape('merge', ff, 'merge (ephemeral source)');
  assert.equal(ff.source.sha, eph.commitSha, 'source_ref (standard) wins over source_branch');
  assert.equal(ff.source.ephemeral, true);
  assert.notEqual(ff.source.sha, decoy.commitSha);
  assert.equal(ff.target.old_sha, merged.commit_sha);
  assert.equal(await headOf(client, 'main'), ff.commit_sha);

  // A stale expected_target_sha → 409, nothing moves.
  const stale = await client.next('POST', 'merge', {
    scopes: WRITE,
    json: { source_ref: 'decoy', target_branch: 'main', strategy: 'merge', expected_target_sha: c2 },
  });
  expectError(stale, 409, 'merge with a stale expected_target_sha');
  assert.equal(await headOf(client, 'main'), ff.commit_sha);

  // 1.17.1 merge {source_branch}.
  const mergedV1 = expectJSON(
    await client.v1('POST', 'merge', { scopes: WRITE, json: { source_branch: 'decoy', target_branch: 'main', strategy: 'merge', author: { ...AUTHOR } } }),
    200,
    'merge (v1)',
  );
  assertShape('merge', mergedV1, 'merge (v1)');
  assert.equal(mergedV1.source.branch, 'decoy');
  assert.equal(mergedV1.source.sha, decoy.commitSha);
});

// ------------------------------------------------------------ restore-commit

test('restoreCommit with metadata.base_ref and expected_target_sha; result carries target_branch and branch', { timeout: T_SHORT }, async () => {
  const { client, c1, c2, tree1, tree2 } = await seed('nx-restore');

  // Stale guard: fails, nothing moves.
  const staleRes = await client.next('POST', 'restore-commit', {
    scopes: WRITE,
    json: { metadata: { target_branch: 'main', base_ref: c1, author: { ...AUTHOR }, expected_target_sha: c1 } },
  });
  assert.ok(staleRes.status >= 400 && staleRes.status < 500, `stale restore must fail: ${show(staleRes)}`);
  assertShape('refUpdateFailure', expectJSON(staleRes, staleRes.status, 'stale restore'), 'restore-commit failure (new)');
  assert.equal(staleRes.body.result.success, false);
  assert.equal(await headOf(client, 'main'), c2);

  // base_ref / expected_target_sha (standard) win over target_commit_sha / expected_head_sha.
  const res = await client.next('POST', 'restore-commit', {
    scopes: WRITE,
    json: {
      metadata: {
        target_branch: 'main',
        base_ref: c1,
        target_commit_sha: c2,
        author: { ...AUTHOR },
        commit_message: 'Restore to first',
        expected_target_sha: c2,
        expected_head_sha: c1,
      },
    },
  });
  const restored = expectJSON(res, [200, 201], 'restoreCommit (new)');
  assertShape('restoreCommit', restored, 'restoreCommit (new)');
  assert.equal(restored.commit.target_branch, 'main');
  assert.equal(restored.result.target_branch, 'main');
  assert.equal(restored.result.old_sha, c2);
  assert.equal(restored.result.new_sha, restored.commit.commit_sha);
  assert.equal(restored.commit.tree_sha, tree1, 'base_ref (standard) chose the tree');
  assert.equal(await headOf(client, 'main'), restored.commit.commit_sha);
  const files = expectJSON(await client.next('GET', 'files', { query: { ref: 'main' } }), 200, 'files after restore');
  assert.deepEqual([...files.paths].sort(), ['README.md', 'src/a.txt']);

  // HEAD~1-style revisions (the route-contract request uses base_ref: 'HEAD~1').
  const back = expectJSON(
    await client.next('POST', 'restore-commit', {
      scopes: WRITE,
      json: { metadata: { target_branch: 'main', base_ref: 'main~1', author: { ...AUTHOR } } },
    }),
    [200, 201],
    'restoreCommit base_ref=main~1',
  );
  assert.equal(back.commit.tree_sha, tree2, 'main~1 (c2) resolved');
  const readme = await client.next('GET', 'file', { query: { path: 'README.md', ref: 'main' }, raw: true });
  assert.equal(readme.bytes.toString('utf8'), README_2, 'main~1 (c2) content restored');

  // 1.17.1: target_commit_sha / expected_head_sha.
  const v1 = expectJSON(
    await client.v1('POST', 'restore-commit', {
      scopes: WRITE,
      json: { metadata: { target_branch: 'main', target_commit_sha: c1, author: { ...AUTHOR }, expected_head_sha: back.commit.commit_sha } },
    }),
    [200, 201],
    'restoreCommit (v1)',
  );
  assertShape('restoreCommit', v1, 'restoreCommit (v1)');
  assert.equal(v1.commit.tree_sha, tree1);
});

// ------------------------------------------------------------ commit-pack, diff-commit

test('commit-pack NDJSON: expected_target_sha, target_is_ephemeral, base_is_ephemeral; explicit false wins', { timeout: T_SHORT }, async () => {
  const { client, c2 } = await seed('nx-pack');

  // Standard-vocabulary request: explicit false next to old-name true.
  const lines = commitPackLines('next', {
    targetBranch: 'main',
    message: 'explicit false',
    files: { 'f.txt': 'false wins\n' },
    baseBranch: 'main',
    expectedSha: c2,
    targetEphemeral: false,
    baseEphemeral: false,
    extraMetadata: { ephemeral: true, ephemeral_base: true, expected_head_sha: 'f'.repeat(40) },
  });
  const res = await client.next('POST', 'commit-pack', { scopes: WRITE, ndjson: lines });
  const body = expectJSON(res, [200, 201], 'commit-pack with explicit false');
  assertShape('commitPack', body, 'commit-pack (new)');
  assert.equal(body.result.success, true);
  assert.equal(body.result.old_sha, c2, 'expected_target_sha (standard) won over expected_head_sha');
  assert.equal(body.result.target_branch, 'main');
  assert.equal(await headOf(client, 'main'), body.commit.commit_sha, 'the commit went to the normal namespace');
  assert.equal(await headOf(client, 'main', { ephemeral: 'true' }), null, 'nothing in the ephemeral namespace');

  // Stale expected_target_sha: failure body, nothing moves.
  const staleRes = await client.next('POST', 'commit-pack', {
    scopes: WRITE,
    ndjson: commitPackLines('next', { targetBranch: 'main', files: { 'g.txt': 'g\n' }, expectedSha: c2 }),
  });
  assert.ok(staleRes.status >= 400 && staleRes.status < 500, `stale commit-pack must fail: ${show(staleRes)}`);
  assertShape('refUpdateFailure', expectJSON(staleRes, staleRes.status, 'stale commit-pack'), 'commit-pack failure (new)');
  assert.equal(staleRes.body.result.success, false);
  assert.equal(await headOf(client, 'main'), body.commit.commit_sha);

  // target_is_ephemeral: true creates an ephemeral branch from a normal base.
  const eph = await commitPack(client, 'next', {
    targetBranch: 'scratch',
    baseBranch: 'main',
    targetEphemeral: true,
    baseEphemeral: false,
    files: { 'e.txt': 'e\n' },
  });
  assert.equal(await headOf(client, 'scratch', { ephemeral: 'true' }), eph.commitSha);
  assert.equal(await headOf(client, 'scratch'), null);
  // base_is_ephemeral: true bases a normal branch on the ephemeral one.
  const fromEph = await commitPack(client, 'next', {
    targetBranch: 'from-eph',
    baseBranch: 'scratch',
    targetEphemeral: false,
    baseEphemeral: true,
    files: { 'n.txt': 'n\n' },
  });
  const parent = expectJSON(await client.next('GET', 'commit', { query: { ref: fromEph.commitSha } }), 200, 'from-eph commit');
  assert.deepEqual(parent.commit.parent_shas, [eph.commitSha]);

  // 1.17.1 vocabulary on the v1 route: ephemeral / ephemeral_base / expected_head_sha.
  const v1 = await commitPack(client, 'v1', {
    targetBranch: 'v1-eph',
    baseBranch: 'scratch',
    targetEphemeral: true,
    baseEphemeral: true,
    files: { 'v.txt': 'v\n' },
  });
  assert.equal(await headOf(client, 'v1-eph', { ephemeral: 'true' }), v1.commitSha);
  const v1Guarded = await commitPack(client, 'v1', { targetBranch: 'main', files: { 'h.txt': 'h\n' }, expectedSha: body.commit.commit_sha });
  assert.equal(v1Guarded.oldSha, body.commit.commit_sha);
});

test('diff-commit NDJSON with the standard metadata names', { timeout: T_SHORT }, async () => {
  const { client, c2 } = await seed('nx-diffcommit');
  const patch = [
    'diff --git a/src/a.txt b/src/a.txt',
    '--- a/src/a.txt',
    '+++ b/src/a.txt',
    '@@ -1 +1,2 @@',
    ' alpha',
    '+beta',
    '',
  ].join('\n');
  const lines = (family, extra = {}) => {
    const metadata = {
      target_branch: 'main',
      commit_message: 'apply patch',
      author: { ...AUTHOR },
      ...extra,
    };
    return [{ metadata }, { diff_chunk: { data: Buffer.from(patch).toString('base64'), eof: true } }];
  };
  const res = await client.next('POST', 'diff-commit', {
    scopes: WRITE,
    ndjson: lines('next', {
      expected_target_sha: c2,
      target_is_ephemeral: false,
      base_is_ephemeral: false,
      ephemeral: true,
      ephemeral_base: true,
    }),
  });
  const body = expectJSON(res, [200, 201], 'diff-commit (new)');
  assertShape('commitPack', body, 'diff-commit (new)');
  assert.equal(body.result.success, true);
  assert.equal(body.result.old_sha, c2);
  assert.equal(body.result.target_branch, 'main');
  assert.equal(await headOf(client, 'main'), body.commit.commit_sha, 'explicit false kept the commit in the normal namespace');
  const file = await client.next('GET', 'file', { query: { path: 'src/a.txt', ref: 'main' }, raw: true });
  assert.equal(file.bytes.toString('utf8'), 'alpha\nbeta\n');

  // The 1.17.1 route and names; a patch that no longer applies fails cleanly.
  const v1Res = await client.v1('POST', 'diff-commit', { scopes: WRITE, ndjson: lines('v1', { expected_head_sha: body.commit.commit_sha }) });
  assert.ok(v1Res.status >= 400 && v1Res.status < 500, `re-applying the patch must fail: ${show(v1Res)}`);
  assertShape('refUpdateFailure', expectJSON(v1Res, v1Res.status, 'diff-commit conflict (v1)'), 'diff-commit failure (v1)');
  assert.equal(await headOf(client, 'main'), body.commit.commit_sha);

  const reverse = patch.replace(' alpha\n+beta', ' alpha\n-beta').replace('@@ -1 +1,2 @@', '@@ -1,2 +1 @@');
  const v1Ok = await client.v1('POST', 'diff-commit', {
    scopes: WRITE,
    ndjson: [
      { metadata: { target_branch: 'main', commit_message: 'revert patch', author: { ...AUTHOR }, expected_head_sha: body.commit.commit_sha } },
      { diff_chunk: { data: Buffer.from(reverse).toString('base64'), eof: true } },
    ],
  });
  const v1Body = expectJSON(v1Ok, [200, 201], 'diff-commit (v1)');
  assertShape('commitPack', v1Body, 'diff-commit (v1)');
  const after = await client.next('GET', 'file', { query: { path: 'src/a.txt', ref: 'main' }, raw: true });
  assert.equal(after.bytes.toString('utf8'), A_TXT);
});
