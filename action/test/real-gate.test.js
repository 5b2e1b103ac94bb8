// The action against the REAL `deploygate serve --dev` (SPEC §5), started here from the built CLI,
// with a stand-in for the runner's token endpoint that mints each token with `deploygate token --dev`.
// It builds nothing: build first (`dotnet build` at the repository root). When the build output is
// missing these tests FAIL, unless DEPLOYGATE_SKIP_REAL_GATE=1 is set, which marks them skipped.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { actionDir, startTokenEndpoint, runAction, commands, deadPort } from './support/fakes.js';

const run = promisify(execFile);
const dll = resolve(actionDir, '../src/DeployGate.Cli/bin/Debug/net10.0/deploygate.dll');
const skipRequested = process.env.DEPLOYGATE_SKIP_REAL_GATE === '1';
const missing = !existsSync(dll);
const startupMs = 60000;

if (missing && !skipRequested) {
  test('real deploygate serve is available', () => {
    assert.fail(`the built server is missing: ${dll}\n`
      + 'Build it first (`dotnet build` at the repository root), or set DEPLOYGATE_SKIP_REAL_GATE=1 to skip the real-gate tests.');
  });
}

// Freeze for `canary` that lifts shortly after start-up, to see the action wait and then pass.
const canaryLiftsAt = new Date(Math.ceil((Date.now() + 30000) / 1000) * 1000);

const policy = `version: 1
timezone: UTC

identities:
  web:
    repository: acme/web

roles:
  deployer: { members: [web] }

freezes:
  - name: production-closed
    from: 2000-01-01T00:00Z
    until: 2999-01-01T00:00Z
    environments: [production]
  - name: canary-briefly-closed
    from: 2000-01-01T00:00Z
    until: ${canaryLiftsAt.toISOString().replace('.000Z', 'Z')}
    environments: [canary]

environments:
  staging:
    deploy: { roles: [deployer], targets: ["aks/staging-*"] }
  canary:
    deploy: { roles: [deployer] }
  production:
    deploy: { roles: [deployer] }
`;

// Each case is listed even when skipped, so the runner's `# skipped N` shows what did not run.
const skipReason = `real gate not built (${dll} missing) and DEPLOYGATE_SKIP_REAL_GATE=1`;
const suite = missing ? (_name, body) => body() : describe;
const afterAll = missing ? () => {} : after;
const realTest = missing
  ? (name) => { if (skipRequested) test(`real gate: ${name}`, { skip: skipReason }, () => {}); }
  : test;

suite('against the real deploygate serve --dev', () => {
  let cwd;
  let server;
  let serverLog = '';
  let gateUrl;
  let tokens;

  // Started lazily by the first test (not in a `before` hook): a hook failure would mark the tests
  // "cancelled", which the CI count of `# fail N` does not see; this way each test fails visibly.
  let ready;
  const start = () => (ready ??= startServer());
  async function startServer() {
    cwd = mkdtempSync(join(tmpdir(), 'dg-real-'));
    mkdirSync(join(cwd, 'policies', 'acme'), { recursive: true });
    writeFileSync(join(cwd, 'policies', 'acme', 'web.yml'), policy);
    const port = await deadPort();
    gateUrl = `http://127.0.0.1:${port}`;
    server = spawn('dotnet', [dll, 'serve', '--dev', '--urls', gateUrl], {
      cwd,
      env: { ...process.env, DeployGate__PublicUrl: gateUrl, DeployGate__Audience: gateUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (d) => { serverLog += d; });
    server.stderr.on('data', (d) => { serverLog += d; });
    const exited = new Promise((resolveExit) => server.on('exit', (code) => resolveExit(code)));
    const deadline = Date.now() + startupMs;
    for (;;) {
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 250))]);
      if (code !== undefined) assert.fail(`deploygate serve exited with ${code} before it was healthy:\n${serverLog}`);
      try {
        const response = await fetch(`${gateUrl}/api/healthz`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) assert.fail(`GET /api/healthz was not 200 within ${startupMs / 1000}s:\n${serverLog}`);
    }
    tokens = await startTokenEndpoint({
      mint: async (audience) => {
        const { stdout } = await run('dotnet', [dll, 'token', '--dev', '--repository', 'acme/web',
          '--workflow', 'acme/web/.github/workflows/deploy.yml', '--ref', 'refs/heads/main',
          '--audience', audience, '--run-id', '42'], { cwd });
        return stdout.trim();
      },
    });
  }

  afterAll(async () => {
    await tokens?.close();
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server.on('exit', r));
      server.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
  });

  const inputs = (extra) => ({ 'gate-url': gateUrl, 'timeout-seconds': '20', ...extra });

  realTest('allow on staging: outputs, summary, grant masked; the post step revokes it for real', async () => {
    await start();
    const r = await runAction({ inputs: inputs({ environment: 'staging', target: 'aks/staging-1' }), env: tokens.env });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${serverLog}`);
    assert.equal(r.outputs.allowed, 'true');
    assert.ok(r.outputs['decision-id'], 'decision id');
    assert.match(r.summary, /✅ allowed/);
    for (const check of ['environment', 'role', 'target', 'window', 'freeze']) assert.match(r.summary, new RegExp(`\\| ${check} \\|`));
    const grant = r.outputs.grant;
    assert.ok(grant, 'the gate issues a grant on every allow (SPEC §7)');
    assert.ok(r.outputs['grant-expires-at']);
    const lines = r.stdout.split(/\r?\n/).filter((l) => l.includes(grant));
    assert.deepEqual(lines, [`::add-mask::${grant}`], 'grant only in its mask line');
    assert.ok(!r.summary.includes(grant) && !r.stderr.includes(grant));
    assert.ok(r.state.grant_jti, 'post step will revoke it');

    const introspect = async () => (await fetch(`${gateUrl}/api/v1/grants/introspect`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: grant }),
    })).json();
    assert.equal((await introspect()).active, true, 'active before the post step');

    const post = await runAction({ script: 'post.js', inputs: inputs({ environment: 'staging' }), env: tokens.env, state: r.state });
    assert.equal(post.code, 0);
    assert.match(post.stdout, /revoked grant/, `${post.stdout}\n${serverLog}`);
    assert.ok(!post.stdout.includes(grant), 'the post step never prints the grant');

    assert.equal((await introspect()).active, false, 'inactive after the post step revoked it');
    const redeem = await fetch(`${gateUrl}/api/v1/grants/redeem`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: grant, expect: { action: 'deploy', environment: 'staging', target: 'aks/staging-1' } }),
    });
    assert.equal(redeem.status, 401, 'a revoked grant cannot be redeemed');
  });

  realTest('deny on production: freeze annotation, summary, exit 1', async () => {
    await start();
    const r = await runAction({ inputs: inputs({ environment: 'production', target: 'aks/prod-eu-1' }), env: tokens.env });
    assert.equal(r.code, 1, `${r.stdout}\n${serverLog}`);
    const errors = commands(r.stdout, 'error');
    assert.ok(errors.length >= 1, r.stdout);
    const freeze = errors.find((e) => /freeze check failed \(DG2\d{3}\)/.test(e.properties.title ?? ''));
    assert.ok(freeze, `a freeze annotation:\n${r.stdout}`);
    assert.match(freeze.message, /^DG2\d{3}: .*production-closed/);
    assert.equal(r.outputs.allowed, 'false');
    assert.ok(r.outputs['decision-id']);
    assert.match(r.summary, /⛔ denied/);
    assert.match(r.summary, /\| freeze \| ❌ fail \| DG2\d{3} \|/);
  });

  realTest('token for another audience: 401 with a DG3xxx code, not retried, exit 1', async () => {
    await start();
    const r = await runAction({ inputs: inputs({ environment: 'staging', target: 'aks/staging-1', audience: 'https://not-this-gate.example' }), env: tokens.env });
    assert.equal(r.code, 1);
    assert.match(commands(r.stdout, 'error')[0].message, /^gate rejected the request \(HTTP 401 DG3\d{3}/);
  });

  realTest('wait-for-window: waits out the canary freeze, then allowed with a fresh token', { timeout: 120000 }, async (t) => {
    await start();
    if (Date.now() > canaryLiftsAt.getTime() - 3000) {
      t.skip(`start-up took too long: the canary freeze already lifted at ${canaryLiftsAt.toISOString()}`);
      return;
    }
    const before = tokens.issued.length;
    const r = await runAction({ inputs: inputs({ environment: 'canary', 'wait-for-window': '2' }), env: tokens.env, timeoutMs: 110000 });
    assert.equal(r.code, 0, `${r.stdout}\n${serverLog}`);
    assert.match(r.stdout, /waiting [\d.]+ min until .*then asking again with a fresh token/);
    assert.ok(Date.now() >= canaryLiftsAt.getTime());
    const mine = tokens.issued.slice(before);
    assert.ok(mine.length >= 2 && new Set(mine).size === mine.length, 'a fresh token per call');
  });
});
