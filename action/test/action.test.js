// The action as the runner runs it: `node main.js` in a child process against a stand-in gate and
// a stand-in OIDC token endpoint on 127.0.0.1; assertions on stdout, env files and exit code.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startStandInGate, startTokenEndpoint, runAction, decision, commands, deadPort, sampleGrantToken,
} from './support/fakes.js';

let tokens;
before(async () => { tokens = await startTokenEndpoint(); });
after(async () => { await tokens.close(); });

const inputsFor = (gate, extra = {}) => ({
  'gate-url': gate.url, environment: 'production', target: 'aks/prod-eu-1', 'timeout-seconds': '5', ...extra,
});

async function withGate(script, fn) {
  const gate = await startStandInGate(script);
  try { return await fn(gate); } finally { await gate.close(); }
}

describe('allow', () => {
  test('outputs, masked grant, summary table, state for post, exit 0', () => withGate([
    { status: 200, body: decision({ grant: { token: sampleGrantToken, jti: 'gr_1', expires_at: '2026-11-23T09:10:00Z' } }) },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.outputs.allowed, 'true');
    assert.match(r.outputs['decision-id'], /^dec_allow_/);
    assert.equal(r.outputs.grant, sampleGrantToken);
    assert.equal(r.outputs['grant-expires-at'], '2026-11-23T09:10:00Z');
    assert.equal(r.outputs['next-allowed-at'], '');
    assert.deepEqual(r.state, { grant_jti: 'gr_1', gate_url: gate.url, audience: gate.url });
    // The request the gate saw: SPEC §3 body, a fresh OIDC token for the gate's audience.
    assert.equal(gate.calls.length, 1);
    const call = gate.calls[0];
    assert.equal(call.method, 'POST');
    assert.equal(call.path, '/api/v1/authorize');
    assert.deepEqual(call.body, { action: 'deploy', environment: 'production', target: 'aks/prod-eu-1' });
    assert.match(call.headers.authorization, /^Bearer oidc-\d+-http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(tokens.calls.at(-1).audience, gate.url);
    assert.equal(tokens.calls.at(-1).apiVersion, '2.0', 'audience is appended with & to the existing query');
    // Summary: a table of every check.
    assert.match(r.summary, /### DeployGate: ✅ allowed — deploy `aks\/prod-eu-1` to `production`/);
    assert.match(r.summary, /\| check \| result \| code \| message \|/);
    for (const check of ['environment', 'role', 'window', 'freeze']) assert.match(r.summary, new RegExp(`\\| ${check} \\| ✅ pass \\|`));
    assert.equal(commands(r.stdout, 'error').length, 0);
  }));

  test('read-secret sends `secret`, break-glass sends the reason, audience input is used', () => withGate([
    { status: 200, body: decision({ breakGlass: true, checks: [
      { check: 'window', result: 'overridden', code: 'DG2104', message: 'outside window `business-hours`' },
    ] }) },
  ], async (gate) => {
    const r = await runAction({
      inputs: inputsFor(gate, { action: 'read-secret', target: '', secret: 'prod/db/password', audience: 'deploygate', 'break-glass-reason': 'INC-42 database down' }),
      env: tokens.env,
    });
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(gate.calls[0].body, {
      action: 'read-secret', environment: 'production', secret: 'prod/db/password', break_glass: { reason: 'INC-42 database down' },
    });
    assert.equal(tokens.calls.at(-1).audience, 'deploygate');
    assert.equal(r.outputs.grant, '');
    assert.deepEqual(r.state, {}, 'no grant, no state');
    const warnings = commands(r.stdout, 'warning');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].properties.title, 'DeployGate: window check overridden');
    assert.match(r.summary, /Break-glass/);
  }));
});

describe('deny', () => {
  const denied = decision({
    verdict: 'deny',
    nextAllowedAt: '2026-11-23T08:00:00Z',
    checks: [
      { check: 'environment', result: 'pass', code: 'DG2001', message: 'ok' },
      { check: 'role', result: 'fail', code: 'DG2102', message: 'holds none of the roles `prod-deployer`' },
      { check: 'window', result: 'fail', code: 'DG2104', message: 'outside window `business-hours` (Europe/Berlin); next opens 2026-11-23T09:00:00+01:00' },
      { check: 'freeze', result: 'pass', code: 'DG2005', message: 'no freeze' },
    ],
  });

  test('one ::error annotation per failed check, summary with next-allowed-at, exit 1', () => withGate([
    { status: 403, body: denied },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
    assert.equal(r.code, 1);
    const errors = commands(r.stdout, 'error');
    assert.equal(errors.length, 2, r.stdout);
    assert.equal(errors[0].properties.title, 'DeployGate: role check failed (DG2102)');
    assert.match(errors[0].message, /^DG2102: holds none of the roles `prod-deployer` \(decision dec_deny_/);
    assert.equal(errors[1].properties.title, 'DeployGate: window check failed (DG2104)');
    assert.match(errors[1].message, /^DG2104: outside window `business-hours` \(Europe\/Berlin\); next opens 2026-11-23T09:00:00\+01:00/);
    // The raw line escapes `:` and `,` in the title property.
    assert.match(errors[1].raw, /^::error title=DeployGate%3A window check failed \(DG2104\)::DG2104: outside/);
    assert.equal(r.outputs.allowed, 'false');
    assert.equal(r.outputs['decision-id'], denied.decision_id);
    assert.equal(r.outputs['next-allowed-at'], '2026-11-23T08:00:00Z');
    assert.equal(r.outputs.grant, '');
    assert.match(r.summary, /### DeployGate: ⛔ denied/);
    assert.match(r.summary, /\| role \| ❌ fail \| DG2102 \|/);
    assert.match(r.summary, /\*\*Next allowed at:\*\* 2026-11-23T08:00:00Z/);
    assert.deepEqual(r.state, {}, 'nothing for the post step to revoke');
  }));

  test('a deny is never retried and never waited for when other checks fail', () => withGate([
    { status: 403, body: denied },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate, { 'wait-for-window': '100000' }), env: tokens.env });
    assert.equal(r.code, 1);
    assert.equal(gate.calls.length, 1);
    assert.match(r.stdout, /not waiting: checks other than window\/freeze fail/);
  }));
});

test('a deny without a failed check still annotates and exits 1', () => withGate([
  { status: 403, body: decision({ verdict: 'deny' }) },
], async (gate) => {
  const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
  assert.equal(r.code, 1);
  const errors = commands(r.stdout, 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /denied without naming a failed check/);
}));

describe('wait-for-window', () => {
  test('waits for next_allowed_at, then asks again with a fresh token and is allowed', async () => {
    let opensAt;
    await withGate([
      () => {
        opensAt = new Date(Date.now() + 1500);
        return { status: 403, body: decision({
          verdict: 'deny', nextAllowedAt: opensAt.toISOString(),
          checks: [
            { check: 'role', result: 'pass', code: 'DG2002', message: 'ok' },
            { check: 'window', result: 'fail', code: 'DG2104', message: 'outside window `nightly`' },
            { check: 'freeze', result: 'fail', code: 'DG2105', message: 'inside freeze `friday-afternoon`' },
          ],
        }) };
      },
      { status: 200, body: decision({ grant: { token: sampleGrantToken, jti: 'gr_w', expires_at: '2026-11-23T09:10:00Z' } }) },
    ], async (gate) => {
      const r = await runAction({ inputs: inputsFor(gate, { 'wait-for-window': '1' }), env: tokens.env });
      assert.equal(r.code, 0, r.stdout);
      assert.equal(gate.calls.length, 2);
      assert.ok(gate.calls[1].at >= opensAt.getTime(), 'asked again only once the window opened');
      const [first, second] = gate.calls.map((c) => c.headers.authorization);
      assert.notEqual(first, second, 'a fresh OIDC token for the second call');
      assert.match(r.stdout, /outside window `nightly`.*inside freeze `friday-afternoon`/);
      assert.match(r.stdout, /waiting [\d.]+ min until .* \(next allowed at .*; wait-for-window 1 min\), then asking again with a fresh token/);
      assert.equal(commands(r.stdout, 'error').length, 0, 'no annotations for a deny that was waited out');
      assert.equal(r.outputs.allowed, 'true');
      assert.match(r.summary, /Waited [\d.]+ min for the window/);
    });
  });

  test('does not wait when next_allowed_at is beyond wait-for-window', () => withGate([
    { status: 403, body: decision({ verdict: 'deny', nextAllowedAt: new Date(Date.now() + 3 * 3600e3).toISOString(),
      checks: [{ check: 'window', result: 'fail', code: 'DG2104', message: 'outside window' }] }) },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate, { 'wait-for-window': '60' }), env: tokens.env });
    assert.equal(r.code, 1);
    assert.equal(gate.calls.length, 1);
    assert.match(r.stdout, /not waiting: .* is beyond wait-for-window/);
  }));
});

describe('fail closed', () => {
  test('gate down: connection refused is retried, then the step fails saying so', async () => {
    const port = await deadPort();
    const r = await runAction({ inputs: { 'gate-url': `http://127.0.0.1:${port}`, environment: 'staging', 'timeout-seconds': '2' }, env: tokens.env });
    assert.equal(r.code, 1);
    const [error] = commands(r.stdout, 'error');
    assert.match(error.message, /^gate unreachable after (\d+) attempts over \ds: ECONNREFUSED$/);
    assert.ok(Number(/after (\d+) attempts/.exec(error.message)[1]) >= 2, 'retried');
    assert.match(r.stdout, /gate attempt 1 failed: ECONNREFUSED; retrying in/);
    assert.equal(r.outputs.allowed, 'false');
    assert.match(r.summary, /❌ error[\s\S]*\(fail closed\): gate unreachable/);
  });

  test('gate slow: no answer within timeout-seconds fails the step', () => withGate([
    { status: 200, delayMs: 10000, body: decision() },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate, { 'timeout-seconds': '2' }), env: tokens.env });
    assert.equal(r.code, 1);
    assert.ok(r.elapsedMs < 8000, `gave up within the budget (${r.elapsedMs} ms)`);
    const [error] = commands(r.stdout, 'error');
    assert.match(error.message, /^gate unreachable after 1 attempt over 2s: no answer within 2s$/);
    assert.equal(r.outputs.allowed, 'false');
  }));

  for (const [name, answer, reason] of [
    ['non-JSON body', { status: 200, raw: '<html>proxy says hi</html>', headers: { 'content-type': 'text/html' } }, /not a JSON object/],
    ['missing decision_id', { status: 200, body: { ...decision(), decision_id: undefined } }, /missing `decision_id`/],
    ['missing verdict', { status: 200, body: { ...decision(), verdict: undefined } }, /missing or unknown `verdict`/],
    ['200 with verdict deny', { status: 200, body: decision({ verdict: 'deny' }) }, /HTTP 200 with verdict `deny`/],
    ['allow with a failed check', { status: 200, body: decision({ checks: [{ check: 'role', result: 'fail' }] }) }, /verdict `allow` with a failed check/],
    ['403 from a proxy (not a decision)', { status: 403, raw: 'Forbidden', headers: { 'content-type': 'text/plain' } }, /HTTP 403, text\/plain.*not a JSON object/],
  ]) {
    test(`malformed answer (${name}) is retried, then fails; never an allow`, () => withGate([answer], async (gate) => {
      const r = await runAction({ inputs: inputsFor(gate, { 'timeout-seconds': '1.5' }), env: tokens.env });
      assert.equal(r.code, 1, r.stdout);
      assert.ok(gate.calls.length >= 2, 'retried');
      const [error] = commands(r.stdout, 'error');
      assert.match(error.message, /^gate gave no valid answer after \d+ attempts over \ds: malformed answer/);
      assert.match(error.message, reason);
      assert.equal(r.outputs.allowed, 'false');
      assert.doesNotMatch(r.stdout, /proxy says hi/, 'bodies are never echoed');
    }));
  }

  test('503 is retried honouring Retry-After, then allowed', () => withGate([
    { status: 503, headers: { 'retry-after': '1' }, body: { type: 'about:blank', title: 'policy unavailable', status: 503, code: 'DG6003' } },
    { status: 200, body: decision() },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate, { 'timeout-seconds': '10' }), env: tokens.env });
    assert.equal(r.code, 0, r.stdout);
    assert.equal(gate.calls.length, 2);
    const gap = gate.calls[1].at - gate.calls[0].at;
    assert.ok(gap >= 950, `waited for Retry-After (${gap} ms)`);
    assert.match(r.stdout, /gate attempt 1 failed: HTTP 503 DG6003: policy unavailable; retrying in 1\.0s \(Retry-After\)/);
    assert.notEqual(gate.calls[0].headers.authorization, gate.calls[1].headers.authorization, 'fresh token per attempt');
  }));

  test('503 whose Retry-After exceeds the budget fails at once with the reason', () => withGate([
    { status: 503, headers: { 'retry-after': '120' }, body: { title: 'store unavailable', status: 503, code: 'DG5001' } },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate, { 'timeout-seconds': '5' }), env: tokens.env });
    assert.equal(r.code, 1);
    assert.equal(gate.calls.length, 1);
    const [error] = commands(r.stdout, 'error');
    assert.match(error.message, /^gate unavailable after 1 attempt over 0s: HTTP 503 DG5001: store unavailable \(Retry-After 120s is beyond the 5s timeout\)$/);
  }));

  for (const [status, code, detail] of [[401, 'DG3003', 'token audience `x` is not accepted'], [400, 'DG2901', 'break_glass.reason must be at least 10 characters'], [413, 'DG6010', 'request body over 64 KiB'], [404, undefined, 'Not Found']]) {
    test(`HTTP ${status} is not retried and fails with the problem code and detail`, () => withGate([
      { status, body: { type: 'about:blank', title: status === 404 ? detail : 'rejected', status, ...(code ? { code, detail } : {}) } },
    ], async (gate) => {
      const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
      assert.equal(r.code, 1);
      assert.equal(gate.calls.length, 1);
      const [error] = commands(r.stdout, 'error');
      assert.equal(error.message, `gate rejected the request (HTTP ${status}${code ? ` ${code}` : ''}: ${detail})`);
    }));
  }

  test('a redirect is not followed (the bearer token stays home)', () => withGate([
    { status: 307, headers: { location: 'http://127.0.0.1:1/elsewhere' } },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
    assert.equal(r.code, 1);
    assert.match(commands(r.stdout, 'error')[0].message, /redirect \(HTTP 307 to http:\/\/127\.0\.0\.1:1\/elsewhere\)/);
  }));

  test('missing id-token permission: says exactly that, and never calls the gate', () => withGate([
    { status: 200, body: decision() },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate) });
    assert.equal(r.code, 1);
    assert.equal(gate.calls.length, 0);
    const [error] = commands(r.stdout, 'error');
    assert.match(error.message, /ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set/);
    assert.match(error.message, /needs `permissions: id-token: write`/);
    assert.equal(r.outputs.allowed, 'false');
  }));

  test('plain http to a non-loopback gate is refused before a token is requested', async () => {
    const before = tokens.calls.length;
    const r = await runAction({ inputs: { 'gate-url': 'http://gate.example.com', environment: 'production' }, env: tokens.env });
    assert.equal(r.code, 1);
    assert.match(commands(r.stdout, 'error')[0].message, /must use https/);
    assert.equal(tokens.calls.length, before);
  });

  test('bad inputs fail with a message naming the input', async () => {
    for (const [inputs, message] of [
      [{ environment: 'production' }, /input gate-url is required/],
      [{ 'gate-url': 'https://gate.example', environment: 'production', action: 'delete' }, /input action must be `deploy` or `read-secret`/],
      [{ 'gate-url': 'https://gate.example', environment: 'production', action: 'read-secret' }, /input secret is required/],
      [{ 'gate-url': 'https://gate.example', environment: 'production', 'timeout-seconds': '0' }, /input timeout-seconds must be a number greater than 0/],
      [{ 'gate-url': 'https://gate.example' }, /input environment is required/],
    ]) {
      const r = await runAction({ inputs, env: tokens.env });
      assert.equal(r.code, 1);
      assert.match(commands(r.stdout, 'error')[0].message, message);
    }
  });
});

describe('masking', () => {
  test('the grant never appears unmasked; ::add-mask:: comes first', () => withGate([
    { status: 200, body: decision({ grant: { token: sampleGrantToken, jti: 'gr_m', expires_at: '2026-11-23T09:10:00Z' } }) },
  ], async (gate) => {
    const issuedBefore = tokens.issued.length;
    const r = await runAction({ inputs: inputsFor(gate), env: { ...tokens.env, ACTIONS_STEP_DEBUG: 'true' } });
    assert.equal(r.code, 0, r.stdout);
    const lines = r.stdout.split(/\r?\n/);
    const withGrant = lines.filter((l) => l.includes(sampleGrantToken));
    assert.deepEqual(withGrant, [`::add-mask::${sampleGrantToken}`], 'the only stdout line with the grant is the mask command');
    const oidcMaskLine = lines.findIndex((l) => l.startsWith('::add-mask::oidc-'));
    assert.ok(oidcMaskLine >= 0, 'the OIDC token is masked too');
    assert.ok(!r.stderr.includes(sampleGrantToken));
    assert.ok(!r.summary.includes(sampleGrantToken));
    assert.ok(!r.stateRaw.includes(sampleGrantToken), 'the post step gets only the jti');
    assert.equal(r.outputs.grant, sampleGrantToken, 'the output file is how the runner learns the value');
    // The OIDC bearer token is never printed outside its mask line either.
    assert.equal(tokens.issued.length, issuedBefore + 1);
    for (const token of tokens.issued.slice(issuedBefore)) {
      assert.deepEqual(lines.filter((l) => l.includes(token)), [`::add-mask::${token}`]);
    }
  }));
});

describe('escaping', () => {
  test('check messages with %, newlines, : and , survive as one annotation each', () => withGate([
    { status: 403, body: decision({ verdict: 'deny', checks: [
      { check: 'tar:get,x', result: 'fail', code: 'DG2103', message: '100% wrong: target `a,b`\r\nsecond line\n::add-mask::oops' },
    ] }) },
  ], async (gate) => {
    const r = await runAction({ inputs: inputsFor(gate), env: tokens.env });
    assert.equal(r.code, 1);
    const errors = commands(r.stdout, 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0].raw, /^::error title=DeployGate%3A tar%3Aget%2Cx check failed \(DG2103\)::DG2103: 100%25 wrong: target `a,b`%0D%0Asecond line%0A::add-mask::oops \(decision /);
    assert.equal(errors[0].properties.title, 'DeployGate: tar:get,x check failed (DG2103)');
    assert.match(errors[0].message, /^DG2103: 100% wrong: target `a,b`\r\nsecond line\n::add-mask::oops/);
    assert.ok(!r.stdout.split(/\r?\n/).some((l) => l.startsWith('::add-mask::oops')), 'gate text cannot start a workflow command');
    assert.match(r.summary, /100% wrong: target `a,b`<br>second line<br>::add-mask::oops/);
  }));
});
