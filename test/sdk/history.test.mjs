// §5.9 listCommits / getCommit.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTHOR,
  COMMITTER,
  RFC3339_RE,
  T_SHORT,
  allCommits,
  commit,
  expectApiError,
  freshRepo,
  wireConformanceTest,
} from './helpers.mjs';

async function linearHistory(n = 5) {
  const repo = await freshRepo('history');
  const results = [];
  for (let i = 1; i <= n; i++) {
    const files = { 'counter.txt': `${i}\n` };
    if (i === 2 || i === 4) files[`docs/page${i}.md`] = `page ${i}\n`;
    if (i === 3) files['docs/only.md'] = 'only\n';
    results.push(await commit(repo, files, { message: `commit ${i}` }));
  }
  return { repo, results };
}

test('listCommits: newest first with parent_shas and all fields', { timeout: T_SHORT }, async () => {
  const { repo, results } = await linearHistory(5);
  const res = await repo.listCommits();
  assert.equal(res.hasMore, false);
  assert.deepEqual(res.commits.map((c) => c.sha), results.map((r) => r.commitSha).reverse());
  res.commits.forEach((c, i) => {
    const n = 5 - i;
    assert.equal(c.message.trimEnd(), `commit ${n}`);
    assert.equal(c.authorName, AUTHOR.name);
    assert.equal(c.authorEmail, AUTHOR.email);
    assert.equal(c.committerName, AUTHOR.name);
    assert.equal(c.committerEmail, AUTHOR.email);
    assert.match(c.rawDate, RFC3339_RE);
    assert.ok(c.date instanceof Date && !Number.isNaN(c.date.getTime()));
    const expectedParents = n === 1 ? [] : [results[n - 2].commitSha];
    assert.deepEqual(c.parentShas, expectedParents, `parents of commit ${n}`);
    assert.equal(c.signature, undefined, 'list entries carry no signature');
  });
  // Dates are non-increasing.
  for (let i = 1; i < res.commits.length; i++) {
    assert.ok(res.commits[i - 1].date >= res.commits[i].date, 'newest first by date');
  }
});

test('listCommits: limit + cursor paging', { timeout: T_SHORT }, async () => {
  const { repo, results } = await linearHistory(5);
  const expected = results.map((r) => r.commitSha).reverse();

  const p1 = await repo.listCommits({ limit: 2 });
  assert.deepEqual(p1.commits.map((c) => c.sha), expected.slice(0, 2));
  assert.equal(p1.hasMore, true);
  assert.ok(p1.nextCursor, 'nextCursor present when hasMore');

  const p2 = await repo.listCommits({ limit: 2, cursor: p1.nextCursor });
  assert.deepEqual(p2.commits.map((c) => c.sha), expected.slice(2, 4));
  assert.equal(p2.hasMore, true);

  const p3 = await repo.listCommits({ limit: 2, cursor: p2.nextCursor });
  assert.deepEqual(p3.commits.map((c) => c.sha), expected.slice(4));
  assert.equal(p3.hasMore, false);

  // limit exactly equal to the number of commits.
  const exact = await repo.listCommits({ limit: 5 });
  assert.equal(exact.commits.length, 5);
  assert.equal(exact.hasMore, false, 'has_more false when nothing remains');

  // Cursor with an explicit branch param.
  const b1 = await repo.listCommits({ branch: 'main', limit: 3 });
  const b2 = await repo.listCommits({ branch: 'main', limit: 3, cursor: b1.nextCursor });
  assert.deepEqual([...b1.commits, ...b2.commits].map((c) => c.sha), expected);

  // limit above the cap is clamped, not rejected.
  const big = await repo.listCommits({ limit: 1000 });
  assert.deepEqual(big.commits.map((c) => c.sha), expected);
});

test('listCommits: path filter (file and directory)', { timeout: T_SHORT }, async () => {
  const { repo, results } = await linearHistory(5);
  const only = await repo.listCommits({ path: 'docs/only.md' });
  assert.deepEqual(only.commits.map((c) => c.sha), [results[2].commitSha]);

  const docs = await repo.listCommits({ path: 'docs' });
  assert.deepEqual(docs.commits.map((c) => c.sha), [results[3].commitSha, results[2].commitSha, results[1].commitSha]);

  const counter = await repo.listCommits({ path: 'counter.txt', limit: 2 });
  assert.deepEqual(counter.commits.map((c) => c.sha), [results[4].commitSha, results[3].commitSha]);
  assert.equal(counter.hasMore, true);

  const none = await repo.listCommits({ path: 'never/existed.txt' });
  assert.deepEqual(none.commits, []);
  assert.equal(none.hasMore, false);
});

test('listCommits: branch param and unknown branch → 404', { timeout: T_SHORT }, async () => {
  const { repo, results } = await linearHistory(3);
  const f1 = await commit(repo, { 'f.txt': 'f\n' }, { targetBranch: 'feature', baseBranch: 'main', message: 'feature 1' });
  const m4 = await commit(repo, { 'counter.txt': '4\n' }, { message: 'main 4' });

  const feature = await allCommits(repo, { branch: 'feature' });
  assert.deepEqual(feature.map((c) => c.sha), [f1.commitSha, ...results.map((r) => r.commitSha).reverse()]);
  const main = await allCommits(repo, { branch: 'main' });
  assert.deepEqual(main.map((c) => c.sha), [m4.commitSha, ...results.map((r) => r.commitSha).reverse()]);
  const dflt = await allCommits(repo);
  assert.deepEqual(dflt.map((c) => c.sha), main.map((c) => c.sha), 'no branch → default branch');

  // Any revision (SHA) is accepted.
  const fromSha = await repo.listCommits({ branch: results[1].commitSha });
  assert.deepEqual(fromSha.commits.map((c) => c.sha), [results[1].commitSha, results[0].commitSha]);

  await expectApiError(repo.listCommits({ branch: 'no-such-branch' }), 404, 'listCommits unknown branch');
});

test('listCommits on an empty repository', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('history-empty');
  let res;
  try {
    res = await repo.listCommits();
  } catch (err) {
    // §5.9.2: 200 with [] recommended; 404 survivable.
    assert.equal(err.status, 404, `unexpected error: ${err}`);
    return;
  }
  assert.deepEqual(res.commits, []);
  assert.equal(res.hasMore, false);
});

test('getCommit: fields, short sha / branch name, unknown → 404', { timeout: T_SHORT }, async () => {
  const repo = await freshRepo('getcommit');
  const c1 = await commit(repo, { 'a.txt': 'a\n' }, { message: 'first' });
  const c2 = await commit(repo, { 'a.txt': 'b\n' }, { message: 'Second\n\nwith body\nand lines', committer: COMMITTER });

  const { commit: info } = await repo.getCommit({ sha: c2.commitSha });
  assert.equal(info.sha, c2.commitSha);
  assert.deepEqual(info.parentShas, [c1.commitSha]);
  assert.equal(info.message.trimEnd(), 'Second\n\nwith body\nand lines');
  assert.equal(info.authorName, AUTHOR.name);
  assert.equal(info.authorEmail, AUTHOR.email);
  assert.equal(info.committerName, COMMITTER.name);
  assert.equal(info.committerEmail, COMMITTER.email);
  assert.match(info.rawDate, RFC3339_RE);
  assert.equal(info.signature, undefined);
  assert.equal(info.payload, undefined);

  // getCommit and listCommits agree.
  const listed = (await repo.listCommits()).commits[0];
  assert.deepEqual(info, listed);

  // Any resolvable revision.
  const short = await repo.getCommit({ sha: c1.commitSha.slice(0, 10) });
  assert.equal(short.commit.sha, c1.commitSha, 'short sha resolves to the full sha');
  const byBranch = await repo.getCommit({ sha: 'main' });
  assert.equal(byBranch.commit.sha, c2.commitSha, 'branch name resolves');

  await expectApiError(repo.getCommit({ sha: 'd'.repeat(40) }), 404, 'getCommit unknown sha');
});

wireConformanceTest();
