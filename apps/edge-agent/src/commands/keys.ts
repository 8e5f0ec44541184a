import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DeploymentSigningError, type ManifestInput, signDeployment } from '@outpost/manifest';
import { loadConfig } from '../config/index.js';
import { nextLocalVersion, readDesiredState } from '../desired/desired-state-file.js';
import { writeFileAtomic } from '../desired/files.js';
import { ensureLocalSigningKey, localSigningKeyPath, TrustError } from '../desired/trust.js';
import { errorMessage, StartupError } from '../errors.js';
import { prepareStateDir } from '../state/index.js';
import { type Command, EXIT_OK } from './command.js';

export const keysCommand: Command = {
  name: 'keys',
  summary: 'print the device-local signing key (made on first use); `keys sign` signs a local deployment',
  usage: `Usage: outpost-agent keys --config <file> [--json]
       outpost-agent keys sign --config <file> --file <manifest.json> [--out <signed.json>] [--id <id>] [--json]

Local deployments (\`outpost-agent deploy --file\`) run only when signed with this device's own key, unless the
agent config sets allowUnsignedLocal: true. The key is an ed25519 key pair made on first use and kept in
<stateDir>/local-signing-key.pem (0600; it never leaves the device). Cloud deployments are verified against the
cloud's keys only, local ones against this key only.

keys          prints the public key and its id (make it on first use).
keys sign     signs the manifest in --file for this device as a local deployment: id local-<time> (or --id),
              version = the current time in milliseconds (always above the last local version this device saw,
              so a newer signature replaces an older one and an older one is refused as stale). Writes the signed
              deployment to --out (atomically, 0600), or prints it when --out is not given.

Options:
  -c, --config <file>  agent config file (its deviceId and stateDir are used)
  --file <file>        (sign) the manifest to sign (JSON)
  --out <file>         (sign) where to write the signed deployment
  --id <id>            (sign) the deployment id (default local-<time>)
  --json               machine-readable output
  -h, --help           show this help`,

  async run(args) {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        file: { type: 'string' },
        out: { type: 'string' },
        id: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(`${this.usage}\n`);
      return EXIT_OK;
    }
    const [action, ...extra] = positionals;
    if ((action !== undefined && action !== 'sign') || extra.length > 0) {
      throw new StartupError('USAGE', [`keys: unknown argument "${[action, ...extra].join(' ')}" (only "sign")`]);
    }
    if (!values.config) throw new StartupError('USAGE', ['keys: --config <file> is required']);
    if (action !== 'sign') {
      for (const option of ['file', 'out', 'id'] as const) {
        if (values[option] !== undefined)
          throw new StartupError('USAGE', [`keys: --${option} is only for "keys sign"`]);
      }
    }
    if (action === 'sign' && !values.file)
      throw new StartupError('USAGE', ['keys sign: --file <manifest.json> is required']);

    const config = await loadConfig(values.config);
    await prepareStateDir(config.stateDir);
    const { key, created } = await ensureLocalSigningKey(config.stateDir).catch((err: unknown) => {
      if (err instanceof TrustError)
        throw new StartupError('STATE_DIR_UNUSABLE', [`keys: ${err.message}`], { cause: err });
      throw err;
    });

    if (action !== 'sign') {
      const keyFile = localSigningKeyPath(config.stateDir);
      if (values.json) {
        process.stdout.write(
          `${JSON.stringify({ deviceId: config.deviceId, keyId: key.keyId, publicKey: key.publicKey, keyFile, created })}\n`,
        );
      } else {
        process.stdout.write(
          `${created ? 'made a new device-local signing key' : 'device-local signing key'} (${keyFile})\n` +
            `  keyId      ${key.keyId}\n  publicKey  ${key.publicKey}\n`,
        );
      }
      return EXIT_OK;
    }

    const file = resolve(values.file as string);
    let manifest: unknown;
    try {
      manifest = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new StartupError('USAGE', [`keys sign: --file ${file}: ${errorMessage(err)}`], { cause: err });
    }
    const { record } = await readDesiredState(config.stateDir);
    const version = nextLocalVersion(record);
    const createdAt = new Date(Math.min(Date.now(), version)).toISOString();
    const id = values.id ?? `local-${createdAt.replace(/[:.]/g, '-')}`;
    let envelope: ReturnType<typeof signDeployment>;
    try {
      envelope = signDeployment(
        { id, deviceId: config.deviceId, version, createdAt, manifest: manifest as ManifestInput },
        key,
      );
    } catch (err) {
      if (err instanceof DeploymentSigningError) {
        throw new StartupError(
          'USAGE',
          err.issues.map(
            (issue) =>
              `keys sign: ${file}: ${issue.path.replace(/^manifest\.?/, '') || '(manifest)'}: ${issue.message}`,
          ),
          { cause: err },
        );
      }
      throw err;
    }
    const text = `${JSON.stringify(envelope, null, 2)}\n`;
    if (!values.out) {
      process.stdout.write(text);
      return EXIT_OK;
    }
    const out = resolve(values.out);
    await writeFileAtomic(out, text, 0o600);
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ out, deploymentId: id, deviceId: config.deviceId, version, keyId: key.keyId })}\n`,
      );
    } else {
      process.stdout.write(`signed ${id} (version ${version}) for ${config.deviceId} with key ${key.keyId}: ${out}\n`);
    }
    return EXIT_OK;
  },
};
