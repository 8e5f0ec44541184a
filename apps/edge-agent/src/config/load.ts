import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { z } from 'zod';
import { errorMessage, StartupError } from '../errors.js';
import { type AgentConfig, AgentConfigFile } from './schema.js';

/**
 * Reads and validates the agent's config file. Every failure is a StartupError whose lines start with
 * `config <absolute path>:` and name the field, e.g. `config /etc/outpost/agent.json: heartbeatIntervalMs: must be ≥ 100`.
 */
export async function loadConfig(path: string): Promise<AgentConfig> {
  const configPath = resolve(path);
  const where = `config ${configPath}`;

  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StartupError('CONFIG_NOT_FOUND', [`${where}: file not found`], { cause: err });
    throw new StartupError('CONFIG_UNREADABLE', [`${where}: cannot read: ${errorMessage(err)}`], { cause: err });
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StartupError('CONFIG_INVALID_JSON', [`${where}: not valid JSON: ${errorMessage(err)}`], { cause: err });
  }

  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new StartupError('CONFIG_INVALID', [`${where}: must be a JSON object`]);
  }
  const parsed = AgentConfigFile.safeParse(json, { error: describeTypeIssue });
  if (!parsed.success) {
    throw new StartupError(
      'CONFIG_INVALID',
      issueLines(parsed.error).map((line) => `${where}: ${line}`),
    );
  }
  const file = parsed.data;
  const fromConfigDir = (path: string | undefined) => (path === undefined ? null : resolve(dirname(configPath), path));
  const credsFile = fromConfigDir(file.credsFile);
  const caFile = fromConfigDir(file.caFile);
  const fileProblems = [
    ...(credsFile ? await readableFileProblems('credsFile', credsFile) : []),
    ...(caFile ? await readableFileProblems('caFile', caFile) : []),
  ];
  if (fileProblems.length > 0) {
    throw new StartupError(
      'CONFIG_INVALID',
      fileProblems.map((line) => `${where}: ${line}`),
    );
  }
  const stateDir = resolve(dirname(configPath), file.stateDir);
  return {
    configPath,
    deviceId: file.deviceId,
    natsServers: file.natsUrls ?? (file.natsUrl ? [file.natsUrl] : []),
    stateDir,
    heartbeatIntervalMs: file.heartbeatIntervalMs,
    logLevel: file.logLevel,
    credsFile,
    caFile,
    modulesDir: fromConfigDir(file.modulesDir) ?? join(stateDir, 'modules'),
    moduleUser: file.moduleUser,
    modulesOnAgentStop: file.modulesOnAgentStop,
    allowUnsignedLocal: file.allowUnsignedLocal,
    desiredRefreshIntervalMs: file.desiredRefreshIntervalMs,
    controlSocket: fromConfigDir(file.controlSocket) ?? join(stateDir, 'agent.sock'),
    containers: {
      dockerHost: file.containers.dockerHost ?? null,
      allowPrivileged: file.containers.allowPrivileged,
      allowHostPid: file.containers.allowHostPid,
      allowCapAdd: file.containers.allowCapAdd,
      registryCredentials: Object.fromEntries(
        Object.entries(file.containers.registryCredentials).map(([ref, credentials]) => [
          ref,
          { ...credentials, passwordFile: resolve(dirname(configPath), credentials.passwordFile) },
        ]),
      ),
    },
  };
}

/** `field: <path> …` when the file is missing or unreadable (the content is never quoted: it may be a secret). */
async function readableFileProblems(field: string, path: string): Promise<string[]> {
  try {
    const content = await readFile(path, 'utf8');
    if (content.trim() === '') return [`${field}: ${path} is empty`];
    return [];
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [`${field}: ${path} not found`];
    return [`${field}: ${path} cannot be read (${code ?? errorMessage(err)})`];
  }
}

/** zod's default type messages ("Invalid input: expected string, received undefined") made plain. */
function describeTypeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'required';
  return `must be ${issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}`;
}

const KNOWN_KEYS = Object.keys(AgentConfigFile.shape).join(', ');

/** One `field: problem` line per issue; unknown keys get one line each, naming the key and the allowed ones. */
function issueLines(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      // Top-level typos get the list of keys; nested ones (containers.…) are named with their full path.
      return issue.keys.map((key) =>
        field ? `${field}.${key}: unknown key` : `${key}: unknown key (allowed: ${KNOWN_KEYS})`,
      );
    }
    return [field ? `${field}: ${issue.message}` : issue.message];
  });
}
