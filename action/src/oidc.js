// GitHub Actions OIDC token request: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud> with
// `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the JWT is in the JSON field `value`.
// A token lives 5 minutes, so the action asks for a fresh one before every call to the gate.
import { FatalError, RetryableError } from './retry.js';
import { describeFetchError } from './http.js';

export const MISSING_PERMISSION_MESSAGE =
  'cannot request a GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set. '
  + 'The workflow or job needs `permissions: id-token: write` (pull requests from forks never get an OIDC token)';

/** Fails with the permission message when the runner did not expose the token endpoint. */
export function requireOidcEnvironment(env) {
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    throw new FatalError(MISSING_PERMISSION_MESSAGE);
  }
}

/**
 * Requests a fresh OIDC token for `audience` and masks it before returning.
 * Network errors, timeouts and 5xx are retryable; other answers are fatal.
 */
export async function requestIdToken({ env, audience, signal, runner }) {
  requireOidcEnvironment(env);
  const base = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const url = `${base}${base.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`;
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, Accept: 'application/json' },
      signal,
    });
  } catch (error) {
    throw new RetryableError(`OIDC token request: ${describeFetchError(error, signal)}`);
  }
  if (response.status >= 500 || response.status === 429) {
    await response.body?.cancel();
    throw new RetryableError(`OIDC token request: HTTP ${response.status}`, { kind: 'unavailable' });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new FatalError(`OIDC token request was refused (HTTP ${response.status}); does the job have \`permissions: id-token: write\`?`);
  }
  let value;
  try {
    value = (await response.json())?.value;
  } catch {
    throw new RetryableError('OIDC token request: answer is not JSON', { kind: 'malformed' });
  }
  if (typeof value !== 'string' || value === '') {
    throw new RetryableError('OIDC token request: answer has no `value`', { kind: 'malformed' });
  }
  runner.addMask(value);
  return value;
}
