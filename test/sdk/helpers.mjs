// Shared setup for the @pierre/storage conformance suite.
//
// Environment (set by sdk_test.go):
//   STRATA_API_URL       https://127.0.0.1:<port>
//   STRATA_ORG           organisation name (JWT issuer)
//   STRATA_KEY_FILE      PKCS#8 PEM private key registered for the org
//   STRATA_STORAGE_HOST  127.0.0.1:<port> (git host, no scheme)
//   STRATA_CA_FILE       PEM of the test CA (GIT_SSL_CAINFO for git subprocesses)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { ApiError, GitStorage, RefUpdateError } from '@pierre/storage';

export { ApiError, GitStorage, RefUpdateError };

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must be set (run the suite through: go test ./test/sdk/)`);
  }
  return value;
}

export const API_URL = requireEnv('STRATA_API_URL');
export const ORG = requireEnv('STRATA_ORG');
export const STORAGE_HOST = requireEnv('STRATA_STORAGE_HOST');
export const KEY_PEM = readFileSync(requireEnv('STRATA_KEY_FILE'), 'utf8');

export const ZERO_SHA = '0'.repeat(40);
export const SHA_RE = /^[0-9a-f]{40}$/;
// RFC 3339 date-time (offset or Z, optional fraction).
export const RFC3339_RE =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Per-test timeouts (ms). */
export const T_SHORT = 60_000;
export const T_LONG = 300_000;

export const AUTHOR = Object.freeze({ name: 'SDK Author', email: 'author@sdk.example' });
export const COMMITTER = Object.freeze({ name: 'SDK Committer', email: 'committer@sdk.example' });

// ------------------------------------------------------------ wire checks
//
// Every request the SDK makes goes through `recordingFetch` (the SDK's
// documented `fetch` injection point). It checks wire rules the SDK itself
// does not validate on every path (§1.6, §4.1, Appendix B.1) and records
// violations; `wireConformanceTest()` (called at the end of each test file)
// fails if any were seen.

const wireViolations = [];

const RAW_BODY_ROUTES = [/\/repos\/file$/, /\/repos\/archive$/];

async function recordingFetch(input, init) {
  const response = await globalThis.fetch(input, init);
  try {
    await checkWire(String(input), init?.method ?? 'GET', response);
  } catch (err) {
    wireViolations.push(`${init?.method ?? 'GET'} ${input}: check crashed: ${err}`);
  }
  return response;
}

async function checkWire(url, method, response) {
  const path = new URL(url).pathname;
  const label = `${method} ${path} → ${response.status}`;
  const contentType = response.headers.get('content-type') ?? '';
  if (RAW_BODY_ROUTES.some((re) => re.test(path))) {
    if (response.status >= 400 && method !== 'HEAD' && response.status !== 412 && response.status !== 416) {
      // Errors from the file endpoint still use the JSON envelope (§4.1).
      if (!contentType.includes('application/json')) {
        wireViolations.push(`${label}: error response Content-Type is ${JSON.stringify(contentType)}, want application/json`);
      }
    }
    return;
  }
  if (method === 'HEAD') return;
  // §1.6: every JSON response (success or error) has Content-Type application/json and a JSON body,
  // except that deleting a git credential answers 204 (§1.7; the SDK ignores its body).
  if (response.status === 204 && method === 'DELETE' && /\/git-credentials(\/[^/]+)?$/.test(path)) return;
  if (response.status === 204) {
    wireViolations.push(`${label}: JSON endpoints must not answer 204 (§1.6)`);
    return;
  }
  if (!contentType.includes('application/json')) {
    wireViolations.push(`${label}: Content-Type ${JSON.stringify(contentType)}, want application/json (§1.6)`);
  }
  const text = await response.clone().text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    wireViolations.push(`${label}: body is not JSON: ${text.slice(0, 200)}`);
    return;
  }
  if (response.status >= 400) {
    if (!body || typeof body !== 'object' || typeof body.error !== 'string' || body.error.trim() === '') {
      wireViolations.push(`${label}: error body lacks a string "error" (§4.1): ${text.slice(0, 200)}`);
    }
  }
}

/** Registers a test that fails when any wire-level violation was recorded. */
export function wireConformanceTest() {
  test('wire: every JSON response has Content-Type application/json and a JSON body (§1.6, §4.1)', () => {
    const unique = [...new Set(wireViolations)];
    assert.deepEqual(unique, [], `wire violations:\n${unique.join('\n')}`);
  });
}

export function newStorage(overrides = {}) {
  return new GitStorage({
    name: ORG,
    key: KEY_PEM,
    apiBaseUrl: API_URL,
    storageBaseUrl: STORAGE_HOST,
    fetch: recordingFetch,
    ...overrides,
  });
}

/** Shared client; every test still works on its own repositories. */
export const storage = newStorage();

/** A unique, readable repository id. */
export function uid(prefix = 'sdk') {
  const rand = randomBytes(4).toString('hex');
  return `${prefix}-${Date.now().toString(36)}-${rand}`;
}

/** Creates a fresh, empty repository with a unique id. */
export async function freshRepo(prefix, options = {}) {
  const id = options.id ?? uid(prefix);
  const repo = await storage.createRepo({ ...options, id });
  assert.equal(repo.id, id);
  return repo;
}

/**
 * Sends one commit built from a map of operations:
 *   files: { 'path': 'text' | Uint8Array | { content, mode } | null (delete) }
 */
export async function commit(repo, files, options = {}) {
  const builder = repo.createCommit({
    targetBranch: options.targetBranch ?? repo.defaultBranch ?? 'main',
    commitMessage: options.message ?? `commit ${randomBytes(3).toString('hex')}`,
    author: options.author ?? AUTHOR,
    ...(options.committer ? { committer: options.committer } : {}),
    ...(options.expectedHeadSha ? { expectedHeadSha: options.expectedHeadSha } : {}),
    ...(options.baseBranch ? { baseBranch: options.baseBranch } : {}),
    ...(options.ephemeral ? { ephemeral: true } : {}),
    ...(options.ephemeralBase ? { ephemeralBase: true } : {}),
    ...(options.refPolicies ? { refPolicies: options.refPolicies } : {}),
  });
  for (const [path, value] of Object.entries(files)) {
    if (value === null) {
      builder.deletePath(path);
    } else if (typeof value === 'string') {
      builder.addFileFromString(path, value);
    } else if (value instanceof Uint8Array) {
      builder.addFile(path, value);
    } else {
      const { content, mode } = value;
      if (typeof content === 'string') {
        builder.addFileFromString(path, content, mode ? { mode } : undefined);
      } else {
        builder.addFile(path, content, mode ? { mode } : undefined);
      }
    }
  }
  const result = await builder.send();
  assertCommitResult(result);
  return result;
}

/** Shape checks shared by every successful createCommit().send(). */
export function assertCommitResult(result) {
  assert.match(result.commitSha, SHA_RE, 'commitSha');
  assert.match(result.treeSha, SHA_RE, 'treeSha');
  assert.equal(typeof result.packBytes, 'number');
  assert.equal(typeof result.blobCount, 'number');
  assert.equal(result.refUpdate.newSha, result.commitSha, 'refUpdate.newSha == commitSha');
  assert.match(result.refUpdate.oldSha, SHA_RE, 'refUpdate.oldSha');
  assert.equal(result.refUpdate.branch, result.targetBranch, 'refUpdate.branch == targetBranch');
}

/** Git blob id of a byte array ("blob <len>\0" + bytes). */
export function gitBlobSha(bytes) {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a Response body fully into a Buffer. */
export async function bodyBytes(response) {
  return Buffer.from(await response.arrayBuffer());
}

export async function readFile(repo, path, options = {}) {
  const response = await repo.getFileStream({ path, ...options });
  assert.equal(response.status, 200, `GET file ${path} status`);
  return bodyBytes(response);
}

export async function readText(repo, path, options = {}) {
  return (await readFile(repo, path, options)).toString('utf8');
}

/** Current head of a branch according to listBranches (walks all pages). */
export async function branchHead(repo, name, { ephemeral } = {}) {
  const all = await allBranches(repo, { ephemeral });
  return all.find((b) => b.name === name)?.headSha;
}

export async function allBranches(repo, { ephemeral, limit = 100 } = {}) {
  const out = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const res = await repo.listBranches({
      limit,
      ...(cursor ? { cursor } : {}),
      ...(typeof ephemeral === 'boolean' ? { ephemeral } : {}),
    });
    out.push(...res.branches);
    if (!res.hasMore) return out;
    assert.ok(res.nextCursor, 'hasMore=true requires nextCursor');
    cursor = res.nextCursor;
  }
  throw new Error('listBranches did not terminate within 100 pages');
}

export async function allCommits(repo, options = {}) {
  const out = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const res = await repo.listCommits({ ...options, limit: options.limit ?? 100, ...(cursor ? { cursor } : {}) });
    out.push(...res.commits);
    if (!res.hasMore) return out;
    assert.ok(res.nextCursor, 'hasMore=true requires nextCursor');
    cursor = res.nextCursor;
  }
  throw new Error('listCommits did not terminate within 100 pages');
}

/** Sorted list of file paths (legacy listFiles). */
export async function filePaths(repo, options = {}) {
  const res = await repo.listFiles(options);
  return [...res.paths].sort();
}

function describeError(err) {
  if (!err) return String(err);
  const parts = [`${err.name}: ${err.message}`];
  if (err.status !== undefined) parts.push(`status=${err.status}`);
  if (err.reason !== undefined) parts.push(`reason=${err.reason}`);
  if (err.body !== undefined) parts.push(`body=${JSON.stringify(err.body)}`);
  return parts.join(' ');
}

/** Awaits a promise that must reject; returns the error. */
export async function rejection(promiseOrFn, label = 'operation') {
  try {
    const value = await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
    assert.fail(`${label}: expected a rejection, got success: ${safeJson(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err;
  }
}

function safeJson(v) {
  try {
    return JSON.stringify(v)?.slice(0, 500);
  } catch {
    return String(v);
  }
}

/** Expects a RefUpdateError whose reason is one of `reasons`. */
export async function expectRefUpdateError(promiseOrFn, reasons, label) {
  const err = await rejection(promiseOrFn, label);
  const allowed = Array.isArray(reasons) ? reasons : [reasons];
  assert.ok(
    err instanceof RefUpdateError,
    `${label}: expected RefUpdateError(${allowed.join('|')}), got ${describeError(err)}`,
  );
  assert.ok(
    allowed.includes(err.reason),
    `${label}: expected reason ${allowed.join('|')}, got ${describeError(err)}`,
  );
  return err;
}

/** Expects an ApiError whose HTTP status is one of `statuses`. */
export async function expectApiError(promiseOrFn, statuses, label) {
  const err = await rejection(promiseOrFn, label);
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  assert.ok(
    err instanceof ApiError,
    `${label}: expected ApiError(${allowed.join('|')}), got ${describeError(err)}`,
  );
  assert.ok(
    allowed.includes(err.status),
    `${label}: expected HTTP ${allowed.join('|')}, got ${describeError(err)}`,
  );
  return err;
}

/** Expects a plain Error with exactly this message. */
export async function expectErrorMessage(promiseOrFn, message, label) {
  const err = await rejection(promiseOrFn, label);
  assert.equal(err?.message, message, `${label}: got ${describeError(err)}`);
  return err;
}

/** Asserts a string is an RFC 3339 timestamp close to now. */
export function assertRecentTimestamp(value, label, slackMs = 10 * 60_000) {
  assert.equal(typeof value, 'string', `${label} must be a string`);
  assert.match(value, RFC3339_RE, `${label} must be RFC 3339, got ${value}`);
  const t = new Date(value).getTime();
  assert.ok(Number.isFinite(t), `${label} must parse`);
  assert.ok(Math.abs(Date.now() - t) < slackMs, `${label}=${value} is not close to now`);
}

// ------------------------------------------------------------ real git
//
// Helpers for tests that drive the git CLI (local repositories, and clones /
// pushes through SDK remote URLs). Every git process runs with an isolated
// configuration: no global/system config, no prompts, a throw-away HOME, the
// test CA (STRATA_CA_FILE, set by sdk_test.go) for HTTPS, and a fixed
// identity.

/** PEM file of the CA that signed the server certificate ('' if unset). */
export const CA_FILE = process.env.STRATA_CA_FILE ?? '';

const tempDirs = [];
process.on('exit', () => {
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix = 'strata-sdk-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

let gitHome;
/** Environment for git subprocesses (see above); `extra` wins. */
export function gitEnv(extra = {}) {
  gitHome ??= tempDir('strata-git-home-');
  return {
    PATH: process.env.PATH,
    HOME: gitHome,
    XDG_CONFIG_HOME: join(gitHome, '.config'),
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    ...(CA_FILE ? { GIT_SSL_CAINFO: CA_FILE } : {}),
    GIT_AUTHOR_NAME: AUTHOR.name,
    GIT_AUTHOR_EMAIL: AUTHOR.email,
    GIT_COMMITTER_NAME: COMMITTER.name,
    GIT_COMMITTER_EMAIL: COMMITTER.email,
    ...extra,
  };
}

/** Hides the JWT of SDK remote URLs (https://t:<jwt>@host/...) in messages. */
export function redact(text) {
  return String(text).replace(/(https?:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@');
}

/**
 * Runs `git args...` and resolves to { code, stdout, stderr } (never rejects
 * on a non-zero exit; a timeout kills git and resolves with code null).
 */
export function runGit(args, { cwd, input, env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd,
      env: gitEnv(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[killed after ${timeoutMs} ms]` : '');
      resolve({ code: timedOut ? null : code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? undefined);
  });
}

/** Runs git and returns its stdout as text; throws (with stderr) on failure. */
export async function git(args, options = {}) {
  const res = await runGit(args, options);
  if (res.code !== 0) {
    throw new Error(
      `git ${redact(args.join(' '))} failed (exit ${res.code}):\n${redact(res.stderr)}${redact(res.stdout.toString('utf8'))}`,
    );
  }
  return res.stdout.toString('utf8');
}

/** Runs git, which must fail; returns { code, stderr, stdout }. */
export async function gitFails(args, options = {}) {
  const res = await runGit(args, options);
  assert.notEqual(res.code, 0, `git ${redact(args.join(' '))} was expected to fail:\n${redact(res.stderr)}`);
  return { ...res, stdout: res.stdout.toString('utf8'), stderr: redact(res.stderr) };
}
