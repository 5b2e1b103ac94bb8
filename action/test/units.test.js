// In-process tests of the pieces: workflow-command escaping, env files, retry timing with an
// injected clock, the wait plan, and the order of events (mask before any use of the grant).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeData, escapeProperty, formatCommand, createRunner } from '../src/commands.js';
import { withRetry, RetryableError, FatalError, parseRetryAfter } from '../src/retry.js';
import { run, planWait } from '../src/main.js';
import { decisionDefect } from '../src/gate.js';
import { cell } from '../src/summary.js';
import { startStandInGate, startTokenEndpoint, decision, parseEnvFile, sampleGrantToken } from './support/fakes.js';

/** A clock whose sleep advances time instantly and records each sleep. */
function fakeClock(start = Date.parse('2026-11-23T07:00:00Z')) {
  let now = start;
  const sleeps = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => { sleeps.push(ms); now += ms; },
    random: () => 0.5,
  };
}

/** A runner writing to a temp dir and recording every event in order. */
function recordingRunner(env) {
  const dir = mkdtempSync(join(tmpdir(), 'dg-unit-'));
  const files = { GITHUB_OUTPUT: join(dir, 'out'), GITHUB_STATE: join(dir, 'state'), GITHUB_STEP_SUMMARY: join(dir, 'sum') };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const events = [];
  const runner = createRunner({
    env: { ...files, ...env },
    write: (text) => events.push({ kind: 'stdout', text }),
    appendFile: (path, text) => { events.push({ kind: 'file', path, text }); writeFileSync(path, readFileSync(path, 'utf8') + text); },
  });
  return { runner, events, files, stdout: () => events.filter((e) => e.kind === 'stdout').map((e) => e.text).join('') };
}

describe('workflow-command escaping', () => {
  test('data: % first, then CR and LF', () => {
    assert.equal(escapeData('100%\r\n%0A'), '100%25%0D%0A%250A');
    assert.equal(escapeData('a: b, c'), 'a: b, c', '`:` and `,` are fine in the message');
  });

  test('properties: also : and ,', () => {
    assert.equal(escapeProperty('DeployGate: a,b %\n'), 'DeployGate%3A a%2Cb %25%0A');
  });

  test('formatCommand skips empty properties', () => {
    assert.equal(formatCommand('error', { title: 'x:y', file: '' }, 'm\nn'), '::error title=x%3Ay::m%0An');
    assert.equal(formatCommand('add-mask', {}, 's%'), '::add-mask::s%25');
  });

  test('plain log lines cannot start a workflow command', () => {
    const { runner, stdout } = recordingRunner({});
    runner.log('check failed\n::set-env name=X::1');
    assert.equal(stdout(), 'check failed ::set-env name=X::1\n');
  });

  test('summary cells keep the table intact', () => {
    assert.equal(cell('a|b\nc <script>'), 'a\\|b<br>c &lt;script&gt;');
  });
});

describe('env files', () => {
  test('outputs and state use the heredoc form and round-trip any value', () => {
    const { runner, files } = recordingRunner({});
    const tricky = 'line1\nname=value\r\nEOF\n';
    runner.setOutput('grant', tricky);
    runner.setOutput('allowed', 'true');
    runner.saveState('grant_jti', 'gr_1');
    const raw = readFileSync(files.GITHUB_OUTPUT, 'utf8');
    assert.match(raw, /^grant<<ghadelimiter_[0-9a-f-]{36}\n/);
    assert.equal(parseEnvFile(files.GITHUB_OUTPUT).grant, tricky.replace(/\r\n/g, '\n'));
    assert.equal(parseEnvFile(files.GITHUB_OUTPUT).allowed, 'true');
    assert.deepEqual(parseEnvFile(files.GITHUB_STATE), { grant_jti: 'gr_1' });
  });

  test('inputs follow INPUT_<NAME> with hyphens kept, trimmed, with defaults', () => {
    const runner = createRunner({ env: { 'INPUT_GATE-URL': '  https://g  ', 'INPUT_WAIT-FOR-WINDOW': '' }, write: () => {} });
    assert.equal(runner.input('gate-url'), 'https://g');
    assert.equal(runner.input('wait-for-window', '0'), '0');
  });
});

describe('retry', () => {
  test('exponential backoff with jitter inside the budget, then a message saying what happened', async () => {
    const clock = fakeClock();
    let attempts = 0;
    await assert.rejects(
      withRetry(async () => { attempts++; throw new RetryableError('ECONNREFUSED'); }, { timeoutMs: 30000, clock }),
      (e) => e instanceof FatalError && /^gate unreachable after 11 attempts over 28s: ECONNREFUSED$/.test(e.message),
    );
    assert.equal(attempts, 11);
    // random() = 0.5 → 75 % of 500·2^(n-1), capped at 5 s.
    assert.deepEqual(clock.sleeps, [375, 750, 1500, 3000, ...Array(6).fill(3750)]);
  });

  test('per-attempt timeout is a third of the budget (at least 5 s), never more than what is left', async () => {
    const clock = fakeClock();
    const seen = [];
    await assert.rejects(withRetry(async ({ attemptTimeoutMs }) => {
      seen.push(attemptTimeoutMs);
      clock.sleep(attemptTimeoutMs); // the attempt timed out
      throw new RetryableError('no answer');
    }, { timeoutMs: 30000, clock }));
    assert.equal(seen[0], 10000);
    assert.ok(seen.every((t) => t <= 10000));
  });

  test('Retry-After (seconds or HTTP date) replaces the backoff', async () => {
    const now = Date.parse('2026-11-23T07:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 07:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('soon', now), undefined);
    const clock = fakeClock(now);
    let n = 0;
    const value = await withRetry(async () => {
      if (++n < 3) throw new RetryableError('HTTP 503', { kind: 'unavailable', retryAfterMs: 2000 });
      return 'ok';
    }, { timeoutMs: 30000, clock });
    assert.equal(value, 'ok');
    assert.deepEqual(clock.sleeps, [2000, 2000]);
  });

  test('fatal errors are not retried', async () => {
    let n = 0;
    await assert.rejects(withRetry(async () => { n++; throw new FatalError('HTTP 401'); }, { timeoutMs: 30000, clock: fakeClock() }), /HTTP 401/);
    assert.equal(n, 1);
  });
});

describe('decision checks', () => {
  test('only a 200 + allow + no failed check is an allow', () => {
    assert.equal(decisionDefect(200, decision()), null);
    assert.equal(decisionDefect(403, decision({ verdict: 'deny' })), null);
    assert.match(decisionDefect(403, decision()), /HTTP 403 with verdict `allow`/);
    assert.match(decisionDefect(200, { ...decision(), checks: 'all good' }), /checks/);
    assert.match(decisionDefect(200, decision({ grant: { jti: 'x' } })), /malformed `grant`/);
    assert.match(decisionDefect(200, null), /not a JSON object/);
  });

  test('wait plan: only window/freeze failing, next_allowed_at inside the wait budget', () => {
    const now = Date.parse('2026-11-23T07:00:00Z');
    const deny = (checks, next) => decision({ verdict: 'deny', checks, nextAllowedAt: next });
    const window = { check: 'window', result: 'fail', code: 'DG2104' };
    const freeze = { check: 'freeze', result: 'fail', code: 'DG2105' };
    const role = { check: 'role', result: 'fail', code: 'DG2102' };
    assert.equal(planWait(deny([window, freeze], '2026-11-23T07:30:00Z'), now, now + 3600e3).untilMs, Date.parse('2026-11-23T07:30:01Z'));
    assert.equal(planWait(deny([window], '2026-11-23T06:59:30Z'), now, now + 3600e3).untilMs, now + 5000, 'clock skew: re-ask in 5 s, no spin');
    assert.match(planWait(deny([window], '2026-11-23T06:00:00Z'), now, now + 3600e3).why, /has already passed/);
    assert.match(planWait(deny([window, role], '2026-11-23T07:30:00Z'), now, now + 3600e3).why, /other than window\/freeze/);
    assert.match(planWait(deny([window], null), now, now + 3600e3).why, /no next allowed time/);
    assert.match(planWait(deny([window], '2026-11-23T09:00:00Z'), now, now + 3600e3).why, /beyond wait-for-window/);
  });
});

test('the real clock sleeps long delays in chunks (no setTimeout overflow)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { systemClock } = await import('../src/retry.js');
  let done = false;
  const slept = systemClock.sleep(30 * 24 * 3600e3).then(() => { done = true; });
  for (let i = 0; i < 30 * 24 - 1; i++) { t.mock.timers.tick(3600e3); await Promise.resolve(); await Promise.resolve(); }
  assert.equal(done, false, 'still sleeping after 30 days minus an hour');
  t.mock.timers.tick(3600e3);
  await slept;
  assert.equal(done, true);
});

describe('run() in-process', () => {
  let tokens;
  before(async () => { tokens = await startTokenEndpoint(); });
  after(async () => { await tokens.close(); });

  test('wait-for-window with an injected clock: sleeps 45 min, re-asks with a fresh token, allowed', async () => {
    const clock = fakeClock();
    const opens = new Date(clock.now() + 45 * 60e3).toISOString();
    const gate = await startStandInGate([
      { status: 403, body: decision({ verdict: 'deny', nextAllowedAt: opens, checks: [{ check: 'window', result: 'fail', code: 'DG2104', message: 'outside window `business-hours`' }] }) },
      { status: 200, body: decision() },
    ]);
    try {
      const { runner, stdout, files } = recordingRunner({ 'INPUT_GATE-URL': gate.url, INPUT_ENVIRONMENT: 'production', 'INPUT_WAIT-FOR-WINDOW': '60', ...tokens.env });
      assert.equal(await run({ runner, clock }), 0, stdout());
      assert.deepEqual(clock.sleeps, [45 * 60e3 + 1000]);
      assert.equal(gate.calls.length, 2);
      assert.notEqual(gate.calls[0].headers.authorization, gate.calls[1].headers.authorization);
      assert.match(stdout(), /waiting 45\.0 min until 2026-11-23T07:45:01\.000Z \(next allowed at 2026-11-23T07:45:00/);
      assert.match(readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'), /Waited 45\.0 min/);
    } finally { await gate.close(); }
  });

  test('wait budget counts from the start: a second deny further out ends in deny', async () => {
    const clock = fakeClock();
    const deny = (minutes) => () => ({ status: 403, body: decision({ verdict: 'deny', nextAllowedAt: new Date(clock.now() + minutes * 60e3).toISOString(),
      checks: [{ check: 'freeze', result: 'fail', code: 'DG2105', message: 'inside freeze `holidays`' }] }) });
    const gate = await startStandInGate([deny(20), deny(20)]);
    try {
      const { runner, stdout } = recordingRunner({ 'INPUT_GATE-URL': gate.url, INPUT_ENVIRONMENT: 'production', 'INPUT_WAIT-FOR-WINDOW': '30', ...tokens.env });
      assert.equal(await run({ runner, clock }), 1);
      assert.equal(gate.calls.length, 2);
      assert.equal(clock.sleeps.length, 1);
      assert.match(stdout(), /::error title=DeployGate%3A freeze check failed \(DG2105\)::/);
    } finally { await gate.close(); }
  });

  test('the grant is masked before it is written anywhere (event order)', async () => {
    const gate = await startStandInGate([{ status: 200, body: decision({ grant: { token: sampleGrantToken, jti: 'gr_o', expires_at: 'x' } }) }]);
    try {
      const { runner, events } = recordingRunner({ 'INPUT_GATE-URL': gate.url, INPUT_ENVIRONMENT: 'production', ...tokens.env });
      assert.equal(await run({ runner, clock: fakeClock() }), 0);
      const uses = events.map((e, i) => ({ ...e, i })).filter((e) => e.text.includes(sampleGrantToken));
      assert.equal(uses[0].kind, 'stdout');
      assert.equal(uses[0].text, `::add-mask::${sampleGrantToken}\n`);
      assert.deepEqual(uses.slice(1).map((e) => e.kind), ['file'], 'afterwards only the GITHUB_OUTPUT write');
      assert.ok(uses[1].path.endsWith('out'));
    } finally { await gate.close(); }
  });
});

test('retry: a sleep that overruns the budget ends with the last real failure, not an empty attempt', async () => {
  const { withRetry, RetryableError } = await import('../src/retry.js');
  let now = 0;
  const clock = { now: () => now, sleep: async (ms) => { now += ms + 1400; }, random: () => 0.5 }; // a loaded machine oversleeps, leaving 225 ms
  const kinds = [];
  await assert.rejects(
    withRetry(async ({ attemptTimeoutMs }) => {
      kinds.push(attemptTimeoutMs);
      throw new RetryableError('answer is not a decision', { kind: 'malformed' });
    }, { timeoutMs: 2000, clock }),
    /^FatalError: gate gave no valid answer after \d+ attempts? over \ds: answer is not a decision$/,
  );
  assert.ok(kinds.every((ms) => ms >= 500), `every attempt had real budget: ${kinds}`);
});
