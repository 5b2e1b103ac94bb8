// Workflow commands, inputs and the runner's environment files (GITHUB_OUTPUT, GITHUB_STATE,
// GITHUB_STEP_SUMMARY). Same wire format as @actions/core, without the dependency.
import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { EOL } from 'node:os';

/** Escapes the message part of `::cmd props::message`. */
export function escapeData(value) {
  return String(value).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a property value of `::cmd key=value,…::`; `:` and `,` would end the value. */
export function escapeProperty(value) {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Formats one workflow command line (without the line ending). */
export function formatCommand(name, properties, message) {
  const props = Object.entries(properties ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${name}${props ? ` ${props}` : ''}::${escapeData(message ?? '')}`;
}

/** Plain log text on one line, so gate-supplied text can never start a workflow command. */
export function oneLine(text) {
  return String(text ?? '').replace(/[\r\n]+/g, ' ');
}

/**
 * The runner interface the action talks to. Everything goes through here so tests can run the
 * action in-process and record the order of events (e.g. that a mask precedes any use).
 */
export function createRunner({
  env = process.env,
  write = (text) => process.stdout.write(text),
  appendFile = (path, text) => appendFileSync(path, text, { encoding: 'utf8' }),
} = {}) {
  const command = (name, properties, message) => write(formatCommand(name, properties, message) + EOL);

  function appendEnvFile(variable, text) {
    const path = env[variable];
    if (!path) {
      command('warning', { title: 'DeployGate' }, `${variable} is not set; cannot write ${variable.toLowerCase().replace('github_', '')}`);
      return false;
    }
    appendFile(path, text);
    return true;
  }

  // Heredoc form `name<<DELIM` … `DELIM`, safe for any value (newlines, `=`) as long as the
  // random delimiter does not occur in it, which we check like @actions/core does.
  function keyValue(variable, name, value) {
    const text = String(value ?? '');
    const delimiter = `ghadelimiter_${randomUUID()}`;
    if (name.includes(delimiter) || text.includes(delimiter)) {
      throw new Error(`unexpected input: ${variable} name or value contains the delimiter`);
    }
    return appendEnvFile(variable, `${name}<<${delimiter}${EOL}${text}${EOL}${delimiter}${EOL}`);
  }

  return {
    env,
    /** Input as the runner passes it: INPUT_<NAME upper-cased, spaces → _>, trimmed. */
    input(name, fallback = '') {
      const value = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
      const trimmed = (value ?? '').trim();
      return trimmed === '' ? fallback : trimmed;
    },
    log: (line) => write(oneLine(line) + EOL),
    command,
    addMask: (secret) => command('add-mask', {}, secret),
    error: (message, properties) => command('error', properties, message),
    warning: (message, properties) => command('warning', properties, message),
    notice: (message, properties) => command('notice', properties, message),
    setOutput: (name, value) => keyValue('GITHUB_OUTPUT', name, value),
    saveState: (name, value) => keyValue('GITHUB_STATE', name, value),
    getState: (name) => env[`STATE_${name}`] ?? '',
    appendSummary: (markdown) => appendEnvFile('GITHUB_STEP_SUMMARY', markdown.endsWith(EOL) ? markdown : markdown + EOL),
  };
}
