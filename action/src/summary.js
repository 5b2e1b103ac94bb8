// Job-summary Markdown. Never contains the grant token (only its expiry and jti).

const icons = { pass: '✅ pass', fail: '❌ fail', overridden: '⚠️ overridden', not_applicable: '➖ not applicable' };

/** Makes gate-supplied text safe inside a Markdown table cell. */
export function cell(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n|\r/g, '<br>');
}

function code(value) {
  return value ? `\`${String(value).replace(/`/g, "'")}\`` : '';
}

function subject(request) {
  const what = request.action === 'read-secret' ? `read secret ${code(request.secret)}` : `deploy${request.target ? ` ${code(request.target)}` : ''}`;
  return `${what} to ${code(request.environment)}`;
}

/** Summary for a decision (allow or deny). */
export function decisionSummary({ decision, request, waited }) {
  const allowed = decision.verdict === 'allow';
  const lines = [
    `### DeployGate: ${allowed ? '✅ allowed' : '⛔ denied'} — ${subject(request)}`,
    '',
  ];
  const facts = [`decision ${code(decision.decision_id)}`];
  if (decision.evaluated_at) facts.push(`evaluated at ${cell(decision.evaluated_at)}`);
  const id = decision.identity;
  if (id?.repository) facts.push(`repository ${code(id.repository)}`);
  if (id?.ref) facts.push(`ref ${code(id.ref)}`);
  if (decision.policy?.source) facts.push(`policy ${code(decision.policy.source)}${decision.policy.revision ? ` @ ${code(String(decision.policy.revision).slice(0, 12))}` : ''}`);
  lines.push(facts.join(' · '), '');
  if (decision.break_glass) lines.push('**Break-glass:** window/freeze checks were overridden; this decision is flagged for review.', '');
  if (waited) lines.push(`Waited ${waited} for the window before this decision.`, '');
  lines.push('| check | result | code | message |', '|---|---|---|---|');
  for (const c of decision.checks) {
    lines.push(`| ${cell(c.check)} | ${icons[c.result] ?? cell(c.result)} | ${cell(c.code)} | ${cell(c.message)} |`);
  }
  lines.push('');
  if (!allowed) {
    lines.push(decision.next_allowed_at
      ? `**Next allowed at:** ${cell(decision.next_allowed_at)}`
      : '**Next allowed at:** — (not only a window or freeze is failing, or nothing opens within 366 days)', '');
  }
  if (allowed && decision.grant) {
    lines.push(`**Grant:** issued (masked in logs), expires ${cell(decision.grant.expires_at ?? '?')}, jti ${code(decision.grant.jti)}; revoked at job end by the post step.`, '');
  }
  return lines.join('\n');
}

/** Summary for an error (no decision obtained). */
export function errorSummary({ request, message }) {
  return [
    `### DeployGate: ❌ error — ${request ? subject(request) : 'request not sent'}`,
    '',
    `No decision was obtained, so the job is stopped (fail closed): ${cell(message)}`,
    '',
  ].join('\n');
}
