// §5.12 grep → POST /repos/grep (dialect: RE2, Q22).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  SHA_RE,
  T_SHORT,
  commit,
  expectApiError,
  freshRepo,
  wireConformanceTest,
} from './helpers.mjs';

const TREE = {
  'src/a.ts': [
    "import { x } from './x';", // 1
    '// TODO: fix the parser', // 2
    'const a = 1;', // 3
    'const b = 2;', // 4
    '// todo lowercase', // 5
    'export { a, b };', // 6
    '',
  ].join('\n'),
  'src/b.js': ['function f() {', '  return 1; // TODO remove', '}', ''].join('\n'),
  'src/nested/c.ts': "const c = 'no markers here';\n",
  'docs/readme.md': '# Readme\nTODO write docs\n',
  'vendor/lib.ts': '// TODO vendored\n',
  'README.md': 'Project\nToDo mixed case\nnaïve café\n',
};

async function grepRepo(prefix = 'grep') {
  const repo = await freshRepo(prefix);
  const c1 = await commit(repo, TREE, { message: 'tree' });
  return { repo, c1 };
}

/** { path: [[line_number, type, text], ...] } in path order. */
function flatten(res) {
  const out = {};
  for (const m of res.matches) {
    assert.equal(typeof m.path, 'string');
    assert.ok(!(m.path in out), `path ${m.path} listed once`);
    out[m.path] = m.lines.map((l) => [l.lineNumber, l.type, l.text]);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function assertGrepShape(res, label) {
  assert.equal(typeof res.query.pattern, 'string', `${label}: query.pattern`);
  assert.equal(typeof res.query.caseSensitive, 'boolean', `${label}: query.case_sensitive`);
  assert.equal(typeof res.repo.ref, 'string', `${label}: repo.ref`);
  assert.match(res.repo.commit, SHA_RE, `${label}: repo.commit`);
  assert.equal(typeof res.hasMore, 'boolean', `${label}: has_more`);
  assert.ok(Array.isArray(res.matches), `${label}: matches`);
  for (const m of res.matches) {
    assert.ok(m.lines.length > 0, `${label}: ${m.path} has lines`);
    let prev = 0;
    for (const l of m.lines) {
      assert.equal(typeof l.lineNumber, 'number');
      assert.ok(l.lineNumber > prev, `${label}: ${m.path} lines ascend (${l.lineNumber} after ${prev})`);
      prev = l.lineNumber;
      assert.ok(l.type === 'match' || l.type === 'context', `${label}: type ${l.type}`);
      assert.ok(!l.text.includes('\n'), `${label}: text without newline`);
    }
    assert.ok(m.lines.some((l) => l.type === 'match'), `${label}: ${m.path} has a match line`);
  }
}

test('grep: matching lines with line numbers, defaults echoed', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await grepRepo();
  const res = await repo.grep({ query: { pattern: 'TODO' } });
  assertGrepShape(res, 'TODO');
  assert.deepEqual(res.query, { pattern: 'TODO', caseSensitive: true }, 'case_sensitive defaults to true and is echoed');
  assert.deepEqual(res.repo, { ref: 'main', commit: c1.commitSha }, 'repo.ref = default branch, repo.commit = its tip');
  assert.equal(res.hasMore, false);
  assert.equal(res.nextCursor, undefined);
  assert.deepEqual(flatten(res), {
    'docs/readme.md': [[2, 'match', 'TODO write docs']],
    'src/a.ts': [[2, 'match', '// TODO: fix the parser']],
    'src/b.js': [[2, 'match', '  return 1; // TODO remove']],
    'vendor/lib.ts': [[1, 'match', '// TODO vendored']],
  });

  // Explicit case_sensitive:true is echoed too.
  const explicit = await repo.grep({ query: { pattern: 'TODO', caseSensitive: true } });
  assert.equal(explicit.query.caseSensitive, true);
  assert.deepEqual(flatten(explicit), flatten(res));
});

test('grep: RE2 syntax, several matches per file', { timeout: T_SHORT }, async () => {
  const { repo } = await grepRepo();
  const res = await repo.grep({ query: { pattern: '^const [ab] = \\d;$' } });
  assertGrepShape(res, 're2');
  assert.equal(res.query.pattern, '^const [ab] = \\d;$', 'pattern echoed as sent');
  assert.deepEqual(flatten(res), {
    'src/a.ts': [
      [3, 'match', 'const a = 1;'],
      [4, 'match', 'const b = 2;'],
    ],
  });

  const alt = await repo.grep({ query: { pattern: '\\bTODO\\b(:| w)' } });
  assert.deepEqual(flatten(alt), {
    'docs/readme.md': [[2, 'match', 'TODO write docs']],
    'src/a.ts': [[2, 'match', '// TODO: fix the parser']],
  });

  // Inline flag (?i) is RE2 syntax for case-insensitivity.
  const inline = await repo.grep({ query: { pattern: '(?i)^todo' } });
  assert.deepEqual(flatten(inline), {
    'README.md': [[2, 'match', 'ToDo mixed case']],
    'docs/readme.md': [[2, 'match', 'TODO write docs']],
  });
});

test('grep: case-insensitive search', { timeout: T_SHORT }, async () => {
  const { repo } = await grepRepo();
  const res = await repo.grep({ query: { pattern: 'todo', caseSensitive: false } });
  assertGrepShape(res, 'todo -i');
  assert.deepEqual(res.query, { pattern: 'todo', caseSensitive: false }, 'case_sensitive:false echoed');
  assert.deepEqual(flatten(res), {
    'README.md': [[2, 'match', 'ToDo mixed case']],
    'docs/readme.md': [[2, 'match', 'TODO write docs']],
    'src/a.ts': [
      [2, 'match', '// TODO: fix the parser'],
      [5, 'match', '// todo lowercase'],
    ],
    'src/b.js': [[2, 'match', '  return 1; // TODO remove']],
    'vendor/lib.ts': [[1, 'match', '// TODO vendored']],
  });

  // Case-sensitive lowercase finds only the lowercase line.
  const cs = await repo.grep({ query: { pattern: 'todo' } });
  assert.deepEqual(flatten(cs), { 'src/a.ts': [[5, 'match', '// todo lowercase']] });

  // Non-ASCII text folds too.
  const uni = await repo.grep({ query: { pattern: 'CAFÉ', caseSensitive: false } });
  assert.deepEqual(flatten(uni), { 'README.md': [[3, 'match', 'naïve café']] });
});

test('grep: context lines before and after', { timeout: T_SHORT }, async () => {
  const { repo } = await grepRepo();
  const res = await repo.grep({ query: { pattern: 'TODO: fix' }, context: { before: 1, after: 2 } });
  assertGrepShape(res, 'context');
  assert.deepEqual(flatten(res), {
    'src/a.ts': [
      [1, 'context', "import { x } from './x';"],
      [2, 'match', '// TODO: fix the parser'],
      [3, 'context', 'const a = 1;'],
      [4, 'context', 'const b = 2;'],
    ],
  });

  // Context is clipped at the file boundaries.
  const edges = await repo.grep({ query: { pattern: 'TODO remove' }, context: { before: 5, after: 5 } });
  assert.deepEqual(flatten(edges), {
    'src/b.js': [
      [1, 'context', 'function f() {'],
      [2, 'match', '  return 1; // TODO remove'],
      [3, 'context', '}'],
    ],
  });

  // Overlapping context windows do not repeat lines; adjacent matches stay matches.
  const overlap = await repo.grep({ query: { pattern: '^const' }, paths: ['src/a.ts'], context: { before: 1, after: 1 } });
  assert.deepEqual(flatten(overlap), {
    'src/a.ts': [
      [2, 'context', '// TODO: fix the parser'],
      [3, 'match', 'const a = 1;'],
      [4, 'match', 'const b = 2;'],
      [5, 'context', '// todo lowercase'],
    ],
  });

  // Only "after".
  const after = await repo.grep({ query: { pattern: 'lowercase' }, context: { after: 1 } });
  assert.deepEqual(flatten(after), {
    'src/a.ts': [
      [5, 'match', '// todo lowercase'],
      [6, 'context', 'export { a, b };'],
    ],
  });

  // Empty context object = no context.
  const none = await repo.grep({ query: { pattern: 'lowercase' }, context: {} });
  assert.deepEqual(flatten(none), { 'src/a.ts': [[5, 'match', '// todo lowercase']] });
});

test('grep: include/exclude globs, extension filters, paths', { timeout: T_SHORT }, async () => {
  const { repo } = await grepRepo();
  const q = { pattern: 'todo', caseSensitive: false };
  const paths = async (opts) => Object.keys(flatten(await repo.grep({ query: q, ...opts })));

  assert.deepEqual(await paths({ fileFilters: { includeGlobs: ['**/*.md'] } }), ['README.md', 'docs/readme.md']);
  assert.deepEqual(await paths({ fileFilters: { includeGlobs: ['docs/**'] } }), ['docs/readme.md']);
  assert.deepEqual(await paths({ fileFilters: { includeGlobs: ['src/**', 'vendor/**'] } }), ['src/a.ts', 'src/b.js', 'vendor/lib.ts']);
  assert.deepEqual(await paths({ fileFilters: { excludeGlobs: ['vendor/**'] } }), ['README.md', 'docs/readme.md', 'src/a.ts', 'src/b.js']);
  assert.deepEqual(
    await paths({ fileFilters: { excludeGlobs: ['**/*.md', 'vendor/**'] } }),
    ['src/a.ts', 'src/b.js'],
  );
  assert.deepEqual(
    await paths({ fileFilters: { includeGlobs: ['src/**'], excludeGlobs: ['**/*.js'] } }),
    ['src/a.ts'],
    'include then exclude',
  );
  assert.deepEqual(await paths({ fileFilters: { extensionFilters: ['.ts'] } }), ['src/a.ts', 'vendor/lib.ts']);
  assert.deepEqual(await paths({ fileFilters: { extensionFilters: ['.js', '.md'] } }), ['README.md', 'docs/readme.md', 'src/b.js']);
  assert.deepEqual(
    await paths({ fileFilters: { extensionFilters: ['.ts'], excludeGlobs: ['vendor/**'] } }),
    ['src/a.ts'],
  );
  assert.deepEqual(await paths({ fileFilters: {} }), ['README.md', 'docs/readme.md', 'src/a.ts', 'src/b.js', 'vendor/lib.ts'], 'empty file_filters');

  // paths: prefixes to search within.
  assert.deepEqual(await paths({ paths: ['src'] }), ['src/a.ts', 'src/b.js']);
  assert.deepEqual(await paths({ paths: ['docs', 'vendor'] }), ['docs/readme.md', 'vendor/lib.ts']);
  assert.deepEqual(await paths({ paths: ['src/b.js'] }), ['src/b.js'], 'a file path');
  assert.deepEqual(await paths({ paths: ['src'], fileFilters: { extensionFilters: ['.ts'] } }), ['src/a.ts']);
  assert.deepEqual(await paths({ paths: ['nowhere'] }), [], 'a path that does not exist matches nothing');

  // Lines are unaffected by the filters.
  const onlyDocs = await repo.grep({ query: q, paths: ['docs'] });
  assert.deepEqual(flatten(onlyDocs), { 'docs/readme.md': [[2, 'match', 'TODO write docs']] });
});

test('grep: maxMatchesPerFile and maxLines limits', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('grep-limits');
  const many = Array.from({ length: 30 }, (_, i) => `hit ${i + 1}`).join('\n') + '\n';
  await commit(repo, { 'a.txt': many, 'b.txt': many, 'c.txt': 'hit once\n' });

  const perFile = await repo.grep({ query: { pattern: '^hit' }, limits: { maxMatchesPerFile: 3 } });
  assertGrepShape(perFile, 'maxMatchesPerFile');
  assert.deepEqual(flatten(perFile), {
    'a.txt': [
      [1, 'match', 'hit 1'],
      [2, 'match', 'hit 2'],
      [3, 'match', 'hit 3'],
    ],
    'b.txt': [
      [1, 'match', 'hit 1'],
      [2, 'match', 'hit 2'],
      [3, 'match', 'hit 3'],
    ],
    'c.txt': [[1, 'match', 'hit once']],
  });

  // Default limits return every line.
  const all = await repo.grep({ query: { pattern: '^hit' } });
  assert.equal(flatten(all)['a.txt'].length, 30);
  assert.deepEqual(
    flatten(all)['a.txt'].map(([n]) => n),
    Array.from({ length: 30 }, (_, i) => i + 1),
  );

  // maxLines caps the number of lines in a response.
  const capped = await repo.grep({ query: { pattern: '^hit' }, limits: { maxLines: 10 } });
  assertGrepShape(capped, 'maxLines');
  const total = capped.matches.reduce((n, m) => n + m.lines.length, 0);
  assert.ok(total > 0 && total <= 10, `maxLines 10: got ${total} lines`);
  // What is returned is a prefix of each file's real matches.
  for (const [path, lines] of Object.entries(flatten(capped))) {
    const want = flatten(all)[path].slice(0, lines.length);
    assert.deepEqual(lines, want, `${path}: capped lines are the first matches`);
  }

  // Context lines count towards maxLines too.
  const window = [
    [13, 'context', 'hit 13'],
    [14, 'context', 'hit 14'],
    [15, 'match', 'hit 15'],
    [16, 'context', 'hit 16'],
    [17, 'context', 'hit 17'],
  ];
  const ctxAll = await repo.grep({ query: { pattern: 'hit 15$' }, context: { before: 2, after: 2 } });
  assert.deepEqual(flatten(ctxAll), { 'a.txt': window, 'b.txt': window });
  const ctx = await repo.grep({ query: { pattern: 'hit 15$' }, context: { before: 2, after: 2 }, limits: { maxLines: 5 } });
  const ctxLines = ctx.matches.reduce((n, m) => n + m.lines.length, 0);
  assert.ok(ctxLines > 0 && ctxLines <= 5, `maxLines 5 with context: got ${ctxLines} lines`);
  assert.deepEqual(ctx.matches[0].lines.map((l) => [l.lineNumber, l.type, l.text]), window, 'first file whole');

  // Both limits together: every file's per-file cap holds and the total stays under maxLines.
  const both = await repo.grep({ query: { pattern: '^hit' }, limits: { maxLines: 100, maxMatchesPerFile: 2 } });
  assert.deepEqual(
    Object.fromEntries(Object.entries(flatten(both)).map(([p, l]) => [p, l.length])),
    { 'a.txt': 2, 'b.txt': 2, 'c.txt': 1 },
  );
});

test('grep: pagination walks every file exactly once', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('grep-pages');
  const files = {};
  const expected = {};
  for (let i = 0; i < 13; i++) {
    const name = `p/f${String(i).padStart(2, '0')}.txt`;
    files[name] = `header\nneedle ${i}\nfooter\n`;
    expected[name] = [[2, 'match', `needle ${i}`]];
  }
  files['p/none.txt'] = 'nothing here\n';
  const c1 = await commit(repo, files);

  const seen = [];
  const collected = {};
  let cursor;
  let pages = 0;
  for (; pages < 20; pages++) {
    const res = await repo.grep({
      query: { pattern: 'needle' },
      pagination: { limit: 5, ...(cursor ? { cursor } : {}) },
    });
    assertGrepShape(res, `page ${pages}`);
    assert.equal(res.repo.commit, c1.commitSha);
    assert.ok(res.matches.length <= 5, `page ${pages} respects limit (${res.matches.length})`);
    for (const m of res.matches) {
      seen.push(m.path);
      collected[m.path] = m.lines.map((l) => [l.lineNumber, l.type, l.text]);
    }
    if (!res.hasMore) {
      assert.equal(res.nextCursor, undefined, 'no next_cursor on the last page');
      break;
    }
    assert.equal(res.matches.length, 5, 'a page before the last is full');
    assert.ok(typeof res.nextCursor === 'string' && res.nextCursor !== '', 'has_more requires next_cursor');
    cursor = res.nextCursor;
  }
  assert.equal(pages + 1, 3, '13 files at 5 per page = 3 pages');
  assert.equal(new Set(seen).size, seen.length, `no duplicates across pages: ${seen.join(', ')}`);
  assert.deepEqual(Object.keys(collected).sort(), Object.keys(expected).sort());
  assert.deepEqual(collected, expected);

  // A page limit of 1 also walks everything.
  const one = [];
  cursor = undefined;
  for (let i = 0; i < 30; i++) {
    const res = await repo.grep({ query: { pattern: 'needle' }, pagination: { limit: 1, ...(cursor ? { cursor } : {}) } });
    one.push(...res.matches.map((m) => m.path));
    if (!res.hasMore) break;
    cursor = res.nextCursor;
  }
  assert.deepEqual([...one].sort(), Object.keys(expected).sort());
  assert.equal(new Set(one).size, one.length);

  // maxLines also splits pages: walking them with the cursor still returns
  // every file once, whole (3 lines each with context, 5 lines per page).
  const ctxWant = Object.fromEntries(
    Object.keys(expected).map((name) => {
      const i = Number(name.slice(3, 5));
      return [name, [[1, 'context', 'header'], [2, 'match', `needle ${i}`], [3, 'context', 'footer']]];
    }),
  );
  const byLines = {};
  cursor = undefined;
  let linePages = 0;
  for (; linePages < 30; linePages++) {
    const res = await repo.grep({
      query: { pattern: 'needle' },
      context: { before: 1, after: 1 },
      limits: { maxLines: 5 },
      ...(cursor ? { pagination: { cursor } } : {}),
    });
    const n = res.matches.reduce((acc, m) => acc + m.lines.length, 0);
    assert.ok(n <= 5, `maxLines page ${linePages}: ${n} lines`);
    for (const m of res.matches) {
      assert.ok(!(m.path in byLines), `${m.path} returned twice`);
      byLines[m.path] = m.lines.map((l) => [l.lineNumber, l.type, l.text]);
    }
    if (!res.hasMore) break;
    assert.ok(res.nextCursor, 'has_more requires next_cursor');
    cursor = res.nextCursor;
  }
  assert.ok(linePages >= 6, `13 files of 3 lines at 5 lines per page need 7 pages, got ${linePages + 1}`);
  assert.deepEqual(byLines, ctxWant);

  // Empty pagination object = default page (everything fits).
  const whole = await repo.grep({ query: { pattern: 'needle' }, pagination: {} });
  assert.equal(whole.matches.length, 13);
  assert.equal(whole.hasMore, false);

  // A malformed cursor → 400.
  await expectApiError(
    repo.grep({ query: { pattern: 'needle' }, pagination: { cursor: '%%%not-a-cursor%%%' } }),
    400,
    'malformed cursor',
  );
});

test('grep: ref / commit selection', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await grepRepo();
  const f1 = await commit(repo, { 'feature.txt': 'TODO on feature\n' }, { targetBranch: 'feature', baseBranch: 'main' });
  const c2 = await commit(repo, { 'new.txt': 'TODO new file\n', 'vendor/lib.ts': null });

  const head = await repo.grep({ query: { pattern: 'TODO' } });
  assert.deepEqual(head.repo, { ref: 'main', commit: c2.commitSha });
  assert.deepEqual(Object.keys(flatten(head)), ['docs/readme.md', 'new.txt', 'src/a.ts', 'src/b.js']);

  const old = await repo.grep({ query: { pattern: 'TODO' }, ref: c1.commitSha });
  assert.deepEqual(old.repo, { ref: c1.commitSha, commit: c1.commitSha }, 'ref echoed, commit resolved');
  assert.deepEqual(Object.keys(flatten(old)), ['docs/readme.md', 'src/a.ts', 'src/b.js', 'vendor/lib.ts']);

  const feature = await repo.grep({ query: { pattern: 'TODO' }, ref: 'feature' });
  assert.deepEqual(feature.repo, { ref: 'feature', commit: f1.commitSha });
  assert.deepEqual(Object.keys(flatten(feature)), ['docs/readme.md', 'feature.txt', 'src/a.ts', 'src/b.js', 'vendor/lib.ts']);

  const explicitMain = await repo.grep({ query: { pattern: 'TODO' }, ref: 'main' });
  assert.deepEqual(explicitMain.repo, { ref: 'main', commit: c2.commitSha });

  // Legacy `rev` option maps to the same request.
  const rev = await repo.grep({ query: { pattern: 'TODO' }, rev: c1.commitSha });
  assert.equal(rev.repo.commit, c1.commitSha);

  await expectApiError(repo.grep({ query: { pattern: 'TODO' }, ref: 'no-such-branch' }), 404, 'unknown ref');
});

test('grep: invalid regex → ApiError 400; no match → empty matches', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await grepRepo();
  for (const pattern of ['(', 'a[', '[z-a]', 'x{2,1}', 'a(?=b)', '(a)\\1', '*x']) {
    await expectApiError(repo.grep({ query: { pattern } }), 400, `pattern ${JSON.stringify(pattern)}`);
  }

  const none = await repo.grep({ query: { pattern: 'definitely-not-present-anywhere' } });
  assertGrepShape(none, 'no match');
  assert.deepEqual(none.matches, []);
  assert.equal(none.hasMore, false);
  assert.equal(none.nextCursor, undefined);
  assert.deepEqual(none.repo, { ref: 'main', commit: c1.commitSha });
  assert.deepEqual(none.query, { pattern: 'definitely-not-present-anywhere', caseSensitive: true });

  // Case matters by default: the lowercase form of an uppercase-only word finds nothing.
  const cs = await repo.grep({ query: { pattern: 'vendored TODO|PARSER' } });
  assert.deepEqual(cs.matches, []);

  // The SDK refuses a blank pattern before sending.
  await assert.rejects(repo.grep({ query: { pattern: '   ' } }), /grep query.pattern is required/);
});

test('grep: ephemeral branches', { timeout: T_SHORT }, async () => {
  const { repo, c1 } = await grepRepo('grep-eph');
  const e1 = await commit(repo, { 'scratch.txt': 'TODO ephemeral only\n' }, { targetBranch: 'scratch', baseBranch: 'main', ephemeral: true });

  const eph = await repo.grep({ query: { pattern: 'ephemeral only' }, ref: 'scratch', ephemeral: true });
  assert.deepEqual(eph.repo, { ref: 'scratch', commit: e1.commitSha });
  assert.deepEqual(flatten(eph), { 'scratch.txt': [[1, 'match', 'TODO ephemeral only']] });

  await expectApiError(
    repo.grep({ query: { pattern: 'TODO' }, ref: 'scratch' }),
    404,
    'ephemeral branch without ephemeral:true',
  );

  // Same name in both namespaces.
  const eMain = await commit(repo, { 'only-eph-main.txt': 'TODO eph main\n' }, { targetBranch: 'main', baseBranch: 'main', ephemeral: true });
  const normal = await repo.grep({ query: { pattern: 'eph main' }, ref: 'main', ephemeral: false });
  assert.equal(normal.repo.commit, c1.commitSha);
  assert.deepEqual(normal.matches, []);
  const ephMain = await repo.grep({ query: { pattern: 'eph main' }, ref: 'main', ephemeral: true });
  assert.equal(ephMain.repo.commit, eMain.commitSha);
  assert.deepEqual(flatten(ephMain), { 'only-eph-main.txt': [[1, 'match', 'TODO eph main']] });
});

wireConformanceTest();
