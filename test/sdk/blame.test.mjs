// §5.11 getBlame → GET /repos/blame.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTHOR,
  COMMITTER,
  RFC3339_RE,
  SHA_RE,
  T_SHORT,
  commit,
  expectApiError,
  freshRepo,
  wireConformanceTest,
} from './helpers.mjs';

const SECOND = Object.freeze({ name: 'Second Author', email: 'second@sdk.example' });

/**
 * History of src/a.txt:
 *   c1 (AUTHOR / COMMITTER): l1 l2 l3 l4
 *   c2 (AUTHOR):             l1 L2-changed l3 l4 l5
 *   c3 (SECOND):             top l1 L2-changed l3 L4-by-c3 l5
 */
async function history() {
  const repo = await freshRepo('blame');
  const c1 = await commit(
    repo,
    { 'src/a.txt': 'l1\nl2\nl3\nl4\n', 'other.txt': 'other\n' },
    { message: 'c1 first line\n\nbody of c1', committer: COMMITTER },
  );
  const c2 = await commit(repo, { 'src/a.txt': 'l1\nL2 changed\nl3\nl4\nl5\n' }, { message: 'c2 summary' });
  const c3 = await commit(
    repo,
    { 'src/a.txt': 'top\nl1\nL2 changed\nl3\nL4 by c3\nl5\n' },
    { message: 'c3 summary\nsecond line', author: SECOND },
  );
  return { repo, c1, c2, c3 };
}

// Final file: [line, commit key, original line number].
const FINAL = [
  [1, 'c3', 1],
  [2, 'c1', 1],
  [3, 'c2', 2],
  [4, 'c1', 3],
  [5, 'c3', 5],
  [6, 'c2', 5],
];

function assertLineShape(line, label) {
  assert.equal(typeof line.lineNumber, 'number', `${label}: line_number is a number`);
  assert.equal(typeof line.originalLineNumber, 'number', `${label}: original_line_number is a number`);
  assert.match(line.commitSha, SHA_RE, `${label}: commit_sha`);
  assert.match(line.rawAuthorTime, RFC3339_RE, `${label}: author_time RFC 3339`);
  assert.match(line.rawCommitterTime, RFC3339_RE, `${label}: committer_time RFC 3339`);
  assert.ok(!Number.isNaN(line.authorTime.getTime()), `${label}: author_time parses`);
  assert.ok(!Number.isNaN(line.committerTime.getTime()), `${label}: committer_time parses`);
  if (line.previousCommitSha !== undefined) {
    assert.match(line.previousCommitSha, SHA_RE, `${label}: previous_commit_sha`);
  }
}

function numbers(res) {
  return res.lines.map((l) => l.lineNumber);
}

test('getBlame whole file: every line attributed to the commit that wrote it', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2, c3 } = await history();
  const sha = { c1: c1.commitSha, c2: c2.commitSha, c3: c3.commitSha };
  const res = await repo.getBlame({ path: 'src/a.txt' });

  assert.equal(res.ref, 'main', 'ref echoes the default branch when omitted');
  assert.equal(res.path, 'src/a.txt');
  assert.equal(res.commitSha, c3.commitSha, 'commit_sha = what the ref resolved to');
  assert.equal(res.lines.length, FINAL.length, 'one entry per line');

  const infos = {};
  for (const key of ['c1', 'c2', 'c3']) {
    infos[key] = (await repo.getCommit({ sha: sha[key] })).commit;
  }

  for (const [i, [lineNumber, key, original]] of FINAL.entries()) {
    const line = res.lines[i];
    const label = `line ${lineNumber}`;
    assertLineShape(line, label);
    assert.equal(line.lineNumber, lineNumber, `${label}: lines in file order`);
    assert.equal(line.commitSha, sha[key], `${label}: written by ${key}`);
    assert.equal(line.originalLineNumber, original, `${label}: original_line_number`);
    assert.equal(line.originalPath, 'src/a.txt', `${label}: original_path`);

    // Identities.
    const author = key === 'c3' ? SECOND : AUTHOR;
    const committer = key === 'c1' ? COMMITTER : author;
    assert.equal(line.authorName, author.name, `${label}: author_name`);
    assert.equal(line.authorEmail, author.email, `${label}: author_email`);
    assert.equal(line.committerName, committer.name, `${label}: committer_name`);
    assert.equal(line.committerEmail, committer.email, `${label}: committer_email`);

    // Times: the commit's author date (what getCommit reports) to the second.
    const info = infos[key];
    assert.equal(
      Math.floor(line.authorTime.getTime() / 1000),
      Math.floor(info.date.getTime() / 1000),
      `${label}: author_time ${line.rawAuthorTime} = commit date ${info.rawDate}`,
    );
    assert.ok(
      Math.abs(line.committerTime.getTime() - line.authorTime.getTime()) < 60_000,
      `${label}: committer_time close to author_time`,
    );
    assert.ok(Math.abs(Date.now() - line.authorTime.getTime()) < 10 * 60_000, `${label}: author_time is recent`);

    // Summary: the first line of the message.
    const summary = { c1: 'c1 first line', c2: 'c2 summary', c3: 'c3 summary' }[key];
    assert.equal(line.summary, summary, `${label}: summary`);

    // previous_commit_sha: absent for the root commit, the parent otherwise.
    const previous = { c1: undefined, c2: c1.commitSha, c3: c2.commitSha }[key];
    assert.equal(line.previousCommitSha, previous, `${label}: previous_commit_sha`);
  }
  // Commit times are monotonic along the history.
  assert.ok(infos.c1.date.getTime() <= infos.c3.date.getTime());
});

test('getBlame at an older ref echoes the ref and blames that version', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await history();
  const res = await repo.getBlame({ path: 'src/a.txt', ref: c2.commitSha });
  assert.equal(res.ref, c2.commitSha, 'ref echoes the request');
  assert.equal(res.commitSha, c2.commitSha);
  assert.deepEqual(
    res.lines.map((l) => [l.lineNumber, l.commitSha, l.originalLineNumber]),
    [
      [1, c1.commitSha, 1],
      [2, c2.commitSha, 2],
      [3, c1.commitSha, 3],
      [4, c1.commitSha, 4],
      [5, c2.commitSha, 5],
    ],
  );

  // A branch name resolves to its tip.
  const f = await commit(repo, { 'src/a.txt': 'feature only\n' }, { targetBranch: 'feature', baseBranch: 'main' });
  const onFeature = await repo.getBlame({ path: 'src/a.txt', ref: 'feature' });
  assert.equal(onFeature.ref, 'feature');
  assert.equal(onFeature.commitSha, f.commitSha);
  assert.equal(onFeature.lines.length, 1);
  assert.equal(onFeature.lines[0].commitSha, f.commitSha);
  assert.equal(onFeature.lines[0].previousCommitSha, (await repo.getBlame({ path: 'src/a.txt' })).commitSha);

  // The root commit's version: no line has a previous commit.
  const root = await repo.getBlame({ path: 'src/a.txt', ref: c1.commitSha });
  assert.deepEqual(numbers(root), [1, 2, 3, 4]);
  for (const line of root.lines) {
    assert.equal(line.commitSha, c1.commitSha);
    assert.equal(line.previousCommitSha, undefined, 'previous_commit_sha omitted on the first version');
  }
});

test('getBlame follows a rename: original_path is the old path', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('blame-rename');
  const body = 'alpha line one\nbeta line two\ngamma line three\n';
  const c1 = await commit(repo, { 'old/name.txt': body }, { message: 'add old' });
  const c2 = await commit(repo, { 'old/name.txt': null, 'new/name.txt': `${body}delta added after move\n` }, { message: 'move' });
  const res = await repo.getBlame({ path: 'new/name.txt' });
  assert.equal(res.path, 'new/name.txt');
  assert.deepEqual(
    res.lines.map((l) => [l.lineNumber, l.commitSha, l.originalPath, l.originalLineNumber]),
    [
      [1, c1.commitSha, 'old/name.txt', 1],
      [2, c1.commitSha, 'old/name.txt', 2],
      [3, c1.commitSha, 'old/name.txt', 3],
      [4, c2.commitSha, 'new/name.txt', 4],
    ],
  );
  assert.equal(res.lines[3].previousCommitSha, c1.commitSha, 'the added line has the rename source as previous');
  assert.equal(res.lines[0].previousCommitSha, undefined);
});

const C_FILE = [
  'int alpha(void)', // 1
  '{', // 2
  '\treturn 1;', // 3
  '}', // 4
  '', // 5
  'int beta(void)', // 6
  '{', // 7
  '\treturn 2;', // 8
  '}', // 9
  '', // 10
  'int gamma(void)', // 11
  '{', // 12
  '\treturn 3;', // 13
  '}', // 14
].join('\n') + '\n';

async function cRepo() {
  const repo = await freshRepo('blame-ranges');
  const c1 = await commit(repo, { 'f.c': C_FILE }, { message: 'functions' });
  // Change beta's body so that two commits show up.
  const c2 = await commit(repo, { 'f.c': C_FILE.replace('\treturn 2;', '\treturn 22;') }, { message: 'beta returns 22' });
  return { repo, c1, c2 };
}

test('getBlame numeric and offset ranges', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await cRepo();
  const cases = [
    ['2,4', [2, 3, 4]],
    ['7', [7, 8, 9, 10, 11, 12, 13, 14]], // start only: to the end of the file
    ['6,+3', [6, 7, 8]],
    ['9,-3', [7, 8, 9]],
    ['12,', [12, 13, 14]],
    [',3', [1, 2, 3]],
    ['8,8', [8]],
  ];
  for (const [range, want] of cases) {
    const res = await repo.getBlame({ path: 'f.c', ranges: [range] });
    assert.deepEqual(numbers(res), want, `range ${range}`);
    assert.equal(res.commitSha, c2.commitSha);
    for (const line of res.lines) {
      assert.equal(line.commitSha, line.lineNumber === 8 ? c2.commitSha : c1.commitSha, `range ${range}: line ${line.lineNumber}`);
      assert.equal(line.originalLineNumber, line.lineNumber);
    }
  }
  // Line 8 is the changed one and has c1 as previous.
  const l8 = await repo.getBlame({ path: 'f.c', ranges: ['8'] });
  assert.equal(l8.lines[0].previousCommitSha, c1.commitSha);
  assert.equal(l8.lines[0].summary, 'beta returns 22');
});

test('getBlame regex and :funcname ranges', { timeout: T_SHORT }, async () => {
  const { repo, c1, c2 } = await cRepo();
  const cases = [
    ['/return 22/,+2', [8, 9]],
    ['/^int beta/,/^}/', [6, 7, 8, 9]],
    ['/^int gamma/', [11, 12, 13, 14]],
    [':beta', [6, 7, 8, 9, 10]],
    [':gamma', [11, 12, 13, 14]],
    [':^int alpha', [1, 2, 3, 4, 5]],
  ];
  for (const [range, want] of cases) {
    const res = await repo.getBlame({ path: 'f.c', ranges: [range] });
    assert.deepEqual(numbers(res), want, `range ${range}`);
  }
  const beta = await repo.getBlame({ path: 'f.c', ranges: [':beta'] });
  assert.deepEqual(
    beta.lines.map((l) => l.commitSha),
    [c1.commitSha, c1.commitSha, c2.commitSha, c1.commitSha, c1.commitSha],
  );
});

test('getBlame with several ranges: union in file order', { timeout: T_SHORT }, async () => {
  const { repo } = await cRepo();
  const two = await repo.getBlame({ path: 'f.c', ranges: ['1,2', '13,14'] });
  assert.deepEqual(numbers(two), [1, 2, 13, 14]);

  const unordered = await repo.getBlame({ path: 'f.c', ranges: ['11,12', '2,3'] });
  assert.deepEqual(numbers(unordered), [2, 3, 11, 12], 'lines come in file order');

  const overlapping = await repo.getBlame({ path: 'f.c', ranges: ['2,5', '4,7'] });
  assert.deepEqual(numbers(overlapping), [2, 3, 4, 5, 6, 7], 'overlapping ranges merge, no duplicates');

  const mixed = await repo.getBlame({ path: 'f.c', ranges: ['1,3', ':gamma'] });
  assert.deepEqual(numbers(mixed), [1, 2, 3, 11, 12, 13, 14], 'numeric and :funcname ranges mix');

  // git's rule: a regex start searches from the end of the previous range,
  // so after a range running to the end of the file nothing is left → 400.
  await expectApiError(repo.getBlame({ path: 'f.c', ranges: ['1', ':gamma'] }), 400, ':gamma after a range to EOF');
  // ^ anchors the search at the top of the file again.
  const anchored = await repo.getBlame({ path: 'f.c', ranges: ['12,', '^/^int beta/,+2'] });
  assert.deepEqual(numbers(anchored), [6, 7, 12, 13, 14]);

  const fn = await repo.getBlame({ path: 'f.c', ranges: [':alpha', ':gamma'] });
  assert.deepEqual(numbers(fn), [1, 2, 3, 4, 5, 11, 12, 13, 14]);

  // 16 ranges are allowed.
  const sixteen = Array.from({ length: 16 }, (_, i) => `${(i % 14) + 1},${(i % 14) + 1}`);
  const ok = await repo.getBlame({ path: 'f.c', ranges: sixteen });
  assert.deepEqual(numbers(ok), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

test('getBlame with more than 16 ranges → ApiError 400', { timeout: T_SHORT }, async () => {
  const { repo } = await cRepo();
  const seventeen = Array.from({ length: 17 }, (_, i) => `${(i % 14) + 1},${(i % 14) + 1}`);
  await expectApiError(repo.getBlame({ path: 'f.c', ranges: seventeen }), 400, '17 ranges');
});

test('getBlame bad ranges → ApiError 400', { timeout: T_SHORT }, async () => {
  const { repo } = await cRepo();
  for (const range of ['abc', '0', '1,2,3', '100', '/no such text anywhere/', ':nosuchfunction']) {
    await expectApiError(repo.getBlame({ path: 'f.c', ranges: [range] }), 400, `range ${JSON.stringify(range)}`);
  }
});

test('getBlame detectMoves attributes moved lines to their origin', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('blame-moves');
  const fn = [
    'function computeTotalPriceWithDiscounts(items, discountTable) {',
    '  return items.reduce((sum, item) => sum + item.price * discountTable[item.kind], 0);',
    '}',
  ];
  const c1 = await commit(
    repo,
    {
      'src.js': ['header line for the source file', ...fn, 'footer line for the source file', ''].join('\n'),
      'dst.js': 'destination file start\n',
    },
    { message: 'c1' },
  );
  const c2 = await commit(
    repo,
    {
      'src.js': 'header line for the source file\nfooter line for the source file\n',
      'dst.js': ['destination file start', ...fn, ''].join('\n'),
    },
    { message: 'move function' },
  );

  const plain = await repo.getBlame({ path: 'dst.js' });
  assert.deepEqual(
    plain.lines.map((l) => [l.lineNumber, l.commitSha, l.originalPath]),
    [
      [1, c1.commitSha, 'dst.js'],
      [2, c2.commitSha, 'dst.js'],
      [3, c2.commitSha, 'dst.js'],
      [4, c2.commitSha, 'dst.js'],
    ],
    'without detectMoves the moved lines belong to the move',
  );

  const moves = await repo.getBlame({ path: 'dst.js', detectMoves: true });
  assert.deepEqual(
    moves.lines.map((l) => [l.lineNumber, l.commitSha, l.originalPath, l.originalLineNumber]),
    [
      [1, c1.commitSha, 'dst.js', 1],
      [2, c1.commitSha, 'src.js', 2],
      [3, c1.commitSha, 'src.js', 3],
      [4, c1.commitSha, 'src.js', 4],
    ],
    'with detectMoves the moved lines belong to the commit that wrote them in src.js',
  );
});

test('getBlame ephemeral: resolves the ref among ephemeral branches', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('blame-eph');
  const c1 = await commit(repo, { 'a.txt': 'one\n' });
  const e1 = await commit(repo, { 'a.txt': 'one\ntwo\n' }, { targetBranch: 'scratch', baseBranch: 'main', ephemeral: true });
  const res = await repo.getBlame({ path: 'a.txt', ref: 'scratch', ephemeral: true });
  assert.equal(res.ref, 'scratch');
  assert.equal(res.commitSha, e1.commitSha);
  assert.deepEqual(res.lines.map((l) => [l.lineNumber, l.commitSha]), [
    [1, c1.commitSha],
    [2, e1.commitSha],
  ]);
  // Not visible in the normal namespace.
  await expectApiError(repo.getBlame({ path: 'a.txt', ref: 'scratch' }), 404, 'ephemeral branch without ephemeral flag');

  // Same branch name in both namespaces.
  const eMain = await commit(repo, { 'a.txt': 'eph main\n' }, { targetBranch: 'main', baseBranch: 'main', ephemeral: true });
  const normal = await repo.getBlame({ path: 'a.txt', ref: 'main' });
  assert.equal(normal.commitSha, c1.commitSha);
  const eph = await repo.getBlame({ path: 'a.txt', ref: 'main', ephemeral: true });
  assert.equal(eph.commitSha, eMain.commitSha);
  assert.deepEqual(eph.lines.map((l) => l.commitSha), [eMain.commitSha]);
});

test('getBlame unknown path or ref → ApiError 404; empty file → no lines', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('blame-404');
  const c1 = await commit(repo, { 'a.txt': 'a\n', 'dir/b.txt': 'b\n', 'empty.txt': '' });
  await expectApiError(repo.getBlame({ path: 'missing.txt' }), 404, 'unknown path');
  await expectApiError(repo.getBlame({ path: 'dir/missing.txt' }), 404, 'unknown nested path');
  await expectApiError(repo.getBlame({ path: 'a.txt', ref: 'no-such-branch' }), 404, 'unknown ref');
  await expectApiError(repo.getBlame({ path: 'a.txt', ref: 'e'.repeat(40) }), 404, 'unknown sha');
  // Deleted in a later commit: gone at head, present at the old commit.
  await commit(repo, { 'a.txt': null });
  await expectApiError(repo.getBlame({ path: 'a.txt' }), 404, 'deleted path');
  const old = await repo.getBlame({ path: 'a.txt', ref: c1.commitSha });
  assert.deepEqual(old.lines.map((l) => [l.lineNumber, l.commitSha]), [[1, c1.commitSha]]);

  const empty = await repo.getBlame({ path: 'empty.txt' });
  assert.deepEqual(empty.lines, []);
  assert.equal(empty.path, 'empty.txt');

  // The SDK refuses a blank path before sending anything.
  await assert.rejects(repo.getBlame({ path: '  ' }), /getBlame path is required/);
});

wireConformanceTest();
