// Retries within one overall time budget: exponential backoff with jitter, Retry-After honoured.
// Nothing here ever turns a failure into success: when the budget runs out the caller gets a
// FatalError that says what happened (fail closed).

/** A failure that ends the step; its message is shown to the user as is. */
export class FatalError extends Error {
  constructor(message, { code } = {}) {
    super(message);
    this.name = 'FatalError';
    this.code = code;
  }
}

/** A failure worth another attempt (network, timeout, 5xx, 429, malformed answer). */
export class RetryableError extends Error {
  /**
   * @param {string} reason short text, e.g. `ECONNREFUSED` or `HTTP 503 DG5001: store unavailable`
   * @param {{kind?: 'unreachable'|'unavailable'|'malformed', retryAfterMs?: number}} [options]
   */
  constructor(reason, { kind = 'unreachable', retryAfterMs } = {}) {
    super(reason);
    this.name = 'RetryableError';
    this.kind = kind;
    this.retryAfterMs = retryAfterMs;
  }
}

const maxTimerMs = 3600e3;

/** The real clock; tests pass their own. */
export const systemClock = Object.freeze({
  now: () => Date.now(),
  // setTimeout overflows above 2^31-1 ms (~24.8 days) and would fire at once; sleep in chunks.
  sleep: async (ms) => {
    for (let left = Math.max(0, ms); left > 0; left -= maxTimerMs) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, maxTimerMs)));
    }
  },
  random: () => Math.random(),
});

const headline = {
  unreachable: 'gate unreachable',
  unavailable: 'gate unavailable',
  malformed: 'gate gave no valid answer',
};

/**
 * Parses a Retry-After header (delta-seconds or HTTP-date) into milliseconds from `nowMs`.
 * @returns {number|undefined}
 */
export function parseRetryAfter(value, nowMs) {
  if (value == null || value === '') return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Runs `attempt` until it returns, throws a non-retryable error, or the budget is spent.
 * @param {(ctx: {attempt: number, attemptTimeoutMs: number}) => Promise<T>} attempt
 * @param {object} options
 * @param {number} options.timeoutMs overall budget, measured from the first attempt
 * @param {string} [options.what] what is being retried, for logs
 * @param {{now: () => number, sleep: (ms: number) => Promise<void>, random: () => number}} [options.clock]
 * @param {(line: string) => void} [options.log]
 * @param {number} [options.baseDelayMs] first backoff (default 500 ms), doubled per attempt
 * @param {number} [options.maxDelayMs] backoff cap (default 5 s)
 * @template T
 */
export async function withRetry(attempt, {
  timeoutMs, what = 'gate', clock = systemClock, log = () => {}, baseDelayMs = 500, maxDelayMs = 5000,
}) {
  const started = clock.now();
  const deadline = started + timeoutMs;
  // One slow answer should not eat the whole budget when there is room for another try.
  const perAttemptCapMs = Math.max(5000, Math.floor(timeoutMs / 3));
  // An attempt started with a sliver of budget can only time out, and its "no answer within 0s" would
  // hide the real failure; below this, stop and report the last real one.
  const minAttemptMs = Math.min(500, Math.floor(timeoutMs / 4));
  let lastSummary;
  for (let n = 1; ; n++) {
    const remaining = deadline - clock.now();
    if (lastSummary !== undefined && remaining < minAttemptMs) throw new FatalError(lastSummary);
    const attemptTimeoutMs = Math.max(1, Math.min(remaining, perAttemptCapMs));
    try {
      return await attempt({ attempt: n, attemptTimeoutMs });
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      const now = clock.now();
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
      const jittered = backoff / 2 + clock.random() * (backoff / 2);
      const delay = error.retryAfterMs ?? jittered;
      const elapsed = Math.round((now - started) / 1000);
      const summary = `${headline[error.kind] ?? headline.unreachable} after ${n} attempt${n === 1 ? '' : 's'} over ${elapsed}s: ${error.message}`;
      if (now >= deadline) throw new FatalError(summary);
      lastSummary = summary;
      if (now + delay + minAttemptMs > deadline) {
        const why = error.retryAfterMs !== undefined
          ? ` (Retry-After ${Math.ceil(error.retryAfterMs / 1000)}s is beyond the ${Math.round(timeoutMs / 1000)}s timeout)`
          : '';
        throw new FatalError(summary + why);
      }
      log(`${what} attempt ${n} failed: ${error.message}; retrying in ${(delay / 1000).toFixed(1)}s`
        + (error.retryAfterMs !== undefined ? ' (Retry-After)' : ''));
      await clock.sleep(delay);
    }
  }
}
