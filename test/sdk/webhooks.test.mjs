// Webhooks (API.md §7): Strata's deliveries pass the SDK's own
// validateWebhook. A Node HTTPS receiver on loopback (the suite's
// certificate; the server runs with --upstream-allow-private and
// --upstream-ca-file) collects deliveries of commits made through the SDK.
import assert from 'node:assert/strict';
import { createHmac, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { after, before, test } from 'node:test';

import { validateWebhook } from '@pierre/storage';

import { API_URL, ORG, KEY_PEM, T_LONG, ZERO_SHA, commit, freshRepo, wireConformanceTest } from './helpers.mjs';

const CERT = readFileSync(process.env.STRATA_TLS_CERT_FILE ?? '', 'utf8');
const KEY = readFileSync(process.env.STRATA_TLS_KEY_FILE ?? '', 'utf8');

// orgToken mints an organisation token (repo claim "org"): webhook
// management is not part of the SDK.
function orgToken(scopes = ['repo:write']) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64({ iss: ORG, sub: '@pierre/storage', repo: 'org', scopes, iat: now, exp: now + 600 })}`;
  const sig = sign('sha256', Buffer.from(input), { key: KEY_PEM, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

async function api(method, path, body, scopes) {
  const res = await fetch(`${API_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${orgToken(scopes)}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// The receiver keeps every delivery: raw body bytes and headers.
const deliveries = [];
let waiters = [];
let receiver;
let receiverURL;

before(async () => {
  receiver = createServer({ cert: CERT, key: KEY }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
      for (const w of waiters) w();
      waiters = [];
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverURL = `https://127.0.0.1:${receiver.address().port}/hooks/strata`;
});

after(() => receiver?.close());

async function waitFor(pred, label) {
  const deadline = Date.now() + 60_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}; have ${deliveries.length} deliveries`);
    await new Promise((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 1000);
    });
  }
}

test('webhooks: every delivery passes validateWebhook; tampered bodies and stale signatures do not', { timeout: T_LONG }, async () => {
  const repo = await freshRepo('webhook');
  const created = await api('POST', '/api/v1/webhooks', { url: receiverURL, events: ['push'], repo_id: repo.id });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { id, secret } = created.body;
  assert.match(id, /\S/);
  assert.match(secret, /\S/);
  assert.deepEqual(created.body.events, ['push']);

  const listed = await api('GET', '/api/v1/webhooks', undefined, ['org:read']);
  assert.equal(listed.status, 200);
  const mine = listed.body.webhooks.find((w) => w.id === id);
  assert.ok(mine, 'the new webhook is listed');
  assert.equal(mine.secret, undefined, 'listings never show the secret');

  const first = await commit(repo, { 'a.txt': 'one\n' }, { targetBranch: 'main' });
  const second = await commit(repo, { 'a.txt': 'two\n' }, { targetBranch: 'main' });
  const shas = [first.commitSha, second.commitSha];

  const ours = () => deliveries.filter((d) => JSON.parse(d.body.toString('utf8')).repository?.id === repo.id);
  await waitFor(() => ours().length >= 2, 'two push deliveries');

  const got = ours();
  for (const [i, d] of got.entries()) {
    const result = await validateWebhook(d.body.toString('utf8'), d.headers, secret);
    assert.equal(result.valid, true, `delivery ${i}: ${result.error}`);
    assert.equal(result.eventType, 'push');
    const p = result.payload;
    assert.equal(p.type, 'push');
    assert.equal(p.repository.id, repo.id);
    assert.equal(p.ref, 'refs/heads/main');
    assert.equal(p.before, i === 0 ? ZERO_SHA : shas[0]);
    assert.equal(p.after, shas[i]);
    assert.equal(p.customerId, ORG);
    assert.ok(p.pushedAt instanceof Date && !Number.isNaN(p.pushedAt.getTime()));
    // The bytes as received also validate (the SDK accepts Uint8Array).
    assert.equal((await validateWebhook(new Uint8Array(d.body), d.headers, secret)).valid, true);
    // The optional newer fields are present.
    const raw = JSON.parse(d.body.toString('utf8'));
    assert.equal(raw.org, ORG);
    assert.equal(raw.repository.repo_name, repo.id);
  }

  // Tampered: the same headers over a changed body.
  const d = got[0];
  const tampered = d.body.toString('utf8').replace(shas[0], '1'.repeat(40));
  const bad = await validateWebhook(tampered, d.headers, secret);
  assert.equal(bad.valid, false);
  // A wrong secret.
  assert.equal((await validateWebhook(d.body.toString('utf8'), d.headers, `${secret}x`)).valid, false);
  // Stale: a correct signature made ten minutes ago is refused (max age
  // 300 s), which is why Strata signs every attempt afresh.
  const staleT = Math.floor(Date.now() / 1000) - 600;
  const mac = createHmac('sha256', secret).update(`${staleT}.`).update(d.body).digest('hex');
  const stale = await validateWebhook(d.body.toString('utf8'),
    { ...d.headers, 'x-pierre-signature': `t=${staleT},sha256=${mac}` }, secret);
  assert.equal(stale.valid, false);
  // The same construction with the current time passes: only t differed.
  const nowT = Math.floor(Date.now() / 1000);
  const fresh = createHmac('sha256', secret).update(`${nowT}.`).update(d.body).digest('hex');
  assert.equal((await validateWebhook(d.body.toString('utf8'),
    { ...d.headers, 'x-pierre-signature': `t=${nowT},sha256=${fresh}` }, secret)).valid, true);

  // The delivery log shows them delivered.
  const log = await api('GET', `/api/v1/webhooks/deliveries?webhook_id=${encodeURIComponent(id)}`);
  assert.equal(log.status, 200);
  assert.ok(log.body.deliveries.length >= 2);

  const removed = await api('DELETE', '/api/v1/webhooks', { id });
  assert.equal(removed.status, 204);
});

wireConformanceTest();
