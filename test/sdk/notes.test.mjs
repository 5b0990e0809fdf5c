// §5.15 getNote / createNote / appendNote / deleteNote / listNotesRefs (Q13, Q21).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  RefUpdateError,
  SHA_RE,
  T_SHORT,
  allBranches,
  commit,
  expectApiError,
  expectRefUpdateError,
  freshRepo,
  rejection,
  wireConformanceTest,
} from './helpers.mjs';

const NOTE_AUTHOR = Object.freeze({ name: 'Note Author', email: 'notes@sdk.example' });

async function commits(prefix = 'notes', n = 2) {
  const repo = await freshRepo(prefix);
  const shas = [];
  for (let i = 0; i < n; i++) {
    shas.push((await commit(repo, { [`f${i}.txt`]: `${i}\n` }, { message: `c${i + 1}` })).commitSha);
  }
  return { repo, shas };
}

/** Shape of a successful note write (§5.15.4). */
function assertWriteOk(res, { sha, targetRef = 'refs/notes/commits', baseCommit }, label) {
  assert.equal(res.sha, sha, `${label}: sha`);
  assert.equal(res.targetRef, targetRef, `${label}: target_ref`);
  assert.match(res.newRefSha, SHA_RE, `${label}: new_ref_sha`);
  assert.equal(res.baseCommit, baseCommit, `${label}: base_commit (omitted when the ref did not exist)`);
  assert.notEqual(res.newRefSha, baseCommit, `${label}: the notes ref moved`);
  assert.equal(res.result.success, true, `${label}: result.success`);
  assert.equal(res.result.status, 'ok', `${label}: result.status`);
  if (res.result.message !== undefined) assert.equal(typeof res.result.message, 'string');
}

test('createNote / getNote / appendNote / deleteNote round trip with exact stored text', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-basic');
  const [c1] = shas;

  const created = await repo.createNote({ sha: c1, note: 'first note' });
  assertWriteOk(created, { sha: c1, baseCommit: undefined }, 'create');

  const got = await repo.getNote({ sha: c1 });
  assert.equal(got.sha, c1);
  assert.equal(got.refSha, created.newRefSha, 'ref_sha = the notes ref commit');
  assert.equal(got.note.replace(/\n$/, ''), 'first note', `note text: ${JSON.stringify(got.note)}`);

  // Q13: existing note (trailing newlines removed) + "\n\n" + new text + "\n".
  const appended = await repo.appendNote({ sha: c1, note: 'second' });
  assertWriteOk(appended, { sha: c1, baseCommit: created.newRefSha }, 'append');
  const afterAppend = await repo.getNote({ sha: c1 });
  assert.equal(afterAppend.note, 'first note\n\nsecond\n', 'append separator (Q13)');
  assert.equal(afterAppend.refSha, appended.newRefSha);

  // The SDK trims; the server inserts the separator itself. Multi-line text is kept.
  const third = await repo.appendNote({ sha: c1, note: '\n\n  third line a\nthird line b  \n\n' });
  assertWriteOk(third, { sha: c1, baseCommit: appended.newRefSha }, 'append 2');
  assert.equal((await repo.getNote({ sha: c1 })).note, 'first note\n\nsecond\n\nthird line a\nthird line b\n');

  const removed = await repo.deleteNote({ sha: c1 });
  assertWriteOk(removed, { sha: c1, baseCommit: third.newRefSha }, 'delete');
  await expectApiError(repo.getNote({ sha: c1 }), 404, 'getNote after delete');
  await expectApiError(repo.deleteNote({ sha: c1 }), 404, 'deleteNote of a missing note');

  // Add after delete works again and builds on the delete commit.
  const readd = await repo.createNote({ sha: c1, note: 'again' });
  assertWriteOk(readd, { sha: c1, baseCommit: removed.newRefSha }, 're-add');
  assert.equal((await repo.getNote({ sha: c1 })).note.replace(/\n$/, ''), 'again');

  // Notes are not branches.
  assert.deepEqual((await allBranches(repo)).map((b) => b.name), ['main']);
});

test('appendNote on an object without a note creates it', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-append-new');
  const res = await repo.appendNote({ sha: shas[0], note: 'only text' });
  assertWriteOk(res, { sha: shas[0], baseCommit: undefined }, 'append as add');
  assert.equal((await repo.getNote({ sha: shas[0] })).note.replace(/\n$/, ''), 'only text');
  // Appending to a note on another object leaves the first alone.
  await repo.appendNote({ sha: shas[1], note: 'other' });
  assert.equal((await repo.getNote({ sha: shas[0] })).note.replace(/\n$/, ''), 'only text');
  assert.equal((await repo.getNote({ sha: shas[1] })).note.replace(/\n$/, ''), 'other');
});

test('notes commits: author identity and history', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-author');
  const first = await repo.createNote({ sha: shas[0], note: 'by author', author: NOTE_AUTHOR });
  const second = await repo.createNote({ sha: shas[1], note: 'second object', author: NOTE_AUTHOR });
  assert.equal(second.baseCommit, first.newRefSha);

  const { commit: info } = await repo.getCommit({ sha: second.newRefSha });
  assert.equal(info.sha, second.newRefSha);
  assert.equal(info.authorName, NOTE_AUTHOR.name, 'notes commit author = body author');
  assert.equal(info.authorEmail, NOTE_AUTHOR.email);
  assert.deepEqual(info.parentShas, [first.newRefSha], 'notes commits chain');
  const { commit: root } = await repo.getCommit({ sha: first.newRefSha });
  assert.deepEqual(root.parentShas, [], 'the first notes commit has no parent');

  // Both notes readable from the same ref commit.
  assert.equal((await repo.getNote({ sha: shas[0] })).refSha, second.newRefSha);
  assert.equal((await repo.getNote({ sha: shas[1] })).refSha, second.newRefSha);
});

test('createNote twice → RefUpdateError with status conflict (§5.15.4)', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-conflict');
  const first = await repo.createNote({ sha: shas[0], note: 'original' });
  const err = await expectRefUpdateError(
    repo.createNote({ sha: shas[0], note: 'replacement' }),
    'conflict',
    'second createNote',
  );
  assert.equal(err.status, 'conflict', 'result.status conflict');
  assert.ok(err instanceof RefUpdateError);
  if (err.refUpdate?.branch !== undefined) assert.equal(err.refUpdate.branch, 'refs/notes/commits');
  if (err.refUpdate?.oldSha !== undefined) assert.equal(err.refUpdate.oldSha, first.newRefSha);
  const note = await repo.getNote({ sha: shas[0] });
  assert.equal(note.note.replace(/\n$/, ''), 'original', 'note unchanged');
  assert.equal(note.refSha, first.newRefSha, 'ref unchanged');
});

test('expectedRefSha guards every note write → precondition_failed on mismatch', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-cas', 3);
  const [c1, c2, c3] = shas;
  const first = await repo.createNote({ sha: c1, note: 'one' });

  // Matching guard succeeds.
  const second = await repo.createNote({ sha: c2, note: 'two', expectedRefSha: first.newRefSha });
  assertWriteOk(second, { sha: c2, baseCommit: first.newRefSha }, 'guarded create');

  // Stale guard fails for add, append and delete; nothing moves.
  for (const [label, op] of [
    ['createNote', () => repo.createNote({ sha: c3, note: 'three', expectedRefSha: first.newRefSha })],
    ['appendNote', () => repo.appendNote({ sha: c1, note: 'more', expectedRefSha: first.newRefSha })],
    ['deleteNote', () => repo.deleteNote({ sha: c1, expectedRefSha: first.newRefSha })],
  ]) {
    const err = await expectRefUpdateError(op, 'precondition_failed', `${label} with a stale expectedRefSha`);
    assert.equal(err.status, 'precondition_failed');
    if (err.refUpdate?.oldSha !== undefined) assert.equal(err.refUpdate.oldSha, second.newRefSha, `${label}: base_commit = actual`);
  }
  assert.equal((await repo.getNote({ sha: c1 })).refSha, second.newRefSha, 'ref unchanged');
  assert.equal((await repo.getNote({ sha: c1 })).note.replace(/\n$/, ''), 'one');
  await expectApiError(repo.getNote({ sha: c3 }), 404, 'no note created by the failed add');

  // A guard against a notes ref that does not exist yet never matches.
  await expectRefUpdateError(
    repo.createNote({ sha: c1, note: 'x', ref: 'fresh', expectedRefSha: second.newRefSha }),
    'precondition_failed',
    'guard on a missing ref',
  );
  await expectApiError(repo.getNote({ sha: c1, ref: 'fresh' }), 404, 'missing ref still missing');

  // Guarded append and delete with the current value succeed.
  const app = await repo.appendNote({ sha: c1, note: 'more', expectedRefSha: second.newRefSha });
  assertWriteOk(app, { sha: c1, baseCommit: second.newRefSha }, 'guarded append');
  const del = await repo.deleteNote({ sha: c2, expectedRefSha: app.newRefSha });
  assertWriteOk(del, { sha: c2, baseCommit: app.newRefSha }, 'guarded delete');
});

test('named notes refs: bare, notes/ and refs/notes/ forms are one ref', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-named');
  const [c1] = shas;
  const res = await repo.createNote({ sha: c1, note: 'review note', ref: 'reviews' });
  assertWriteOk(res, { sha: c1, targetRef: 'refs/notes/reviews', baseCommit: undefined }, 'create in reviews');

  for (const ref of ['reviews', 'notes/reviews', 'refs/notes/reviews']) {
    const got = await repo.getNote({ sha: c1, ref });
    assert.equal(got.note.replace(/\n$/, ''), 'review note', `ref ${ref}`);
    assert.equal(got.refSha, res.newRefSha, `ref ${ref}: ref_sha`);
  }
  // The default ref has no note.
  await expectApiError(repo.getNote({ sha: c1 }), 404, 'default ref has no note');

  // Independent notes per ref on the same object.
  const dflt = await repo.createNote({ sha: c1, note: 'default note' });
  assertWriteOk(dflt, { sha: c1, baseCommit: undefined }, 'create in commits');
  const app = await repo.appendNote({ sha: c1, note: 'more review', ref: 'refs/notes/reviews' });
  assertWriteOk(app, { sha: c1, targetRef: 'refs/notes/reviews', baseCommit: res.newRefSha }, 'append in reviews');
  assert.equal((await repo.getNote({ sha: c1, ref: 'reviews' })).note, 'review note\n\nmore review\n');
  assert.equal((await repo.getNote({ sha: c1 })).note.replace(/\n$/, ''), 'default note');

  const del = await repo.deleteNote({ sha: c1, ref: 'notes/reviews' });
  assertWriteOk(del, { sha: c1, targetRef: 'refs/notes/reviews', baseCommit: app.newRefSha }, 'delete in reviews');
  await expectApiError(repo.getNote({ sha: c1, ref: 'reviews' }), 404, 'deleted in reviews');
  assert.equal((await repo.getNote({ sha: c1 })).note.replace(/\n$/, ''), 'default note', 'default ref untouched');

  // Refs outside refs/notes/ → 400.
  for (const ref of ['refs/heads/main', 'refs/tags/x', 'bad..ref']) {
    await expectApiError(repo.createNote({ sha: c1, note: 'x', ref }), 400, `createNote ref ${ref}`);
    await expectApiError(repo.getNote({ sha: c1, ref }), 400, `getNote ref ${ref}`);
  }
});

test('listNotesRefs: all refs, prefix filter, paging', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-refs');
  const [c1, c2] = shas;

  const none = await repo.listNotesRefs();
  assert.deepEqual(none.refs, []);
  assert.equal(none.hasMore, false);
  assert.equal(none.prefix, 'refs/notes/');

  const heads = {};
  heads['refs/notes/commits'] = (await repo.createNote({ sha: c1, note: 'd' })).newRefSha;
  heads['refs/notes/reviews/alice'] = (await repo.createNote({ sha: c1, note: 'a', ref: 'reviews/alice' })).newRefSha;
  heads['refs/notes/reviews/bob'] = (await repo.createNote({ sha: c1, note: 'b', ref: 'reviews/bob' })).newRefSha;
  heads['refs/notes/reviews/bob'] = (await repo.createNote({ sha: c2, note: 'b2', ref: 'reviews/bob' })).newRefSha;
  heads['refs/notes/other'] = (await repo.createNote({ sha: c2, note: 'o', ref: 'other' })).newRefSha;
  heads['refs/notes/reviewsx'] = (await repo.createNote({ sha: c2, note: 'x', ref: 'reviewsx' })).newRefSha;
  const names = Object.keys(heads).sort();

  const all = await repo.listNotesRefs();
  assert.equal(all.prefix, 'refs/notes/', 'default prefix');
  assert.equal(all.hasMore, false);
  assert.deepEqual(all.refs.map((r) => r.ref), names, 'every notes ref, by name');
  for (const r of all.refs) {
    assert.equal(r.sha, heads[r.ref], `${r.ref}: sha = notes ref commit`);
    assert.ok(typeof r.cursor === 'string' && r.cursor !== '', `${r.ref}: cursor`);
  }

  for (const prefix of ['reviews/', 'refs/notes/reviews/']) {
    const res = await repo.listNotesRefs({ prefix });
    assert.equal(res.prefix, 'refs/notes/reviews/', `prefix ${prefix} normalised`);
    assert.deepEqual(
      res.refs.map((r) => [r.ref, r.sha]),
      [
        ['refs/notes/reviews/alice', heads['refs/notes/reviews/alice']],
        ['refs/notes/reviews/bob', heads['refs/notes/reviews/bob']],
      ],
      `prefix ${prefix}`,
    );
  }
  const nothing = await repo.listNotesRefs({ prefix: 'nothing-here/' });
  assert.deepEqual(nothing.refs, []);
  assert.equal(nothing.prefix, 'refs/notes/nothing-here/');

  // Paging with limit 1 and the cursors.
  const walked = [];
  let cursor;
  for (let i = 0; i < 20; i++) {
    const page = await repo.listNotesRefs({ limit: 2, ...(cursor !== undefined ? { cursor } : {}) });
    assert.ok(page.refs.length <= 2);
    walked.push(...page.refs.map((r) => r.ref));
    if (!page.hasMore) {
      assert.equal(page.nextCursor, undefined);
      break;
    }
    assert.ok(page.nextCursor, 'has_more requires next_cursor');
    cursor = page.nextCursor;
  }
  assert.deepEqual(walked, names, 'pages cover every ref once, in order');

  // Per-item cursor resumes after that item.
  for (const [i, r] of all.refs.entries()) {
    const rest = await repo.listNotesRefs({ cursor: r.cursor });
    assert.deepEqual(rest.refs.map((x) => x.ref), names.slice(i + 1), `after ${r.ref}`);
  }

  // An empty cursor is treated as absent.
  const emptyCursor = await repo.listNotesRefs({ cursor: '' });
  assert.deepEqual(emptyCursor.refs.map((r) => r.ref), names);

  // Prefix outside refs/notes/ → 400.
  await expectApiError(repo.listNotesRefs({ prefix: 'refs/heads/' }), 400, 'prefix outside refs/notes/');
});

test('getNote without a note → 404; note writes on unknown objects → 404', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-404');
  const [c1, c2] = shas;
  await expectApiError(repo.getNote({ sha: c1 }), 404, 'no notes ref yet');
  await repo.createNote({ sha: c1, note: 'n' });
  await expectApiError(repo.getNote({ sha: c2 }), 404, 'object without a note');
  await expectApiError(repo.getNote({ sha: c1, ref: 'never-written' }), 404, 'notes ref does not exist');
  await expectApiError(repo.getNote({ sha: 'e'.repeat(40) }), 404, 'unknown object');
  await expectApiError(repo.createNote({ sha: 'e'.repeat(40), note: 'x' }), 404, 'createNote on unknown object');
  await expectApiError(repo.appendNote({ sha: 'e'.repeat(40), note: 'x' }), 404, 'appendNote on unknown object');
  await expectApiError(repo.deleteNote({ sha: c2 }), 404, 'deleteNote of an object without a note');

  // SDK-side validation.
  await assert.rejects(repo.createNote({ sha: c1, note: '   ' }), /createNote note is required/);
  await assert.rejects(repo.getNote({ sha: ' ' }), /getNote sha is required/);
});

test('refPolicies no-push on refs/notes/* → 403 denied by policy', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-policy');
  const [c1, c2] = shas;
  const base = await repo.createNote({ sha: c1, note: 'existing' });
  const noNotes = [{ pattern: 'refs/notes/*', ops: ['no-push'] }];

  for (const [label, op] of [
    ['createNote', () => repo.createNote({ sha: c2, note: 'x', refPolicies: noNotes })],
    ['appendNote', () => repo.appendNote({ sha: c1, note: 'x', refPolicies: noNotes })],
    ['deleteNote', () => repo.deleteNote({ sha: c1, refPolicies: noNotes })],
  ]) {
    const err = await rejection(op, label);
    if (err instanceof RefUpdateError) {
      assert.equal(err.reason, 'forbidden', `${label}: RefUpdateError reason`);
    } else {
      assert.equal(err?.name, 'ApiError', `${label}: ApiError or RefUpdateError(forbidden), got ${err}`);
      assert.equal(err.status, 403, `${label}: HTTP 403`);
    }
    assert.match(err.message, /denied by policy/, `${label}: message`);
  }
  const still = await repo.getNote({ sha: c1 });
  assert.equal(still.refSha, base.newRefSha, 'notes ref unchanged');
  assert.equal(still.note.replace(/\n$/, ''), 'existing');

  // A policy on another notes ref does not apply; first match wins.
  const reviewsOnly = [{ pattern: 'refs/notes/reviews', ops: ['no-push'] }];
  await repo.createNote({ sha: c2, note: 'allowed', refPolicies: reviewsOnly });
  await expectApiError(repo.createNote({ sha: c2, note: 'x', ref: 'reviews', refPolicies: reviewsOnly }), 403, 'reviews denied');
  const allowFirst = [
    { pattern: 'refs/notes/commits', ops: [] },
    { pattern: '*', ops: ['no-push'] },
  ];
  await repo.appendNote({ sha: c2, note: 'more', refPolicies: allowFirst });
  assert.equal((await repo.getNote({ sha: c2 })).note, 'allowed\n\nmore\n');
});

test('concurrent note writes on different objects all land', { timeout: T_SHORT }, async () => {
  const { repo, shas } = await commits('notes-concurrent', 5);
  const results = await Promise.all(shas.map((sha, i) => repo.createNote({ sha, note: `note ${i}` })));
  for (const r of results) assert.equal(r.result.success, true);
  const refShas = new Set();
  for (const [i, sha] of shas.entries()) {
    const got = await repo.getNote({ sha });
    assert.equal(got.note.replace(/\n$/, ''), `note ${i}`);
    refShas.add(got.refSha);
  }
  assert.equal(refShas.size, 1, 'one notes ref commit holds all notes');
  assert.equal(new Set(results.map((r) => r.newRefSha)).size, 5, 'each write made its own notes commit');
});

wireConformanceTest();
