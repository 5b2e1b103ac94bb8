// The post step (`node post.js`) as the runner runs it at job end, with STATE_* from the main step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStandInGate, startTokenEndpoint, runAction, commands, deadPort, decision, sampleGrantToken } from './support/fakes.js';

let tokens;
before(async () => { tokens = await startTokenEndpoint(); });
after(async () => { await tokens.close(); });

test('main then post: the issued grant is revoked with a fresh OIDC token, 204 → ok', async () => {
  const gate = await startStandInGate([
    (call) => call.path === '/api/v1/authorize'
      ? { status: 200, body: decision({ grant: { token: sampleGrantToken, jti: 'gr_post', expires_at: '2026-11-23T09:10:00Z' } }) }
      : { status: 404 },
    (call) => call.path === '/api/v1/grants/revoke' ? { status: 204 } : { status: 404 },
  ]);
  try {
    const main = await runAction({ inputs: { 'gate-url': gate.url, environment: 'production', audience: 'deploygate' }, env: tokens.env });
    assert.equal(main.code, 0, main.stdout);
    const post = await runAction({ script: 'post.js', inputs: { 'gate-url': gate.url, environment: 'production' }, env: tokens.env, state: main.state });
    assert.equal(post.code, 0, post.stdout);
    assert.equal(gate.calls.length, 2);
    const revoke = gate.calls[1];
    assert.equal(revoke.method, 'POST');
    assert.deepEqual(revoke.body, { jti: 'gr_post' });
    assert.match(revoke.headers.authorization, /^Bearer oidc-\d+-deploygate$/, 'OIDC token for the same audience');
    assert.notEqual(revoke.headers.authorization, gate.calls[0].headers.authorization, 'a fresh token');
    assert.match(post.stdout, /revoked grant gr_post at job end \(whether or not it was redeemed\)/);
    assert.ok(!post.stdout.includes(sampleGrantToken));
  } finally { await gate.close(); }
});

test('no grant issued: post does nothing', async () => {
  const gate = await startStandInGate([{ status: 204 }]);
  try {
    const post = await runAction({ script: 'post.js', inputs: { 'gate-url': gate.url, environment: 'production' }, env: tokens.env });
    assert.equal(post.code, 0);
    assert.equal(gate.calls.length, 0);
    assert.match(post.stdout, /no grant was issued in this job; nothing to revoke/);
  } finally { await gate.close(); }
});

test('revoke failures only warn; the post step never fails the job', async () => {
  const gate = await startStandInGate([{ status: 401, body: { title: 'token rejected', status: 401, code: 'DG3004', detail: 'run does not match the grant' } }]);
  const down = await deadPort();
  try {
    for (const [state, env, message] of [
      [{ grant_jti: 'gr_x', gate_url: gate.url, audience: gate.url }, tokens.env, /could not revoke grant gr_x: gate rejected the request \(HTTP 401 DG3004: run does not match the grant\); it stays valid until it expires/],
      [{ grant_jti: 'gr_y', gate_url: `http://127.0.0.1:${down}`, audience: 'a' }, tokens.env, /could not revoke grant gr_y: gate unreachable after \d+ attempts? over \ds: ECONNREFUSED/],
      [{ grant_jti: 'gr_z', gate_url: gate.url, audience: 'a' }, {}, /could not revoke grant gr_z: .*id-token: write/],
    ]) {
      const post = await runAction({ script: 'post.js', inputs: { 'timeout-seconds': '1' }, env, state });
      assert.equal(post.code, 0, post.stdout);
      const warnings = commands(post.stdout, 'warning');
      assert.equal(warnings.length, 1, post.stdout);
      assert.match(warnings[0].message, message);
      assert.equal(commands(post.stdout, 'error').length, 0);
    }
  } finally { await gate.close(); }
});
