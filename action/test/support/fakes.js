// Test doubles on 127.0.0.1: a stand-in DeployGate (for faults a real server cannot produce on
// demand) and a stand-in for the runner's OIDC token endpoint. Plus a helper that runs the action
// as a real child process with the runner's environment files in a temp dir.
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

export const actionDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Starts an HTTP server on 127.0.0.1 with a random port. */
export async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port nothing listens on (bound, then released). */
export async function deadPort() {
  const s = await listen(() => {});
  await s.close();
  return s.port;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Stand-in token endpoint: `GET /token?api-version=2.0&audience=…` with the request bearer
 * token; every call mints a distinct token (`oidc-<n>`) so tests can see fresh tokens per call.
 * `mint(audience, n)` may be async (the real-gate test runs `deploygate token --dev`).
 */
export async function startTokenEndpoint({ requestToken = 'runner-request-token', mint } = {}) {
  const issued = [];
  const calls = [];
  const endpoint = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const audience = url.searchParams.get('audience');
    calls.push({ audience, authorization: req.headers.authorization, apiVersion: url.searchParams.get('api-version') });
    if (url.pathname !== '/token' || req.headers.authorization !== `Bearer ${requestToken}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"bad request token"}');
      return;
    }
    try {
      const value = mint ? await mint(audience, issued.length + 1) : `oidc-${issued.length + 1}-${audience}`;
      issued.push(value);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value }));
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error?.message ?? error));
    }
  });
  return {
    ...endpoint,
    issued,
    calls,
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${endpoint.url}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
    },
  };
}

/**
 * Stand-in gate. `script` is a list of responders used in order (the last one repeats); each is
 * `(call) => ({status, body, headers, delayMs, raw})` where `call` has method, path, headers, body.
 */
export async function startStandInGate(script) {
  const calls = [];
  const gate = await listen(async (req, res) => {
    const text = await readBody(req);
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    const call = { method: req.method, path: req.url, headers: req.headers, body: json, text, at: Date.now() };
    calls.push(call);
    const responder = script[Math.min(calls.length - 1, script.length - 1)];
    const answer = typeof responder === 'function' ? await responder(call) : responder;
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (res.destroyed) return;
    const headers = { ...(answer.headers ?? {}) };
    let payload = '';
    if (answer.raw !== undefined) payload = answer.raw;
    else if (answer.body !== undefined) {
      payload = JSON.stringify(answer.body);
      headers['content-type'] ??= answer.status >= 400 && answer.status !== 403 ? 'application/problem+json' : 'application/json';
    }
    res.writeHead(answer.status ?? 200, headers).end(payload);
  });
  return { ...gate, calls };
}

/** A SPEC §3-shaped decision. */
export function decision({ verdict = 'allow', checks, nextAllowedAt = null, grant = null, breakGlass = false, request } = {}) {
  return {
    decision_id: `dec_${verdict}_${Math.random().toString(36).slice(2, 10)}`,
    verdict,
    evaluated_at: new Date().toISOString(),
    request: request ?? { action: 'deploy', environment: 'production', target: 'aks/prod-eu-1' },
    identity: {
      repository: 'acme/web', workflow: 'acme/web/.github/workflows/release.yml', ref: 'refs/heads/main',
      sha: 'abc123', run_id: '42', run_attempt: '1', actor: 'alice', identities: ['release'],
      roles: [{ role: 'prod-deployer', via: 'membership' }],
    },
    checks: checks ?? [
      { check: 'environment', result: 'pass', code: 'DG2001', message: 'environment `production` is defined' },
      { check: 'role', result: 'pass', code: 'DG2002', message: 'holds role `prod-deployer`' },
      { check: 'window', result: 'pass', code: 'DG2003', message: 'inside window `business-hours`' },
      { check: 'freeze', result: 'pass', code: 'DG2004', message: 'no freeze covers now' },
    ],
    next_allowed_at: nextAllowedAt,
    break_glass: breakGlass,
    policy: { source: 'github:acme/web/.github/deploygate.yml', revision: '0123456789abcdef' },
    grant,
  };
}

export const sampleGrantToken = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJqdGkiOiJncl8xIn0.c2lnbmF0dXJlLXNlY3JldA';

/** Parses a GITHUB_OUTPUT / GITHUB_STATE file (both `k=v` and heredoc forms). */
export function parseEnvFile(path) {
  if (!existsSync(path)) return {};
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const result = {};
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]);
      if (i >= lines.length) throw new Error(`unterminated heredoc for ${name}`);
      result[name] = value.join('\n');
    } else if (line.includes('=')) {
      result[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return result;
}

/** Parses `::name k=v,…::message` lines from stdout (unescaped). */
export function commands(stdout, name) {
  const unescape = (s) => s.replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  return stdout.split(/\r?\n/).flatMap((line) => {
    const m = /^::([a-z-]+)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m || (name && m[1] !== name)) return [];
    const properties = Object.fromEntries((m[2] ?? '').split(',').filter(Boolean).map((kv) => {
      const at = kv.indexOf('=');
      return [kv.slice(0, at), unescape(kv.slice(at + 1))];
    }));
    return [{ name: m[1], properties, message: unescape(m[3]), raw: line }];
  });
}

/**
 * Runs `node <script>` (main.js or post.js) like the runner does: inputs as INPUT_* env vars and
 * env files in a fresh temp dir. Resolves with stdout, stderr, exit code, outputs, state, summary.
 */
export async function runAction({ inputs = {}, env = {}, script = 'main.js', dir, state, timeoutMs = 60000 } = {}) {
  const work = dir ?? mkdtempSync(join(tmpdir(), 'dg-action-'));
  const files = {
    GITHUB_OUTPUT: join(work, 'output'),
    GITHUB_STATE: join(work, 'state'),
    GITHUB_STEP_SUMMARY: join(work, 'summary.md'),
  };
  for (const f of Object.values(files)) if (!existsSync(f)) writeFileSync(f, '');
  const inputEnv = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, String(v)]));
  const stateEnv = Object.fromEntries(Object.entries(state ?? {}).map(([k, v]) => [`STATE_${k}`, v]));
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('ACTIONS_') && !k.startsWith('GITHUB_') && !k.startsWith('STATE_')));
  const child = spawn(process.execPath, [join(actionDir, script)], {
    cwd: work,
    env: { ...baseEnv, ...files, ...inputEnv, ...stateEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const started = Date.now();
  const code = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`action did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('close', (c) => { clearTimeout(timer); resolve(c); });
  });
  return {
    code,
    stdout,
    stderr,
    elapsedMs: Date.now() - started,
    dir: work,
    files,
    outputs: parseEnvFile(files.GITHUB_OUTPUT),
    state: parseEnvFile(files.GITHUB_STATE),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
    outputRaw: readFileSync(files.GITHUB_OUTPUT, 'utf8'),
    stateRaw: readFileSync(files.GITHUB_STATE, 'utf8'),
  };
}
