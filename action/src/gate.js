// Calls to the DeployGate API (SPEC §4, §7) with retries. The answer is trusted only when it is
// well-formed and consistent: an allow needs HTTP 200, verdict `allow` and no failed check.
import { FatalError, RetryableError, parseRetryAfter, withRetry } from './retry.js';
import { describeFetchError, describeProblem, timeoutSignal, tryParseJson } from './http.js';
import { requestIdToken } from './oidc.js';

const userAgent = 'deploygate-action/1';

/** Why `decision` is not a usable SPEC §3 decision for `status`, or null when it is. */
export function decisionDefect(status, decision) {
  if (decision === null || typeof decision !== 'object' || Array.isArray(decision)) return 'body is not a JSON object';
  if (typeof decision.decision_id !== 'string' || decision.decision_id === '') return 'missing `decision_id`';
  if (decision.verdict !== 'allow' && decision.verdict !== 'deny') return 'missing or unknown `verdict`';
  if (!Array.isArray(decision.checks) || decision.checks.some((c) => typeof c?.check !== 'string' || typeof c?.result !== 'string')) {
    return 'missing or malformed `checks`';
  }
  const expected = status === 200 ? 'allow' : 'deny';
  if (decision.verdict !== expected) return `HTTP ${status} with verdict \`${decision.verdict}\``;
  if (decision.verdict === 'allow') {
    if (decision.checks.some((c) => c.result === 'fail')) return 'verdict `allow` with a failed check';
    const grant = decision.grant;
    if (grant != null && (typeof grant !== 'object' || typeof grant.token !== 'string' || grant.token === '')) {
      return 'malformed `grant`';
    }
  }
  return null;
}

/** Classifies a non-200/403 answer: retryable (5xx, 429) or fatal (other 4xx, 3xx, …). */
function failure(response, text, clock) {
  const { code, text: description } = describeProblem(response.status, text);
  if (response.status >= 500 || response.status === 429) {
    throw new RetryableError(description, {
      kind: 'unavailable',
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), clock.now()),
    });
  }
  if (response.status >= 300 && response.status < 400) {
    throw new FatalError(`gate answered with a redirect (HTTP ${response.status} to ${response.headers.get('location') ?? '?'}); set gate-url to the final address`);
  }
  throw new FatalError(`gate rejected the request (${description})`, { code });
}

async function post({ url, token, body, signal }) {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, application/problem+json',
        'User-Agent': userAgent,
      },
      body: JSON.stringify(body),
      redirect: 'manual', // never replay the bearer token to wherever a redirect points
      signal,
    });
    return { response, text: await response.text() };
  } catch (error) {
    throw new RetryableError(describeFetchError(error, signal));
  }
}

/**
 * POST /api/v1/authorize with a fresh OIDC token per attempt.
 * @returns {Promise<{status: 200|403, decision: object}>}
 */
export async function authorize({ gateUrl, audience, request, timeoutMs, runner, clock }) {
  return withRetry(async ({ attemptTimeoutMs }) => {
    const signal = timeoutSignal(attemptTimeoutMs);
    const token = await requestIdToken({ env: runner.env, audience, signal, runner });
    const { response, text } = await post({ url: `${gateUrl}/api/v1/authorize`, token, body: request, signal });
    if (response.status !== 200 && response.status !== 403) failure(response, text, clock);
    const decision = tryParseJson(text);
    // Mask first: nothing below prints the body, but a grant must be masked before it exists anywhere else.
    if (typeof decision?.grant?.token === 'string' && decision.grant.token !== '') runner.addMask(decision.grant.token);
    const defect = decisionDefect(response.status, decision);
    if (defect) {
      throw new RetryableError(`malformed answer (HTTP ${response.status}, ${response.headers.get('content-type') ?? 'no content type'}): ${defect}`, { kind: 'malformed' });
    }
    return { status: response.status, decision };
  }, { timeoutMs, what: 'gate', clock, log: runner.log });
}

/** POST /api/v1/grants/revoke `{jti}`; resolves on 204, throws otherwise. */
export async function revokeGrant({ gateUrl, audience, jti, timeoutMs, runner, clock }) {
  return withRetry(async ({ attemptTimeoutMs }) => {
    const signal = timeoutSignal(attemptTimeoutMs);
    const token = await requestIdToken({ env: runner.env, audience, signal, runner });
    const { response, text } = await post({ url: `${gateUrl}/api/v1/grants/revoke`, token, body: { jti }, signal });
    if (response.status !== 204 && response.status !== 200) failure(response, text, clock);
  }, { timeoutMs, what: 'revoke', clock, log: runner.log });
}
