import { constants, readFileSync } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseArgs } from 'node:util';
import { subjects } from '@outpost/protocol';
import { credsAuthenticator, connect as natsConnect } from 'nats';
import { pino } from 'pino';
import { type AgentConfig, loadConfig } from '../config/index.js';
import { redactUrl } from '../connection/index.js';
import { formatDuration } from '../control/cli-support.js';
import { ControlClient } from '../control/client.js';
import { type DeviceCredential, readCredsFile } from '../credentials/creds-file.js';
import { LastKnownGoodStore } from '../desired/index.js';
import { errorMessage, StartupError } from '../errors.js';
import type { ModuleType } from '../runtime/contracts.js';
import { type Command, EXIT_FAILURE, EXIT_OK } from './command.js';

export type CheckLevel = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly check: string;
  readonly level: CheckLevel;
  readonly detail: string;
  /** How to fix it; set for warn and fail. */
  readonly hint?: string;
}

const DAY_MS = 86_400_000;
/** Renewal runs at 2/3 of a 30-day credential (10 days left): under 7 days left, renewal has been failing for days. */
export const CREDENTIAL_WARN_MS = 7 * DAY_MS;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
export const DISK_FAIL_BYTES = 100 * MiB;
export const DISK_WARN_BYTES = GiB;
export const DISK_WARN_FRACTION = 0.1;
/** Clock differences under this are noise (JWT times are whole seconds; the probe takes time). */
const CLOCK_TOLERANCE_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export const checkCommand: Command = {
  name: 'check',
  summary: 'check this device: config, permissions, cloud NATS and TLS, credential, disk, clock, container engine',
  usage: `Usage: outpost-agent check --config <file> [--timeout <ms>] [--json]

Checks what the agent needs, without the agent running, and prints one line per check:
  ok|warn|fail <check>: <detail>
with a fix hint under each warn and fail:
  config        the config file is valid
  state-dir     exists, writable, not readable or writable by others (0711: traverse only)
  creds-file    the credential file is 0600
  credential    the credential's expiry (warn under 7 days, fail when expired)
  nats <url>    reachable, TLS certificate valid for the pinned CA, credential accepted
  clock         skew against the credential's issue time and the server certificate's validity window
                (NATS offers no server time, so these bound the clock rather than measure it)
  disk          free space for the state dir (warn under 10% or 1 GiB, fail under 100 MiB)
  containers    the Docker Engine API (containers.dockerHost, DOCKER_HOST or ${DEFAULT_DOCKER_SOCKET}) answers;
                a warn when unreachable and no container module is deployed
Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 bad usage.

Options:
  -c, --config <file>  the agent config file
      --timeout <ms>   how long each network check may take (default ${DEFAULT_TIMEOUT_MS})
      --json           {"ok": bool, "checks": [{check, level, detail, hint}]} on stdout
  -h, --help           show this help`,

  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    if (!values.config) throw new StartupError('USAGE', ['check: --config <file> is required']);
    const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : Number(values.timeout);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 100) {
      throw new StartupError('USAGE', [`check: --timeout must be whole milliseconds >= 100 (got "${values.timeout}")`]);
    }
    const json = values.json === true;
    const results: CheckResult[] = [];
    const report = (result: CheckResult) => {
      results.push(result);
      if (!json) process.stdout.write(`${formatCheck(result)}\n`);
    };
    await runChecks(values.config, timeoutMs, report);
    const failed = results.some((result) => result.level === 'fail');
    if (json) process.stdout.write(`${JSON.stringify({ ok: !failed, checks: results }, null, 2)}\n`);
    return failed ? EXIT_FAILURE : EXIT_OK;
  },
};

export function formatCheck(result: CheckResult): string {
  const line = `${result.level.padEnd(4)} ${result.check}: ${result.detail}`;
  return result.hint ? `${line}\n     fix: ${result.hint}` : line;
}

/** Runs every check in order, reporting each as soon as it is known. */
export async function runChecks(
  configPath: string,
  timeoutMs: number,
  report: (result: CheckResult) => void,
): Promise<void> {
  let config: AgentConfig;
  try {
    config = await loadConfig(configPath);
  } catch (err) {
    const lines = err instanceof StartupError ? err.lines : [errorMessage(err)];
    for (const line of lines) report({ check: 'config', level: 'fail', detail: line, hint: configHint(line) });
    return;
  }
  report({ check: 'config', level: 'ok', detail: `${config.configPath} is valid (device ${config.deviceId})` });
  report(await checkStateDir(config.stateDir));

  let credential: DeviceCredential | null = null;
  if (config.credsFile) {
    report(await checkCredsFileMode(config.credsFile));
    try {
      credential = readCredsFile(config.credsFile);
      report(checkCredentialExpiry(credential));
    } catch (err) {
      report({
        check: 'credential',
        level: 'fail',
        detail: errorMessage(err),
        hint: 'enrol the device again (`outpost-agent enroll`) to get a new creds file',
      });
    }
  } else {
    report({
      check: 'credential',
      level: 'warn',
      detail: 'no credsFile in the config: the agent connects without a credential (only a plain dev NATS allows that)',
      hint: 'enrol the device (`outpost-agent enroll --nats <url> --token <token>`) to get a credential and CA',
    });
  }

  const certificates: CertificateWindow[] = [];
  for (const url of config.natsServers) {
    const { result, certificate } = await checkNats(url, config, credential, timeoutMs);
    report(result);
    if (certificate) certificates.push(certificate);
  }
  report(checkClock(credential, certificates));
  report(await checkDisk(config.stateDir));
  report(await checkContainerEngine(config, timeoutMs));
}

function configHint(line: string): string {
  if (/credsFile: .* not found/.test(line)) {
    return 'enrol the device (`outpost-agent enroll`), or point credsFile at the enrolled creds file';
  }
  if (/caFile: .* not found/.test(line)) return 'point caFile at the CA certificate written at enrolment (ca.pem)';
  if (/file not found/.test(line)) return 'give the path of the agent config (written by `outpost-agent enroll`)';
  return 'fix the field named above in the config file (see the agent README for every field)';
}

// --- local files ----------------------------------------------------------------------------------------------------

export async function checkStateDir(stateDir: string): Promise<CheckResult> {
  const check = 'state-dir';
  let mode: number;
  try {
    const stats = await stat(stateDir);
    if (!stats.isDirectory()) {
      return { check, level: 'fail', detail: `${stateDir} is not a directory`, hint: 'set stateDir to a directory' };
    }
    mode = stats.mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        check,
        level: 'warn',
        detail: `${stateDir} does not exist yet`,
        hint: `the agent creates it on start; or \`mkdir -m 700 ${stateDir}\``,
      };
    }
    return { check, level: 'fail', detail: `${stateDir}: ${errorMessage(err)}`, hint: 'make it readable by the agent' };
  }
  const octal = mode.toString(8).padStart(3, '0');
  try {
    await access(stateDir, constants.W_OK | constants.X_OK);
  } catch {
    return {
      check,
      level: 'fail',
      detail: `${stateDir} is not writable by this user`,
      hint: `run as the agent's user, or \`chown\` the directory to it`,
    };
  }
  // Traverse (x) for others is by design: process modules running as another user reach their own dirs inside it.
  if (mode & 0o006) {
    return {
      check,
      level: 'fail',
      detail: `${stateDir} is readable or writable by others (mode ${octal}): it holds the device's key and deployments`,
      hint: `chmod 711 ${stateDir}`,
    };
  }
  if (mode & 0o060) {
    return {
      check,
      level: 'warn',
      detail: `${stateDir} is readable or writable by its group (mode ${octal})`,
      hint: `chmod 711 ${stateDir}`,
    };
  }
  return { check, level: 'ok', detail: `${stateDir} (mode ${octal})` };
}

async function checkCredsFileMode(credsFile: string): Promise<CheckResult> {
  const mode = (await stat(credsFile)).mode & 0o777;
  const octal = mode.toString(8).padStart(3, '0');
  if (mode & 0o077) {
    return {
      check: 'creds-file',
      level: 'fail',
      detail: `${credsFile} is readable by group or others (mode ${octal}): it holds the device's secret seed`,
      hint: `chmod 600 ${credsFile}`,
    };
  }
  return { check: 'creds-file', level: 'ok', detail: `${credsFile} (mode ${octal})` };
}

export function checkCredentialExpiry(credential: DeviceCredential, now = Date.now()): CheckResult {
  const check = 'credential';
  const { expiresAt } = credential;
  if (!expiresAt) return { check, level: 'ok', detail: `${credential.publicKey} does not expire` };
  const left = expiresAt.getTime() - now;
  if (left <= 0) {
    return {
      check,
      level: 'fail',
      detail: `expired ${formatDuration(-left / 1000)} ago (${expiresAt.toISOString()}): NATS refuses it`,
      hint: 'enrol the device again with a new token (`outpost-agent enroll`); the agent cannot renew an expired credential',
    };
  }
  if (left < CREDENTIAL_WARN_MS) {
    return {
      check,
      level: 'warn',
      detail: `expires in ${formatDuration(left / 1000)} (${expiresAt.toISOString()})`,
      hint: 'the running agent renews it while online: check that it is connected and its log for CREDENTIAL_RENEW_* codes',
    };
  }
  return { check, level: 'ok', detail: `expires in ${formatDuration(left / 1000)} (${expiresAt.toISOString()})` };
}

// --- NATS and TLS ---------------------------------------------------------------------------------------------------

interface CertificateWindow {
  readonly server: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

interface TlsProbe {
  readonly tlsRequired: boolean;
  readonly serverVersion: string | null;
  readonly authorized: boolean;
  readonly authorizationError: string | null;
  readonly certificate: CertificateWindow | null;
}

/**
 * Reads the server's INFO and, when it asks for TLS, performs the handshake against the pinned CA: NATS starts in
 * plaintext and upgrades, so a plain TLS dial would not do. This names TLS problems precisely (untrusted, expired,
 * wrong host) and yields the certificate's validity window for the clock check.
 */
function probeTls(url: URL, caFile: string | null, timeoutMs: number): Promise<TlsProbe> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 4222);
  return new Promise<TlsProbe>((resolve, reject) => {
    const socket = netConnect({ host, port });
    let secured: Socket | null = null;
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      secured?.destroy();
      socket.destroy();
    };
    const fail = (err: Error) => {
      done();
      reject(err);
    };
    socket.once('error', fail);
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n');
      if (end < 0) {
        if (buffer.length > 64 * 1024) fail(new Error('the server sent no NATS INFO line'));
        return;
      }
      socket.off('data', onData);
      const line = buffer.slice(0, end);
      if (!line.startsWith('INFO ')) {
        fail(new Error(`not a NATS server (it said "${line.slice(0, 40)}")`));
        return;
      }
      let info: { tls_required?: boolean; version?: string };
      try {
        info = JSON.parse(line.slice(5)) as typeof info;
      } catch {
        fail(new Error('the server sent an unreadable NATS INFO line'));
        return;
      }
      const serverVersion = info.version ?? null;
      if (!info.tls_required) {
        done();
        resolve({ tlsRequired: false, serverVersion, authorized: false, authorizationError: null, certificate: null });
        return;
      }
      const tls = tlsConnect({
        socket,
        ...(isIP(host) ? {} : { servername: host }),
        ...(caFile ? { ca: readFileSync(caFile) } : {}),
        rejectUnauthorized: false, // decided below from authorizationError, so the report can say why
      });
      secured = tls;
      tls.once('error', fail);
      tls.once('secureConnect', () => {
        const peer = tls.getPeerCertificate();
        const certificate =
          peer?.valid_from && peer.valid_to
            ? { server: redactUrl(url.href), validFrom: new Date(peer.valid_from), validTo: new Date(peer.valid_to) }
            : null;
        const error = tls.authorizationError;
        done();
        resolve({
          tlsRequired: true,
          serverVersion,
          authorized: tls.authorized,
          authorizationError: error ? String(error) : null,
          certificate,
        });
      });
    };
    socket.on('data', onData);
  });
}

async function checkNats(
  server: string,
  config: AgentConfig,
  credential: DeviceCredential | null,
  timeoutMs: number,
): Promise<{ result: CheckResult; certificate: CertificateWindow | null }> {
  const check = `nats ${redactUrl(server)}`;
  const url = new URL(server);
  let probe: TlsProbe;
  try {
    probe = await probeTls(url, config.caFile, timeoutMs);
  } catch (err) {
    return {
      result: {
        check,
        level: 'fail',
        detail: `unreachable: ${errorMessage(err)}`,
        hint: `check the device's network, DNS and firewall towards ${url.host}, and that the URL in the config is right`,
      },
      certificate: null,
    };
  }
  const certificate = probe.certificate;
  if (probe.tlsRequired && !probe.authorized) {
    return {
      result: {
        check,
        level: 'fail',
        detail: `TLS certificate not valid: ${describeTlsError(probe.authorizationError)}`,
        hint: config.caFile
          ? `caFile ${config.caFile} must be the CA that issued the server's certificate (re-enrol to fetch it); check the device clock if the certificate is reported not yet valid or expired`
          : 'set caFile to the CA certificate written at enrolment',
      },
      certificate,
    };
  }
  if (config.caFile && !probe.tlsRequired) {
    return {
      result: {
        check,
        level: 'fail',
        detail: 'the server offers no TLS, but the config pins a CA (the agent will refuse to connect)',
        hint: 'use the cloud NATS TLS endpoint (tls://host:port) in natsUrl',
      },
      certificate,
    };
  }
  const started = Date.now();
  try {
    const nc = await natsConnect({
      servers: server,
      name: `outpost-agent check ${config.deviceId}`,
      inboxPrefix: subjects.device.inboxPrefix(config.deviceId),
      timeout: timeoutMs,
      reconnect: false,
      maxReconnectAttempts: 0,
      ...(config.credsFile && credential ? { authenticator: credsAuthenticator(readFileSync(config.credsFile)) } : {}),
      ...(config.caFile ? { tls: { caFile: config.caFile } } : {}),
    });
    try {
      await nc.flush();
    } finally {
      await nc.close();
    }
  } catch (err) {
    const message = errorMessage(err);
    const auth = /authori[sz]ation|authentication|expired|permission/i.test(message);
    return {
      result: {
        check,
        level: 'fail',
        detail: `${auth ? 'credential refused' : 'connect failed'}: ${message}`,
        hint: auth
          ? 're-enrol the device, or ask the operator whether it was revoked (POST /api/v1/devices/:id/revoke)'
          : `check that ${url.host} runs the Outpost NATS server and the network allows the connection`,
      },
      certificate,
    };
  }
  const secure = probe.tlsRequired ? `TLS verified against ${config.caFile ?? 'the system CAs'}` : 'plaintext, no TLS';
  const detail = `connected${credential ? ` as ${credential.publicKey.slice(0, 8)}...` : ' without a credential'} (${secure}, nats-server ${probe.serverVersion ?? '?'}, ${Date.now() - started} ms)`;
  if (!probe.tlsRequired) {
    return {
      result: {
        check,
        level: 'warn',
        detail,
        hint: 'plaintext NATS is for development; production devices connect over TLS with a pinned CA',
      },
      certificate,
    };
  }
  return { result: { check, level: 'ok', detail }, certificate };
}

function describeTlsError(code: string | null): string {
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `not issued by the pinned CA (${code})`;
    case 'CERT_HAS_EXPIRED':
      return 'the server certificate has expired (or this clock is ahead) (CERT_HAS_EXPIRED)';
    case 'CERT_NOT_YET_VALID':
      return 'the server certificate is not valid yet (or this clock is behind) (CERT_NOT_YET_VALID)';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'the certificate does not name this host (ERR_TLS_CERT_ALTNAME_INVALID)';
    default:
      return code ?? 'unknown reason';
  }
}

// --- clock ----------------------------------------------------------------------------------------------------------

/**
 * NATS gives clients no server time, so the clock is checked against times the cloud vouched for: the credential's
 * `iat` (issued by the cloud; now must be after it) and each server certificate's validity window (now must be inside
 * it). These catch a clock that is badly behind (the usual case: a device without an RTC booting in 1970) or ahead,
 * but cannot measure small skew; the detail says which sources were used.
 */
export function checkClock(
  credential: DeviceCredential | null,
  certificates: readonly CertificateWindow[],
  now = Date.now(),
): CheckResult {
  const check = 'clock';
  const local = new Date(now).toISOString();
  const hint = 'set the time and keep it synced (`timedatectl set-ntp true`, chrony or systemd-timesyncd)';
  const sources: string[] = [];
  if (credential?.issuedAt) {
    const issued = credential.issuedAt.getTime();
    if (issued - now > CLOCK_TOLERANCE_MS) {
      return {
        check,
        level: 'fail',
        detail: `this clock (${local}) is at least ${formatDuration((issued - now) / 1000)} behind: the credential was issued at ${credential.issuedAt.toISOString()}`,
        hint,
      };
    }
    sources.push(`after the credential's issue time ${credential.issuedAt.toISOString()}`);
  }
  for (const certificate of certificates) {
    if (now < certificate.validFrom.getTime() - CLOCK_TOLERANCE_MS) {
      return {
        check,
        level: 'fail',
        detail: `this clock (${local}) is behind: ${certificate.server}'s certificate is valid only from ${certificate.validFrom.toISOString()}`,
        hint,
      };
    }
    if (now > certificate.validTo.getTime() + CLOCK_TOLERANCE_MS) {
      return {
        check,
        level: 'fail',
        detail: `this clock (${local}) is past ${certificate.server}'s certificate expiry ${certificate.validTo.toISOString()}: the clock is ahead or the certificate expired`,
        hint: `${hint}; if the clock is right, the server's certificate must be renewed`,
      };
    }
    sources.push(
      `within ${certificate.server}'s certificate validity (${certificate.validFrom.toISOString()} to ${certificate.validTo.toISOString()})`,
    );
  }
  if (sources.length === 0) {
    return {
      check,
      level: 'warn',
      detail: `no time source to compare ${local} with (no credential, no TLS server reached)`,
      hint,
    };
  }
  return {
    check,
    level: 'ok',
    detail: `${local} is ${sources.join(' and ')} (bounds only: NATS offers no server time)`,
  };
}

// --- disk -----------------------------------------------------------------------------------------------------------

export async function checkDisk(stateDir: string): Promise<CheckResult> {
  const check = 'disk';
  // The state dir may not exist yet: measure the file system it will be created on.
  let dir = stateDir;
  for (;;) {
    try {
      await stat(dir);
      break;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  let free: number;
  let total: number;
  try {
    const fs = await statfs(dir);
    free = fs.bavail * fs.bsize;
    total = fs.blocks * fs.bsize;
  } catch (err) {
    return { check, level: 'fail', detail: `cannot measure ${dir}: ${errorMessage(err)}`, hint: 'check the mount' };
  }
  const share = total > 0 ? free / total : 0;
  const detail = `${formatBytes(free)} free of ${formatBytes(total)} (${Math.round(share * 100)}%) on ${dir}`;
  const hint = 'free space (old images, logs), or move stateDir to a larger file system';
  if (free < DISK_FAIL_BYTES) return { check, level: 'fail', detail, hint };
  if (free < DISK_WARN_BYTES || share < DISK_WARN_FRACTION) return { check, level: 'warn', detail, hint };
  return { check, level: 'ok', detail };
}

function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  return `${Math.round(bytes / MiB)} MiB`;
}

// --- container engine -----------------------------------------------------------------------------------------------

/** The engine endpoint the container driver uses: the config, then DOCKER_HOST, then the default socket. */
export function dockerEndpoint(config: AgentConfig, env: NodeJS.ProcessEnv = process.env): string {
  return config.containers.dockerHost ?? env.DOCKER_HOST ?? `unix://${DEFAULT_DOCKER_SOCKET}`;
}

function pingEngine(endpoint: string, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let target: { socketPath: string } | { host: string; port: number };
    if (endpoint.startsWith('unix://')) {
      target = { socketPath: endpoint.slice('unix://'.length) };
    } else if (/^(tcp|http):\/\//.test(endpoint)) {
      const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
      target = { host: url.hostname, port: Number(url.port || 2375) };
    } else {
      reject(new Error(`unsupported endpoint ${endpoint} (use unix:///path or tcp://host:port)`));
      return;
    }
    const req = httpRequest({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode === 200 && body.trim() === 'OK') {
          const api = res.headers['api-version'];
          resolve(typeof api === 'string' ? `API ${api}` : 'answers');
        } else {
          reject(new Error(`GET /_ping answered ${res.statusCode} ${body.slice(0, 80)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function checkContainerEngine(config: AgentConfig, timeoutMs: number): Promise<CheckResult> {
  const check = 'containers';
  const endpoint = dockerEndpoint(config);
  try {
    const answer = await pingEngine(endpoint, timeoutMs);
    return { check, level: 'ok', detail: `container engine at ${endpoint} ${answer}` };
  } catch (err) {
    const { modules: containerModules, engineRefused } = await deployedContainerModules(config, timeoutMs);
    const hint = `start the engine (\`systemctl start docker\`, or \`podman system service unix://...\`) or set containers.dockerHost in the config (or DOCKER_HOST)`;
    if (containerModules.length > 0) {
      return {
        check,
        level: 'fail',
        detail: `no container engine at ${endpoint} (${errorMessage(err)}), and container modules are deployed: ${containerModules.join(', ')}`,
        hint,
      };
    }
    if (engineRefused) {
      return {
        check,
        level: 'fail',
        detail: `no container engine at ${endpoint} (${errorMessage(err)}), and the last deployment failed for it: ${engineRefused}`,
        hint,
      };
    }
    return {
      check,
      level: 'warn',
      detail: `no container engine at ${endpoint} (${errorMessage(err)}); no container module is deployed, so only process modules can run`,
      hint,
    };
  }
}

/**
 * Container modules the device runs: from the running agent when it answers, else from the last-known-good. With the
 * agent running, also the deployment it could not apply for want of an engine (its description carries the driver's
 * ENGINE_UNAVAILABLE code), since such a deployment leaves no container module behind to show.
 */
async function deployedContainerModules(
  config: AgentConfig,
  timeoutMs: number,
): Promise<{ modules: string[]; engineRefused: string | null }> {
  const byType = (modules: Iterable<[string, ModuleType]>) =>
    [...modules].filter(([, type]) => type === 'container').map(([name]) => name);
  try {
    const list = await new ControlClient(config.controlSocket).request({ op: 'list' }, timeoutMs);
    const { deployment } = list;
    return {
      modules: byType(list.modules.map((module) => [module.name, module.type])),
      engineRefused:
        deployment.code !== 200 && deployment.description.includes('ENGINE_UNAVAILABLE')
          ? `v${deployment.version} (${deployment.code})`
          : null,
    };
  } catch {
    // Not running: fall back to what it would start on boot.
  }
  try {
    const store = new LastKnownGoodStore({
      stateDir: config.stateDir,
      deviceId: config.deviceId,
      allowUnsignedLocal: config.allowUnsignedLocal,
      log: pino({ level: 'silent' }),
    });
    const deployment = await store.load();
    if (!deployment) return { modules: [], engineRefused: null };
    return {
      modules: byType(Object.entries(deployment.manifest.modules).map(([name, module]) => [name, module.type])),
      engineRefused: null,
    };
  } catch {
    return { modules: [], engineRefused: null };
  }
}
