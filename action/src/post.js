// The post step (runs at job end, `post-if: always()`): revoke the grant the main step obtained.
// The action cannot know whether the deploy tool redeemed the grant, so it revokes whenever one was
// issued; revoking a redeemed grant is harmless (redemption is single-use anyway). A failure here
// only warns: the job's outcome was decided by the main step and the grant expires on its own.
import { createRunner } from './commands.js';
import { systemClock } from './retry.js';
import { revokeGrant } from './gate.js';

/** Runs the post step; always resolves to exit code 0. */
export async function runPost({ runner = createRunner(), clock = systemClock } = {}) {
  const jti = runner.getState('grant_jti');
  if (!jti) {
    runner.log('DeployGate: no grant was issued in this job; nothing to revoke');
    return 0;
  }
  const gateUrl = runner.getState('gate_url');
  const audience = runner.getState('audience') || gateUrl;
  const seconds = Math.min(Number(runner.input('timeout-seconds', '30')) || 30, 30);
  try {
    await revokeGrant({ gateUrl, audience, jti, timeoutMs: seconds * 1000, runner, clock });
    runner.log(`DeployGate: revoked grant ${jti} at job end (whether or not it was redeemed)`);
  } catch (error) {
    runner.warning(`could not revoke grant ${jti}: ${error?.message ?? error}; it stays valid until it expires`, { title: 'DeployGate post step' });
  }
  return 0;
}
