// The main step: read inputs, ask the gate, wait for a window if allowed to, report, set outputs.
// Returns the exit code; never resolves to 0 unless the gate answered a well-formed allow.
import { createRunner } from './commands.js';
import { FatalError, systemClock } from './retry.js';
import { normalizeGateUrl } from './http.js';
import { requireOidcEnvironment } from './oidc.js';
import { authorize } from './gate.js';
import { decisionSummary, errorSummary } from './summary.js';

const waitableChecks = new Set(['window', 'freeze']);
const skewToleranceMs = 60000;

function number(runner, name, fallback, { min, exclusive }) {
  const raw = runner.input(name, fallback);
  const value = Number(raw);
  if (!Number.isFinite(value) || (exclusive ? value <= min : value < min)) {
    throw new FatalError(`input ${name} must be a number ${exclusive ? 'greater than' : 'at least'} ${min}, got \`${raw}\``);
  }
  return value;
}

/** Reads and checks the inputs (action.yml); builds the SPEC §3 request body. */
export function readInputs(runner) {
  const rawUrl = runner.input('gate-url');
  if (!rawUrl) throw new FatalError('input gate-url is required');
  const gateUrl = normalizeGateUrl(rawUrl);
  const action = runner.input('action', 'deploy');
  if (action !== 'deploy' && action !== 'read-secret') {
    throw new FatalError(`input action must be \`deploy\` or \`read-secret\`, got \`${action}\``);
  }
  const environment = runner.input('environment');
  if (!environment) throw new FatalError('input environment is required');
  const target = runner.input('target');
  const secret = runner.input('secret');
  if (action === 'read-secret' && !secret) throw new FatalError('input secret is required for action `read-secret`');
  if (action === 'read-secret' && target) throw new FatalError('input target is only for action `deploy`');
  if (action === 'deploy' && secret) throw new FatalError('input secret is only for action `read-secret`');
  const request = { action, environment };
  if (target) request.target = target;
  if (secret) request.secret = secret;
  const reason = runner.input('break-glass-reason');
  if (reason) request.break_glass = { reason };
  return {
    gateUrl,
    audience: runner.input('audience', gateUrl),
    request,
    waitMinutes: number(runner, 'wait-for-window', '0', { min: 0 }),
    timeoutMs: number(runner, 'timeout-seconds', '30', { min: 0, exclusive: true }) * 1000,
  };
}

/**
 * When to ask again: only when window/freeze are the only failing checks and next_allowed_at
 * falls before `deadlineMs`. Returns `{untilMs}` or `{why}` (why not).
 */
export function planWait(decision, nowMs, deadlineMs) {
  const failed = decision.checks.filter((c) => c.result === 'fail');
  if (failed.length === 0 || failed.some((c) => !waitableChecks.has(c.check))) return { why: 'checks other than window/freeze fail' };
  const at = Date.parse(decision.next_allowed_at ?? '');
  if (Number.isNaN(at)) return { why: 'the gate names no next allowed time' };
  // One second of margin against clock skew between runner and gate; a second deny just loops.
  // A time slightly past (runner clock ahead of the gate's) is re-asked every 5 s; one more than
  // a minute past means the gate is inconsistent, and waiting would only poll it.
  if (at <= nowMs - skewToleranceMs) return { why: `the gate's next allowed time ${decision.next_allowed_at} has already passed` };
  const untilMs = at > nowMs ? at + 1000 : nowMs + 5000;
  if (untilMs > deadlineMs) return { why: `${decision.next_allowed_at} is beyond wait-for-window` };
  return { untilMs, failed };
}

function describeRequest(request) {
  const what = request.action === 'read-secret' ? `read secret \`${request.secret}\`` : `deploy${request.target ? ` \`${request.target}\`` : ''}`;
  return `${what} to \`${request.environment}\``;
}

function minutes(ms) {
  return `${(ms / 60000).toFixed(1)} min`;
}

function setOutputs(runner, { allowed = false, decisionId = '', grant = '', grantExpiresAt = '', nextAllowedAt = '' }) {
  runner.setOutput('allowed', String(allowed));
  runner.setOutput('decision-id', decisionId);
  runner.setOutput('grant', grant);
  runner.setOutput('grant-expires-at', grantExpiresAt);
  runner.setOutput('next-allowed-at', nextAllowedAt);
}

function reportChecks(runner, decision) {
  for (const c of decision.checks) {
    runner.log(`  ${c.check}: ${c.result}${c.code ? ` ${c.code}` : ''}${c.message ? ` — ${c.message}` : ''}`);
  }
}

function onAllow(runner, inputs, decision, waited) {
  const grant = decision.grant ?? null;
  if (grant) {
    // The token was masked on receipt (gate.js), before anything else touched it.
    // State first: if anything below fails, the post step still revokes the grant.
    runner.saveState('grant_jti', grant.jti ?? '');
    runner.saveState('gate_url', inputs.gateUrl);
    runner.saveState('audience', inputs.audience);
  }
  runner.log(`DeployGate allowed ${describeRequest(inputs.request)} (decision ${decision.decision_id})${decision.break_glass ? ' with BREAK-GLASS' : ''}`);
  reportChecks(runner, decision);
  for (const c of decision.checks.filter((x) => x.result === 'overridden')) {
    runner.warning(`${c.code ? `${c.code}: ` : ''}${c.message ?? ''} (overridden by break-glass)`, { title: `DeployGate: ${c.check} check overridden` });
  }
  if (grant) runner.log(`grant issued (jti ${grant.jti ?? '?'}, expires ${grant.expires_at ?? '?'}); it is masked and available as steps.<id>.outputs.grant`);
  setOutputs(runner, {
    allowed: true,
    decisionId: decision.decision_id,
    grant: grant?.token ?? '',
    grantExpiresAt: grant?.expires_at ?? '',
  });
  runner.appendSummary(decisionSummary({ decision, request: inputs.request, waited }));
  return 0;
}

function onDeny(runner, inputs, decision, waited, why) {
  const failed = decision.checks.filter((c) => c.result === 'fail');
  runner.log(`DeployGate denied ${describeRequest(inputs.request)} (decision ${decision.decision_id}): ${failed.length} check${failed.length === 1 ? '' : 's'} failed`);
  reportChecks(runner, decision);
  if (failed.length === 0) {
    runner.error(`the gate denied without naming a failed check (decision ${decision.decision_id})`, { title: 'DeployGate: denied' });
  }
  for (const c of failed) {
    runner.error(`${c.code ? `${c.code}: ` : ''}${c.message ?? ''} (decision ${decision.decision_id})`,
      { title: `DeployGate: ${c.check} check failed${c.code ? ` (${c.code})` : ''}` });
  }
  if (decision.next_allowed_at) {
    runner.log(`next allowed at ${decision.next_allowed_at}${inputs.waitMinutes > 0 && why ? ` (not waiting: ${why})` : ''}`);
  }
  setOutputs(runner, { decisionId: decision.decision_id, nextAllowedAt: decision.next_allowed_at ?? '' });
  runner.appendSummary(decisionSummary({ decision, request: inputs.request, waited }));
  return 1;
}

/**
 * Runs the main step.
 * @param {{runner?: ReturnType<typeof createRunner>, clock?: typeof systemClock}} [deps]
 * @returns {Promise<number>} exit code
 */
export async function run({ runner = createRunner(), clock = systemClock } = {}) {
  let inputs;
  try {
    inputs = readInputs(runner);
    requireOidcEnvironment(runner.env); // fail fast with the permission message, before any wait
    const deadline = clock.now() + inputs.waitMinutes * 60000;
    let sleptMs = 0;
    for (;;) {
      const { decision } = await authorize({ ...inputs, runner, clock });
      const waited = sleptMs > 0 ? minutes(sleptMs) : undefined;
      if (decision.verdict === 'allow') return onAllow(runner, inputs, decision, waited);
      const plan = inputs.waitMinutes > 0 ? planWait(decision, clock.now(), deadline) : { why: 'wait-for-window is 0' };
      if (!plan.untilMs) return onDeny(runner, inputs, decision, waited, plan.why);
      const delay = plan.untilMs - clock.now();
      runner.log(`DeployGate denied ${describeRequest(inputs.request)} for now (decision ${decision.decision_id}): `
        + plan.failed.map((c) => `${c.check} ${c.code ?? ''} ${c.message ?? ''}`.replace(/\s+/g, ' ').trim()).join('; '));
      runner.log(`waiting ${minutes(delay)} until ${new Date(plan.untilMs).toISOString()} (next allowed at ${decision.next_allowed_at}; wait-for-window ${inputs.waitMinutes} min), then asking again with a fresh token`);
      await clock.sleep(delay);
      sleptMs += delay;
    }
  } catch (error) {
    const message = error instanceof FatalError ? error.message : `internal error: ${error?.message ?? error}`;
    if (!(error instanceof FatalError)) runner.log(String(error?.stack ?? error));
    runner.error(message, { title: 'DeployGate' });
    try {
      setOutputs(runner, {});
      runner.appendSummary(errorSummary({ request: inputs?.request, message }));
    } catch (secondary) {
      runner.warning(`could not write outputs or summary: ${secondary?.message ?? secondary}`);
    }
    return 1;
  }
}
