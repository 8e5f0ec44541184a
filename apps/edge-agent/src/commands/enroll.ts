import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createUser } from '@nats-io/nkeys';
import {
  DeviceId,
  decodeEnrollmentToken,
  decodeReply,
  EnrollReplyV1,
  EnrollRequestV1,
  encodeMessage,
  OutpostError,
  subjects,
} from '@outpost/protocol';
import { connect, credsAuthenticator } from 'nats';
import { formatCredsFile, writeFileAtomic } from '../credentials/creds-file.js';
import { errorMessage, StartupError } from '../errors.js';
import { type Command, EXIT_OK } from './command.js';

/** The files `enroll` writes in the state dir (docs/adr/0009-enrolment.md). */
export const ENROLLMENT_FILES = {
  seed: 'device.nk',
  creds: 'device.creds',
  ca: 'ca.pem',
  trustedKeys: 'trusted-keys.json',
  enrollment: 'enrollment.json',
  config: 'agent.json',
} as const;

const ENROLL_TIMEOUT_MS = 15_000;

export const enrollCommand: Command = {
  name: 'enroll',
  summary: 'enrol this device with a token from the cloud; writes its credential, CA and config',
  usage: `Usage: outpost-agent enroll --nats <url> (--token <token> | --token-file <file>) [--state-dir <dir>] [--device-id <id>] [--config <file>]

Generates this device's NKey (the seed never leaves the device), trades the enrolment token and the public key for
the device's NATS credential over NATS, and writes into the state dir (0700; secrets 0600):
  device.nk          the NKey seed
  device.creds       the NATS user JWT and seed (renewed by \`run\` before it expires)
  ca.pem             the CA certificate pinned for every connection
  trusted-keys.json  the deployment-signing public keys
  enrollment.json    device id, NATS URLs, public key, credential expiry
and an agent config (default <state-dir>/agent.json) for \`outpost-agent run --config\`.
The token carries the CA certificate: the agent talks only to a server that presents a certificate it issued.

Options:
  --nats <url>        the cloud NATS URL (tls://host:port)
  --token <token>     the enrolment token from POST /api/v1/devices or an enrolment group
  --token-file <file> read the token from a file instead (a token on a command line shows in \`ps\`)
  --state-dir <dir>   where to keep the device's files (default ./outpost-agent)
  --device-id <id>    the device id; required with a group token, must match a device token
  --config <file>     the agent config to write or update (default <state-dir>/agent.json)
  -h, --help          show this help`,

  async run(args) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        nats: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        'state-dir': { type: 'string' },
        'device-id': { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    if (values.token !== undefined && values['token-file'] !== undefined) {
      throw new StartupError('USAGE', ['enroll: give --token or --token-file, not both']);
    }
    const token = values['token-file'] !== undefined ? readTokenFile(values['token-file']) : values.token;
    const missing = [...(values.nats ? [] : ['--nats']), ...(token ? [] : ['--token (or --token-file)'])];
    if (missing.length > 0)
      throw new StartupError(
        'USAGE',
        missing.map((name) => `enroll: ${name} is required`),
      );
    const natsUrl = values.nats as string;
    if (!/^(nats|tls):\/\/[^/]+$/.test(natsUrl)) {
      throw new StartupError('USAGE', ['enroll: --nats must be a nats://host:port or tls://host:port URL']);
    }

    let bundle: ReturnType<typeof decodeEnrollmentToken>;
    try {
      bundle = decodeEnrollmentToken(token as string);
    } catch (err) {
      throw new StartupError('ENROLL_TOKEN_INVALID', [`enroll: --token: ${errorMessage(err)}`]);
    }
    const given = values['device-id'];
    if (given !== undefined && !DeviceId.safeParse(given).success) {
      throw new StartupError('USAGE', [`enroll: --device-id: "${given}" is not a valid device id`]);
    }
    if (bundle.deviceId && given && given !== bundle.deviceId) {
      throw new StartupError('USAGE', [
        `enroll: --device-id ${given} does not match the token's device ${bundle.deviceId}`,
      ]);
    }
    const deviceId = bundle.deviceId ?? given;
    if (!deviceId) throw new StartupError('USAGE', ['enroll: a group token needs --device-id <id>']);

    const stateDir = resolve(values['state-dir'] ?? 'outpost-agent');
    const configPath = resolve(values.config ?? join(stateDir, ENROLLMENT_FILES.config));
    const path = (name: keyof typeof ENROLLMENT_FILES) => join(stateDir, ENROLLMENT_FILES[name]);
    if (existsSync(path('creds')) || existsSync(path('enrollment'))) {
      throw new StartupError('ALREADY_ENROLLED', [
        `enroll: ${stateDir} already holds an enrolled device; use another --state-dir (or remove it to enrol again)`,
      ]);
    }
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });

    // The key is made here and only its public half is sent.
    const key = createUser();
    const seed = new TextDecoder().decode(key.getSeed());
    const publicKey = key.getPublicKey();
    writeFileAtomic(path('seed'), `${seed}\n`, 0o600);
    // Pin the CA from the token before connecting: an impostor server cannot present a chain to it.
    if (bundle.caPem) writeFileAtomic(path('ca'), bundle.caPem, 0o644);

    const nc = await connect({
      servers: natsUrl,
      name: `outpost-agent-enroll-${deviceId}`,
      inboxPrefix: subjects.enroll.inboxPrefix,
      timeout: ENROLL_TIMEOUT_MS,
      ...(bundle.creds
        ? {
            authenticator: credsAuthenticator(
              new TextEncoder().encode(formatCredsFile(bundle.creds.jwt, bundle.creds.seed)),
            ),
          }
        : {}),
      ...(bundle.caPem ? { tls: { caFile: path('ca') } } : {}),
    }).catch((err: unknown) => {
      throw new StartupError('ENROLL_CONNECT_FAILED', [`enroll: cannot connect to ${natsUrl}: ${errorMessage(err)}`], {
        cause: err,
      });
    });
    let reply: ReturnType<typeof decodeReply<typeof EnrollReplyV1>>;
    try {
      const answer = await nc.request(
        subjects.enroll.request,
        encodeMessage(EnrollRequestV1, { deviceId, token: bundle.secret, publicKey }),
        { timeout: ENROLL_TIMEOUT_MS },
      );
      reply = decodeReply(EnrollReplyV1, answer.data);
    } catch (err) {
      if (err instanceof OutpostError) {
        throw new StartupError('ENROLL_REFUSED', [`enroll: refused by the cloud (${err.code}): ${err.message}`], {
          cause: err,
        });
      }
      throw new StartupError('ENROLL_FAILED', [`enroll: no answer from the cloud: ${errorMessage(err)}`], {
        cause: err,
      });
    } finally {
      await nc.close();
    }
    if (reply.deviceId !== deviceId)
      throw new Error(`enroll: the cloud answered for ${reply.deviceId}, not ${deviceId}`);

    const ca = reply.caPem ?? bundle.caPem;
    if (ca) writeFileAtomic(path('ca'), ca, 0o644);
    if (reply.jwt) writeFileAtomic(path('creds'), formatCredsFile(reply.jwt, seed), 0o600);
    writeFileAtomic(path('trustedKeys'), `${JSON.stringify(reply.trustedKeys ?? [], null, 2)}\n`, 0o644);
    const natsUrls = [natsUrl, ...(reply.natsUrls ?? []).filter((url) => url !== natsUrl)];
    writeFileAtomic(
      path('enrollment'),
      `${JSON.stringify(
        {
          deviceId,
          natsUrls,
          publicKey,
          enrolledAt: new Date().toISOString(),
          credentialExpiresAt: reply.expiresAt ?? null,
        },
        null,
        2,
      )}\n`,
      0o600,
    );
    writeFileAtomic(
      configPath,
      `${JSON.stringify(agentConfig(configPath, { deviceId, natsUrl, stateDir, creds: reply.jwt ? path('creds') : null, ca: ca ? path('ca') : null }), null, 2)}\n`,
      0o600,
    );
    process.stdout.write(
      `enrolled ${deviceId} (key ${publicKey}${reply.expiresAt ? `, credential until ${reply.expiresAt}` : ''})\n` +
        `run it with: outpost-agent run --config ${configPath}\n`,
    );
    return EXIT_OK;
  },
};

/** The agent config after enrolment: an existing file keeps its other settings (heartbeat, log level). */
function agentConfig(
  configPath: string,
  enrolled: { deviceId: string; natsUrl: string; stateDir: string; creds: string | null; ca: string | null },
): Record<string, unknown> {
  let existing: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(configPath, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        existing = parsed as Record<string, unknown>;
    } catch {
      throw new StartupError('CONFIG_INVALID_JSON', [`enroll: ${configPath} exists but is not JSON; fix or remove it`]);
    }
  }
  const { natsUrl: _natsUrl, natsUrls: _natsUrls, credsFile: _creds, caFile: _ca, ...kept } = existing;
  return {
    ...kept,
    deviceId: enrolled.deviceId,
    natsUrl: enrolled.natsUrl,
    stateDir: typeof kept.stateDir === 'string' ? kept.stateDir : enrolled.stateDir,
    ...(enrolled.creds ? { credsFile: enrolled.creds } : {}),
    ...(enrolled.ca ? { caFile: enrolled.ca } : {}),
  };
}

/** The token from --token-file, trimmed; errors name the file, never its content. */
function readTokenFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new StartupError('USAGE', [`enroll: --token-file ${file}: cannot read (${errorMessage(err)})`]);
  }
}
