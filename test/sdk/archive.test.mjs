// §5.13 getArchiveStream → POST /repos/archive (gzip-compressed tar).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import {
  T_SHORT,
  commit,
  expectApiError,
  freshRepo,
  wireConformanceTest,
} from './helpers.mjs';

// ------------------------------------------------------------ tar reader
//
// A small ustar/pax reader: enough for what a git-style archive holds
// (regular files, directories, symlinks, pax global/extended headers, GNU
// long names). It verifies every header checksum.

function cString(buf) {
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul === -1 ? buf.length : nul).toString('utf8');
}

function octal(buf, label) {
  if (buf[0] & 0x80) {
    // base-256 (GNU) encoding
    let n = 0n;
    for (let i = 1; i < buf.length; i++) n = (n << 8n) | BigInt(buf[i]);
    return Number(n);
  }
  const s = cString(buf).trim();
  if (s === '') return 0;
  assert.match(s, /^[0-7]+$/, `${label}: octal field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function parsePax(data) {
  const out = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    assert.ok(space > pos, 'pax record length');
    const len = parseInt(data.subarray(pos, space).toString('ascii'), 10);
    assert.ok(len > 0, 'pax record length > 0');
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8'); // drop trailing \n
    assert.equal(data[pos + len - 1], 0x0a, 'pax record ends with newline');
    const eq = record.indexOf('=');
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Parses an uncompressed tar. Returns { entries: [{name, type, mode, size,
 * linkname, data, mtime, uid, gid}], globals: {pax global records} }.
 */
function parseTar(tar) {
  const entries = [];
  const globals = {};
  let local = {};
  let gnuLong;
  let gnuLink;
  let pos = 0;
  let sawEnd = false;
  while (pos + 512 <= tar.length) {
    const header = tar.subarray(pos, pos + 512);
    if (header.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    // Checksum: the sum of all header bytes with the checksum field as spaces.
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    assert.equal(octal(header.subarray(148, 156), 'chksum'), sum, `header checksum at offset ${pos}`);

    const typeflag = String.fromCharCode(header[156] || 0x30);
    const size = octal(header.subarray(124, 136), 'size');
    const dataStart = pos + 512;
    const data = tar.subarray(dataStart, dataStart + size);
    assert.equal(data.length, size, 'entry data is complete');
    pos = dataStart + Math.ceil(size / 512) * 512;

    if (typeflag === 'g') {
      Object.assign(globals, parsePax(data));
      continue;
    }
    if (typeflag === 'x') {
      local = parsePax(data);
      continue;
    }
    if (typeflag === 'L') {
      gnuLong = cString(data);
      continue;
    }
    if (typeflag === 'K') {
      gnuLink = cString(data);
      continue;
    }
    const magic = header.subarray(257, 263).toString('latin1');
    let name = cString(header.subarray(0, 100));
    if (magic.startsWith('ustar')) {
      const prefix = cString(header.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    if (gnuLong !== undefined) name = gnuLong;
    if (local.path !== undefined) name = local.path;
    let linkname = cString(header.subarray(157, 257));
    if (gnuLink !== undefined) linkname = gnuLink;
    if (local.linkpath !== undefined) linkname = local.linkpath;
    const type = { 0: 'file', 7: 'file', 5: 'dir', 2: 'symlink', 1: 'hardlink' }[typeflag] ?? `type-${typeflag}`;
    entries.push({
      name,
      type,
      mode: octal(header.subarray(100, 108), 'mode') & 0o7777,
      uid: octal(header.subarray(108, 116), 'uid'),
      gid: octal(header.subarray(116, 124), 'gid'),
      mtime: octal(header.subarray(136, 148), 'mtime'),
      size: local.size !== undefined ? Number(local.size) : size,
      linkname,
      data: Buffer.from(data),
    });
    local = {};
    gnuLong = undefined;
    gnuLink = undefined;
  }
  assert.ok(sawEnd, 'tar ends with a zero block');
  return { entries, globals };
}

function blobSha(bytes) {
  const buf = Buffer.from(bytes);
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

/** Fetches an archive and returns { response, entries, globals, byName }. */
async function fetchArchive(repo, options) {
  const response = await repo.getArchiveStream(options);
  assert.equal(response.status, 200, 'archive status');
  assert.match(response.headers.get('content-type') ?? '', /application\/(gzip|x-gzip)/, 'Content-Type gzip');
  const gz = Buffer.from(await response.arrayBuffer());
  assert.ok(gz.length > 18, 'non-empty body');
  assert.equal(gz[0], 0x1f, 'gzip magic 1');
  assert.equal(gz[1], 0x8b, 'gzip magic 2');
  const tar = gunzipSync(gz);
  assert.equal(tar.length % 512, 0, 'tar is a whole number of blocks');
  const { entries, globals } = parseTar(tar);
  const names = entries.map((e) => e.name);
  assert.equal(new Set(names).size, names.length, `no duplicate entries: ${names.join(', ')}`);
  const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
  return { response, entries, globals, byName };
}

/** Regular files and symlinks of an archive (directories dropped), with the prefix removed. */
function filesOf(entries, prefix = '') {
  const out = {};
  for (const e of entries) {
    if (e.type === 'dir') continue;
    assert.ok(e.name.startsWith(prefix), `${e.name} starts with prefix ${prefix}`);
    out[e.name.slice(prefix.length)] = e;
  }
  return out;
}

// ------------------------------------------------------------ fixtures

const BINARY = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37 + (i >> 3)) & 0xff));
const LARGE = Buffer.from('0123456789abcdef'.repeat(1500)); // 24000 bytes
const LONG_NAME = `deep/${'d'.repeat(60)}/${'x'.repeat(120)}.txt`;

const FILES = {
  'README.md': { content: '# hello archive\n', mode: '100644' },
  'src/main.go': { content: 'package main\n\nfunc main() {}\n', mode: '100644' },
  'src/lib/util.go': { content: 'package lib\n\nconst X = 1\n', mode: '100644' },
  'src/lib/util_test.go': { content: 'package lib\n', mode: '100644' },
  'docs/guide.md': { content: 'guide\n', mode: '100644' },
  'bin/run.sh': { content: '#!/bin/sh\necho run\n', mode: '100755' },
  'assets/logo.bin': { content: BINARY, mode: '100644' },
  'big/large.txt': { content: LARGE, mode: '100644' },
  'empty.txt': { content: '', mode: '100644' },
  'ünïcode dir/名前.txt': { content: 'unicode name\n', mode: '100644' },
  [LONG_NAME]: { content: 'long path\n', mode: '100644' },
  link: { content: 'README.md', mode: '120000' },
};

function bytesOf(content) {
  return typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
}

async function archiveRepo(prefix = 'archive') {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, FILES, { message: 'archive fixture' });
  return { repo, c1 };
}

/** Asserts an archive's files are exactly `expected` (a subset of FILES), byte for byte. */
function assertFiles(entries, expected, prefix = '', label = 'archive') {
  const files = filesOf(entries, prefix);
  assert.deepEqual(Object.keys(files).sort(), Object.keys(expected).sort(), `${label}: file list`);
  for (const [path, { content, mode }] of Object.entries(expected)) {
    const e = files[path];
    const want = bytesOf(content);
    if (mode === '120000') {
      assert.equal(e.type, 'symlink', `${label}: ${path} is a symlink entry`);
      assert.equal(e.linkname, want.toString('utf8'), `${label}: ${path} link target`);
      continue;
    }
    assert.equal(e.type, 'file', `${label}: ${path} is a regular file`);
    assert.equal(e.size, want.length, `${label}: ${path} size`);
    assert.equal(blobSha(e.data), blobSha(want), `${label}: ${path} blob sha`);
    assert.ok(e.data.equals(want), `${label}: ${path} bytes`);
    if (mode === '100755') {
      assert.equal(e.mode & 0o111, 0o111, `${label}: ${path} is executable (mode ${e.mode.toString(8)})`);
    } else {
      assert.equal(e.mode & 0o111, 0, `${label}: ${path} is not executable (mode ${e.mode.toString(8)})`);
    }
  }
}

function pick(...paths) {
  return Object.fromEntries(paths.map((p) => [p, FILES[p]]));
}

// ------------------------------------------------------------ tests

test('getArchiveStream: the whole tree of the default branch, byte for byte', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await archiveRepo();
  const { entries, globals, response } = await fetchArchive(repo);
  assertFiles(entries, FILES);

  // Blob ids computed in node match the ids git stores (listFilesWithMetadata gives sizes; HEAD gives blob ids).
  for (const path of ['README.md', 'assets/logo.bin', 'big/large.txt']) {
    const head = await repo.headFile({ path });
    const entry = filesOf(entries)[path];
    assert.equal(blobSha(entry.data), head.blobSha, `${path}: X-Blob-Sha`);
  }

  // Directories above archived files are present as directory entries (when the archive has any).
  const dirs = entries.filter((e) => e.type === 'dir').map((e) => e.name.replace(/\/$/, ''));
  if (dirs.length > 0) {
    for (const d of ['src', 'src/lib', 'docs', 'bin', 'assets', 'big', 'deep', 'ünïcode dir']) {
      assert.ok(dirs.includes(d), `directory entry ${d}`);
    }
  }
  // Directories come before their contents.
  const index = Object.fromEntries(entries.map((e, i) => [e.name.replace(/\/$/, ''), i]));
  for (const d of dirs) {
    for (const e of entries) {
      if (e.name.startsWith(`${d}/`) && e.name !== `${d}/`) assert.ok(index[d] < index[e.name.replace(/\/$/, '')], `${d} precedes ${e.name}`);
    }
  }
  // git-archive conventions (informational in the spec, stable in practice).
  if (globals.comment !== undefined) assert.equal(globals.comment, c1.commitSha, 'pax global comment = commit id');
  const commitSha = response.headers.get('x-commit-sha');
  if (commitSha !== null) assert.equal(commitSha, c1.commitSha);
  const { commit: info } = await repo.getCommit({ sha: c1.commitSha });
  for (const e of entries) {
    assert.ok(Math.abs(e.mtime - Math.floor(info.date.getTime() / 1000)) < 120, `${e.name}: mtime near the commit time`);
  }
});

test('getArchiveStream: ref selects the tree', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await archiveRepo('archive-ref');
  const c2 = await commit(repo, { 'README.md': '# changed\n', 'src/main.go': null, 'added.txt': 'added\n' });
  await commit(repo, { 'feature.txt': 'feature\n' }, { targetBranch: 'feature', baseBranch: 'main' });

  const head = await fetchArchive(repo);
  const headFiles = { ...FILES, 'README.md': { content: '# changed\n' }, 'added.txt': { content: 'added\n' } };
  delete headFiles['src/main.go'];
  assertFiles(head.entries, headFiles, '', 'head');

  const old = await fetchArchive(repo, { ref: c1.commitSha });
  assertFiles(old.entries, FILES, '', 'ref=c1');

  const byBranch = await fetchArchive(repo, { ref: 'main' });
  assertFiles(byBranch.entries, headFiles, '', 'ref=main');

  const feature = await fetchArchive(repo, { ref: 'feature' });
  assertFiles(feature.entries, { ...headFiles, 'feature.txt': { content: 'feature\n' } }, '', 'ref=feature');

  const short = await fetchArchive(repo, { ref: c2.commitSha.slice(0, 12) });
  assertFiles(short.entries, headFiles, '', 'short sha');

  await expectApiError(repo.getArchiveStream({ ref: 'no-such-branch' }), 404, 'unknown ref');
  await expectApiError(repo.getArchiveStream({ ref: 'f'.repeat(40) }), 404, 'unknown sha');
});

test('getArchiveStream: archivePrefix is put in front of every entry', { timeout: T_SHORT }, async () => {
  const { repo } = await archiveRepo('archive-prefix');
  const { entries } = await fetchArchive(repo, { archivePrefix: 'myrepo/' });
  for (const e of entries) assert.ok(e.name.startsWith('myrepo/'), `${e.name} carries the prefix`);
  assertFiles(entries, FILES, 'myrepo/', 'prefix myrepo/');

  // Verbatim: a prefix without a slash is glued to the names.
  const glued = await fetchArchive(repo, { archivePrefix: 'x-', includeGlobs: ['README.md'] });
  assertFiles(glued.entries, pick('README.md'), 'x-', 'prefix x-');
  assert.ok(glued.byName['x-README.md'], 'x-README.md');

  // Nested prefix.
  const nested = await fetchArchive(repo, { archivePrefix: 'a/b/', includeGlobs: ['docs/**'] });
  assertFiles(nested.entries, pick('docs/guide.md'), 'a/b/', 'prefix a/b/');

  // Whitespace-only prefix is dropped by the SDK: no prefix.
  const blank = await fetchArchive(repo, { archivePrefix: '   ', includeGlobs: ['README.md'] });
  assertFiles(blank.entries, pick('README.md'), '', 'blank prefix');
});

test('getArchiveStream: includeGlobs and excludeGlobs', { timeout: T_SHORT }, async () => {
  const { repo } = await archiveRepo('archive-globs');
  const names = async (opts) => Object.keys(filesOf((await fetchArchive(repo, opts)).entries)).sort();

  const src = await fetchArchive(repo, { includeGlobs: ['src/**'] });
  assertFiles(src.entries, pick('src/main.go', 'src/lib/util.go', 'src/lib/util_test.go'), '', 'include src/**');
  // Nothing outside src, not even directory entries.
  for (const e of src.entries) assert.ok(e.name === 'src/' || e.name === 'src' || e.name.startsWith('src/'), `only src: ${e.name}`);

  assert.deepEqual(await names({ includeGlobs: ['**/*.md'] }), ['README.md', 'docs/guide.md']);
  assert.deepEqual(await names({ includeGlobs: ['docs/**', 'bin/**'] }), ['bin/run.sh', 'docs/guide.md']);
  assert.deepEqual(await names({ includeGlobs: ['src/lib/*.go'] }), ['src/lib/util.go', 'src/lib/util_test.go']);
  assert.deepEqual(await names({ includeGlobs: ['**/*_test.go'] }), ['src/lib/util_test.go']);

  const all = Object.keys(FILES).sort();
  assert.deepEqual(
    await names({ excludeGlobs: ['src/**'] }),
    all.filter((p) => !p.startsWith('src/')),
    'exclude src/**',
  );
  assert.deepEqual(
    await names({ excludeGlobs: ['**/*.md', 'assets/**', 'big/**'] }),
    all.filter((p) => !p.endsWith('.md') && !p.startsWith('assets/') && !p.startsWith('big/')),
  );
  assert.deepEqual(
    await names({ includeGlobs: ['src/**'], excludeGlobs: ['**/*_test.go'] }),
    ['src/lib/util.go', 'src/main.go'],
    'include then exclude',
  );
  assert.deepEqual(await names({ includeGlobs: ['nothing/**'] }), [], 'a glob matching nothing gives an empty archive');

  // Contents still exact under filters.
  const filtered = await fetchArchive(repo, { includeGlobs: ['assets/**', 'bin/**'], archivePrefix: 'p/' });
  assertFiles(filtered.entries, pick('assets/logo.bin', 'bin/run.sh'), 'p/', 'filtered + prefix');

  await expectApiError(repo.getArchiveStream({ includeGlobs: ['src/[abc'] }), 400, 'malformed include glob');
});

test('getArchiveStream: maxBlobSize omits larger files', { timeout: T_SHORT }, async () => {
  const { repo } = await archiveRepo('archive-size');
  const all = Object.keys(FILES);
  const sizes = Object.fromEntries(all.map((p) => [p, bytesOf(FILES[p].content).length]));

  for (const limit of [5000, 100, 16, 0]) {
    const { entries } = await fetchArchive(repo, { maxBlobSize: limit });
    const want = Object.fromEntries(all.filter((p) => sizes[p] <= limit).map((p) => [p, FILES[p]]));
    assertFiles(entries, want, '', `maxBlobSize ${limit}`);
  }
  // Exactly at the limit is kept; one byte less drops it.
  const at = await fetchArchive(repo, { maxBlobSize: LARGE.length, includeGlobs: ['big/**'] });
  assertFiles(at.entries, pick('big/large.txt'), '', 'limit = size');
  const below = await fetchArchive(repo, { maxBlobSize: LARGE.length - 1, includeGlobs: ['big/**'] });
  assertFiles(below.entries, {}, '', 'limit = size - 1');

  // A big limit keeps everything.
  const { entries } = await fetchArchive(repo, { maxBlobSize: 10 * 1024 * 1024 });
  assertFiles(entries, FILES, '', 'maxBlobSize 10 MiB');
});

test('getArchiveStream: everything excluded, deleted files absent', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('archive-small');
  await commit(repo, { 'only.txt': 'only\n' });
  await commit(repo, { 'only.txt': null, 'other.txt': 'other\n' });
  const { entries } = await fetchArchive(repo, { excludeGlobs: ['*.txt'] });
  assert.deepEqual(entries.filter((e) => e.type !== 'dir'), [], 'everything excluded → no files');
  const full = await fetchArchive(repo);
  assertFiles(full.entries, { 'other.txt': { content: 'other\n' } });
});

wireConformanceTest();
