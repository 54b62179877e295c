/**
 * `pulse check-config` and `pulse config`: the configuration Pulse would start with, from
 * this environment plus the environment file PULSE_ENV_FILE names (what systemd's
 * EnvironmentFile= adds to the unit's processes). Nothing is started and nothing connects.
 */
import { CONFIG_VARIABLES, ConfigError, loadConfig, usesDevelopmentJwtSecret, type Config } from '../shared/config.js';
import { EnvFileError, loadEnvFile } from '../shared/env-file.js';
import { ExitCode } from '../shared/exit-codes.js';
import { redactUrl } from '../shared/logger.js';
import { print } from './output.js';

const ENV_FILE_VARIABLE = 'PULSE_ENV_FILE';

interface Effective {
  config: Config;
  /** Names set by the environment file that Pulse does not read (typos, other programs' settings). */
  unknownInFile: string[];
}

/** This environment with the environment file's assignments on top, as systemd applies them. */
function effectiveConfig(env: NodeJS.ProcessEnv): Effective {
  const file = env[ENV_FILE_VARIABLE];
  const fromFile = file ? loadEnvFile(file) : {};
  return {
    config: loadConfig({ ...env, ...fromFile }),
    unknownInFile: Object.keys(fromFile).filter((name) => !CONFIG_VARIABLES.includes(name)),
  };
}

/** The configuration with every secret replaced: the JWT secret, the password of every URL. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const redacted: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(config)) {
    if (key.endsWith('Url') && typeof value === 'string') redacted[key] = redactUrl(value);
  }
  redacted.jwtSecret = usesDevelopmentJwtSecret(config) ? '[development secret]' : '[redacted]';
  return redacted;
}

/** Prints the one-line reason and returns the exit code, or rethrows what is not a config problem. */
function configFailure(error: unknown): number {
  if (error instanceof ConfigError || error instanceof EnvFileError) {
    process.stderr.write(`pulse: ${error.message}\n`);
    return ExitCode.config;
  }
  throw error;
}

/** Validates like `nginx -t`: exit 0 with a summary, or 78 with one line naming the problem. */
export function checkConfig(env: NodeJS.ProcessEnv = process.env): number {
  let effective: Effective;
  try {
    effective = effectiveConfig(env);
  } catch (error) {
    return configFailure(error);
  }
  const { config, unknownInFile } = effective;
  for (const name of unknownInFile) process.stderr.write(`pulse: warning: ${config.envFile} sets ${name}, which is not a Pulse setting\n`);
  if (usesDevelopmentJwtSecret(config)) process.stderr.write('pulse: warning: JWT_SECRET is not set: the development secret would be used (never do this in production)\n');
  const sources = config.envFile ? `the environment and ${config.envFile}` : 'the environment';
  print(`pulse: configuration OK (from ${sources}): ${config.workers} workers on ${config.host}:${config.port}, admin on ${config.adminHost}:${config.adminPort}`);
  return ExitCode.ok;
}

/** Prints the effective configuration as JSON, secrets redacted; 78 if it is invalid. */
export function printConfig(env: NodeJS.ProcessEnv = process.env): number {
  try {
    print(JSON.stringify(redactedConfig(effectiveConfig(env).config), null, 2));
    return ExitCode.ok;
  } catch (error) {
    return configFailure(error);
  }
}
