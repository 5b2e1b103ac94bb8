// Small helpers around fetch: error descriptions, problem+json, URL rules.
import { FatalError } from './retry.js';

/** A short description of why fetch threw: `ECONNREFUSED`, `no answer within 2s`, … */
export function describeFetchError(error, signal) {
  if (signal?.aborted || error?.name === 'TimeoutError' || error?.name === 'AbortError') {
    return `no answer within ${signal?.timeoutSeconds ?? '?'}s`;
  }
  const cause = error?.cause;
  return cause?.code ?? cause?.message ?? error?.message ?? String(error);
}

/** AbortSignal.timeout that remembers its length for messages. */
export function timeoutSignal(ms) {
  const signal = AbortSignal.timeout(Math.max(1, Math.round(ms)));
  signal.timeoutSeconds = Math.round(ms / 100) / 10;
  return signal;
}

/** Parses a body as JSON; `undefined` when it is not JSON. */
export function tryParseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `HTTP 401 DG3002: token expired` from a problem+json body (or just the status). */
export function describeProblem(status, text) {
  const problem = tryParseJson(text);
  const code = typeof problem?.code === 'string' ? problem.code : undefined;
  const detail = [problem?.detail, problem?.title].find((v) => typeof v === 'string' && v !== '');
  return { code, text: `HTTP ${status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}` };
}

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Validates gate-url and returns it without trailing slashes. The OIDC token is a bearer
 * credential, so it only travels over https, except to a loopback gate (tests, `serve --dev`).
 */
export function normalizeGateUrl(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new FatalError(`input gate-url \`${raw}\` is not a URL`);
  }
  const loopback = loopbackHosts.has(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new FatalError(`input gate-url \`${raw}\` must use https (http is accepted only for a loopback address)`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new FatalError(`input gate-url \`${raw}\` must not carry credentials, a query or a fragment`);
  }
  return url.href.replace(/\/+$/, '');
}
