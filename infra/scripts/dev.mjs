#!/usr/bin/env node
// `pnpm dev`: the whole local stack in one command — a private nats-server (unless NATS_URL is set), the cloud API on
// embedded PGlite (unless DATABASE_URL is set), the portal, and one edge agent `dev-device-01` (registered through the
// API and enrolled with `outpost-agent enroll` on the first run). Ctrl-C stops every child it started, in reverse
// order, each in its own process group so nothing is orphaned.
// The private nats-server runs as production does: operator/JWT mode with the full resolver and TLS. The identity
// (operator, accounts, service users) and a dev CA are made once under .outpost/identity and .outpost/pki.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = process.env;
const stateDir = resolve(root, env.OUTPOST_STATE_DIR ?? '.outpost');
const apiPort = Number(env.PORT ?? 4000);
const portalPort = Number(env.PORTAL_PORT ?? 3000);
const natsPort = Number(env.OUTPOST_NATS_PORT ?? 4223);
const natsMonitorPort = Number(env.OUTPOST_NATS_MONITOR_PORT ?? 8223);
const deviceId = env.OUTPOST_DEV_DEVICE_ID ?? 'dev-device-01';
const READY_TIMEOUT_MS = Number(env.OUTPOST_DEV_READY_TIMEOUT_MS ?? 180_000);

const children = [];
let stopping = false;

function log(message) {
  process.stdout.write(`[dev] ${message}\n`);
}

function fail(message, code = 1) {
  process.stderr.write(`[dev] error: ${message}\n`);
  void shutdown(code);
}

function portIsFree(port) {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

/** One log line from a child, shortened when it is pino JSON so the terminal stays readable. */
function formatLine(name, line) {
  if (line.startsWith('{')) {
    try {
      const { level, msg, time, pid, hostname, ...rest } = JSON.parse(line);
      const levels = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return `[${name}] ${levels[level] ?? level} ${msg ?? ''}${extra}`;
    } catch {
      // not JSON after all: print as is
    }
  }
  return `[${name}] ${line}`;
}

/** Starts a child in its own process group; resolves once a line matches `ready`. */
function start(name, command, args, { cwd = root, extraEnv = {}, ready }) {
  const child = spawn(command, args, {
    cwd,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const entry = { name, child, exited: false };
  children.push(entry);
  return new Promise((resolveReady, rejectReady) => {
    let isReady = false;
    const timer = setTimeout(() => {
      if (!isReady) rejectReady(new Error(`${name} did not become ready within ${READY_TIMEOUT_MS / 1000} s`));
    }, READY_TIMEOUT_MS);
    const onData = (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        process.stdout.write(`${formatLine(name, line)}\n`);
        if (!isReady && ready.test(line)) {
          isReady = true;
          clearTimeout(timer);
          resolveReady();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      rejectReady(new Error(`${name} could not start: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      entry.exited = true;
      clearTimeout(timer);
      if (!isReady) rejectReady(new Error(`${name} exited (${signal ?? code}) before it was ready`));
      else if (!stopping) fail(`${name} exited unexpectedly (${signal ?? code}); stopping the stack`);
    });
  });
}

function stopChild(entry, graceMs = 10_000) {
  if (entry.exited) return Promise.resolve();
  return new Promise((resolveStop) => {
    const killGroup = (signal) => {
      try {
        process.kill(-entry.child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
    entry.child.once('exit', () => {
      clearTimeout(timer);
      // Anything the child left in its group (e.g. Next's workers) goes with it.
      killGroup('SIGKILL');
      resolveStop();
    });
    killGroup('SIGTERM');
  });
}

async function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  for (const entry of [...children].reverse()) await stopChild(entry);
  log('stopped');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('exit', () => {
  for (const { child, exited } of children) {
    if (!exited) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function which(binary) {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

async function main() {
  mkdirSync(stateDir, { recursive: true });

  let natsUrl = env.NATS_URL;
  let natsServer = null;
  if (!natsUrl) {
    natsServer = env.NATS_SERVER_BIN ?? which('nats-server');
    if (!natsServer) {
      fail(
        'nats-server is not on PATH. Install it (Debian/Ubuntu: sudo apt-get install nats-server; macOS: brew install nats-server; ' +
          'or a release binary from the NATS project), or point NATS_URL at a running server.',
      );
      return;
    }
    for (const [what, port, variable] of [
      ['NATS', natsPort, 'OUTPOST_NATS_PORT'],
      ['NATS monitor', natsMonitorPort, 'OUTPOST_NATS_MONITOR_PORT'],
    ]) {
      if (!(await portIsFree(port))) {
        fail(`port ${port} for ${what} is in use; set ${variable} to a free port (or NATS_URL to use that server)`);
        return;
      }
    }
  }

  for (const [what, port, variable] of [
    ['the cloud API', apiPort, 'PORT'],
    ['the portal', portalPort, 'PORTAL_PORT'],
  ]) {
    if (!(await portIsFree(port))) {
      fail(`port ${port} for ${what} is in use; set ${variable} to a free port`);
      return;
    }
  }

  log('building the packages the stack needs (turbo caches this)…');
  const build = spawnSync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      '--filter=@outpost/cloud-api...',
      '--filter=@outpost/edge-agent...',
      '--filter=@outpost/portal^...',
      '--output-logs=errors-only',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (build.status !== 0) {
    fail('build failed; see above');
    return;
  }

  const nats = natsServer ? await startSecureNats(natsServer) : externalNats(natsUrl);
  natsUrl = nats.url;

  const databaseUrl = env.DATABASE_URL ?? `pglite:${join(stateDir, 'db')}`;
  const tokenFile = join(stateDir, 'admin-token');
  // The API writes the first admin user's password here; it is printed below only when this run created it.
  const passwordFile = join(stateDir, 'admin-password');
  const passwordBefore = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8') : null;
  await start('api', process.execPath, [join(root, 'apps/cloud-api/dist/main.js')], {
    cwd: join(root, 'apps/cloud-api'),
    extraEnv: {
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      NATS_URL: natsUrl,
      ...nats.apiEnv,
      DATABASE_URL: databaseUrl,
      OUTPOST_BOOTSTRAP_TOKEN_FILE: tokenFile,
      OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE: passwordFile,
      OUTPOST_BOOTSTRAP_ADMIN_USERNAME: 'admin',
    },
    ready: /cloud-api listening on/,
  });

  const agentDir = join(stateDir, 'agent');
  mkdirSync(agentDir, { recursive: true });
  const agentConfig = join(agentDir, `${deviceId}.json`);
  const deviceDir = join(agentDir, deviceId);
  const agentSecurity = await enrollDevDevice({ nats, natsUrl, tokenFile, deviceDir, agentConfig });
  writeFileSync(
    agentConfig,
    `${JSON.stringify(
      {
        deviceId,
        natsUrl,
        stateDir: deviceDir,
        heartbeatIntervalMs: 5000,
        ...agentSecurity,
        ...rootModuleSettings(),
        // Ctrl-C stops the whole stack, the demo modules included; on a device they outlive agent restarts.
        modulesOnAgentStop: 'stop',
      },
      null,
      2,
    )}\n`,
    { mode: 0o600 },
  );
  await start('agent', process.execPath, [join(root, 'apps/edge-agent/dist/cli.js'), 'run', '--config', agentConfig], {
    extraEnv: {},
    ready: /"msg":"connected"/,
  });

  const demo = await deployDemo(tokenFile);

  const portalDir = join(root, 'apps/portal');
  const nextBin = join(portalDir, 'node_modules/next/dist/bin/next');
  await start('portal', process.execPath, [nextBin, 'dev', '-H', '127.0.0.1', '-p', String(portalPort)], {
    cwd: portalDir,
    extraEnv: { NATS_URL: natsUrl, ...nats.portalEnv, NEXT_TELEMETRY_DISABLED: '1' },
    ready: /Ready in|ready on|started server/i,
  });
  // The first request compiles the page; do it now so the printed URL answers at once.
  const portalUrl = `http://127.0.0.1:${portalPort}`;
  try {
    await fetch(`${portalUrl}/devices`, { signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
  } catch (err) {
    log(`warning: the portal did not answer its first request (${err.message})`);
  }

  const tokenNote = existsSync(tokenFile) ? tokenFile : `${tokenFile} (not written: an admin token already existed)`;
  log('');
  log('Outpost is running:');
  log(`  portal      ${portalUrl}`);
  log(`  cloud API   http://127.0.0.1:${apiPort}   (OpenAPI: http://127.0.0.1:${apiPort}/api/docs)`);
  log(`  NATS        ${natsUrl}${nats.note}`);
  log(`  database    ${databaseUrl.startsWith('pglite:') ? databaseUrl : 'DATABASE_URL'}`);
  log(`  admin token ${tokenNote}`);
  const password = existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : null;
  if (password !== null && password !== passwordBefore?.trim()) {
    log(`  sign in     user admin, password ${password}   (shown once; also in ${passwordFile})`);
  } else if (password !== null) {
    log(`  sign in     user admin, password in ${passwordFile} (made by an earlier run)`);
  } else {
    log(`  sign in     with an existing admin user (${passwordFile} not written: an admin user already existed)`);
  }
  log(`  device      ${deviceId}`);
  if (demo) log(`  demo        ${demo}`);
  log('Press Ctrl-C to stop everything.');
  log('STACK READY');
}

/**
 * Run as root (CI, containers), the agent drops process modules to an unprivileged user. A dev machine has no
 * outpost-modules user (infra/device/install.sh creates it on devices), so the demo uses nobody, and the modules' dir
 * goes under the system temp dir: a checkout (and the state dir in it) may sit below a directory only its owner can
 * enter, which nobody could never reach.
 */
function rootModuleSettings() {
  if (process.getuid?.() !== 0) return {};
  const modulesDir = join(
    tmpdir(),
    `outpost-dev-modules-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`,
  );
  mkdirSync(modulesDir, { recursive: true });
  chmodSync(modulesDir, 0o711);
  return { moduleUser: 'nobody', modulesDir };
}

/**
 * Gives dev-device-01 a demo deployment of two process modules (infra/demo) the first time, so a new user sees modules
 * running at once: a simulated sensor that logs readings and a status page the agent health-checks over HTTP. A
 * deployment already on the device (the demo from an earlier run, or the developer's own) is left as it is.
 */
async function deployDemo(tokenFile) {
  if (!existsSync(tokenFile)) return null;
  const headers = {
    authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`,
    'content-type': 'application/json',
  };
  const url = `http://127.0.0.1:${apiPort}/api/v1/devices/${deviceId}/deployment`;
  const current = await fetch(url, { headers });
  if (!current.ok) {
    log(`warning: reading ${deviceId}'s deployment answered ${current.status}; no demo deployment`);
    return null;
  }
  const { desired } = await current.json();
  if (desired) return `${deviceId} runs deployment version ${desired.version} (left as it is)`;
  let statusPort = 8099;
  while (!(await portIsFree(statusPort))) statusPort++;
  // Each script is the module's artifact (a file:// ref with its sha256): the agent copies it into the module's own
  // versioned dir, which the module user can read even when the checkout itself is private to its owner.
  const demoModule = (script, extra) => {
    const path = join(root, 'infra/demo', script);
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    return {
      type: 'process',
      version: '1.0.0',
      restartPolicy: 'always',
      process: { artifact: { ref: pathToFileURL(path).href, sha256 }, command: process.execPath, args: [script] },
      ...extra,
    };
  };
  const manifest = {
    schemaVersion: '1.0',
    modules: {
      sensor: demoModule('sensor.mjs', { startupOrder: 1 }),
      'status-page': demoModule('status-page.mjs', {
        startupOrder: 2,
        env: { PORT: { value: String(statusPort) } },
        health: { type: 'http', port: statusPort, path: '/healthz', intervalSecs: 5 },
      }),
    },
  };
  const response = await fetch(url, { method: 'PUT', headers, body: JSON.stringify({ manifest }) });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    log(`warning: the demo deployment answered ${response.status} ${body?.code ?? ''} ${body?.message ?? ''}`);
    return null;
  }
  log(`deployed the demo modules (sensor, status-page) to ${deviceId}`);
  return `modules sensor and status-page (http://127.0.0.1:${statusPort}); try: node apps/edge-agent/dist/cli.js list --config ${relative(root, join(stateDir, 'agent', `${deviceId}.json`))}`;
}

/** Files `outpost-agent enroll` leaves in the device's state dir (apps/edge-agent/src/commands/enroll.ts). */
const ENROLLED_FILES = ['device.nk', 'device.creds', 'ca.pem', 'trusted-keys.json', 'enrollment.json'];

/**
 * dev-device-01 the way a real device joins: registered through the API with the admin token (the API refuses
 * presence from devices it does not know), then enrolled with `outpost-agent enroll` and the one-time token the API
 * answered — the agent makes its own key, pins the CA from the token and renews its credential itself. Later runs find
 * the device registered (409) and reuse the enrolled files. Returns the agent config's credsFile/caFile.
 */
async function enrollDevDevice({ nats, natsUrl, tokenFile, deviceDir, agentConfig }) {
  const enrolledFiles = () => {
    const files = {};
    if (existsSync(join(deviceDir, 'device.creds'))) files.credsFile = join(deviceDir, 'device.creds');
    if (existsSync(join(deviceDir, 'ca.pem'))) files.caFile = join(deviceDir, 'ca.pem');
    return files;
  };
  if (!existsSync(tokenFile)) {
    log(`warning: no admin token in ${tokenFile} (an admin existed already): cannot register ${deviceId}`);
    return nats.deviceFiles(deviceId, deviceDir);
  }
  const adminToken = readFileSync(tokenFile, 'utf8').trim();
  const response = await fetch(`http://127.0.0.1:${apiPort}/api/v1/devices`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: deviceId, tags: { env: 'dev' } }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 409) {
    if (existsSync(join(deviceDir, 'enrollment.json'))) {
      log(`${deviceId} is registered and enrolled (${deviceDir})`);
      return enrolledFiles();
    }
    // Registered by an older `pnpm dev` (or elsewhere) without enrolment files here: no token can be had again.
    log(
      `warning: ${deviceId} is registered but not enrolled from ${deviceDir}; using a directly minted credential ` +
        `the cloud cannot renew. Remove ${join(stateDir, 'db')} and ${join(stateDir, 'agent')} to enrol it afresh.`,
    );
    return nats.deviceFiles(deviceId, deviceDir);
  }
  if (response.status !== 201 || typeof body?.enrollment?.token !== 'string') {
    throw new Error(`registering ${deviceId} answered ${response.status} ${body?.code ?? ''} ${body?.message ?? ''}`);
  }
  log(`registered ${deviceId}; enrolling it with outpost-agent enroll`);
  // The registry did not know the device: whatever an earlier run left here belongs to a device that no longer exists.
  for (const file of ENROLLED_FILES) rmSync(join(deviceDir, file), { force: true });
  // The one-time token goes through a private file, never the command line (which other users see in `ps`).
  const enrollTokenFile = join(stateDir, 'agent', `${deviceId}.enroll-token`);
  writeFileSync(enrollTokenFile, body.enrollment.token, { mode: 0o600 });
  const enroll = await new Promise((resolveEnroll) => {
    execFile(
      process.execPath,
      [
        join(root, 'apps/edge-agent/dist/cli.js'),
        'enroll',
        '--nats',
        natsUrl.split(',')[0],
        '--token-file',
        enrollTokenFile,
        '--state-dir',
        deviceDir,
        '--config',
        agentConfig,
      ],
      { cwd: root, encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => resolveEnroll({ code: err ? (err.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
  rmSync(enrollTokenFile, { force: true });
  for (const line of enroll.output.split('\n')) {
    if (line.trim()) process.stdout.write(`${formatLine('enroll', line)}\n`);
  }
  if (enroll.code !== 0) throw new Error(`outpost-agent enroll failed for ${deviceId} (exit ${enroll.code})`);
  return enrolledFiles();
}

/** The built identity package (dev.mjs runs after the build, so dist exists). */
function natsIdentity() {
  return Promise.all([
    import(pathToFileURL(join(root, 'packages/nats-identity/dist/index.js')).href),
    import(pathToFileURL(join(root, 'packages/nats-identity/dist/pki.js')).href),
  ]).then(([identity, pki]) => ({ ...identity, ...pki }));
}

/**
 * Our own nats-server in operator/TLS mode: the identity bundle and dev PKI are created once under the state dir, the
 * config is rendered from them (infra/nats/hub.conf.template shows its shape), and the API, portal and agent get
 * credentials of their own.
 */
async function startSecureNats(natsServer) {
  const id = await natsIdentity();
  const identity = await id.ensureIdentityBundle(join(stateDir, 'identity'));
  const pki = await id.ensureDevPki(join(stateDir, 'pki'), { hosts: ['127.0.0.1', 'localhost'] });
  const natsDir = join(stateDir, 'nats');
  mkdirSync(natsDir, { recursive: true, mode: 0o700 });
  const configFile = join(natsDir, 'hub.conf');
  id.writePrivateFile(
    configFile,
    id.renderHubConfig({
      identity,
      serverName: 'outpost-dev',
      host: '127.0.0.1',
      port: natsPort,
      monitorPort: natsMonitorPort,
      storeDir: join(natsDir, 'jetstream'),
      resolverDir: join(natsDir, 'jwt'),
      tls: pki,
      jetstreamDomain: 'cloud',
    }),
  );
  await start('nats', natsServer, ['-c', configFile], { ready: /Server is ready/ });
  return {
    url: `tls://127.0.0.1:${natsPort}`,
    note: `   (operator mode, TLS; CA ${pki.caFile})`,
    apiEnv: { NATS_CREDS: identity.paths.cloudApiCreds, NATS_CA: pki.caFile, OUTPOST_IDENTITY_DIR: identity.dir },
    portalEnv: { NATS_CREDS: identity.paths.portalCreds, NATS_CA: pki.caFile },
    deviceFiles: (id_, dir) => mintDeviceFiles(id, identity.accountIssuer(), pki.caFile, id_, dir),
  };
}

/**
 * NATS_URL set: the user's own NATS in whatever mode it runs. NATS_CREDS / NATS_CA / OUTPOST_IDENTITY_DIR pass through
 * to the API and portal; with OUTPOST_IDENTITY_DIR the dev device gets credentials minted from it, with NATS_CA it pins
 * that CA.
 */
function externalNats(url) {
  log(`using external NATS at ${url}`);
  return {
    url,
    note: '   (external)',
    apiEnv: {},
    portalEnv: {},
    async deviceFiles(id_, dir) {
      if (!env.OUTPOST_IDENTITY_DIR) return env.NATS_CA ? { caFile: resolve(env.NATS_CA) } : {};
      const id = await natsIdentity();
      const authority = id.loadCloudAuthority(env.OUTPOST_IDENTITY_DIR);
      return mintDeviceFiles(id, authority.issuer, env.NATS_CA ? resolve(env.NATS_CA) : null, id_, dir);
    },
  };
}

/**
 * Fallback when dev-device-01 cannot be enrolled (no admin token here, or registered earlier without enrolment files):
 * its own NKey and a JWT for its subjects only, minted directly, in `<dir>/device.creds` (0600), and the pinned CA in
 * `<dir>/ca.pem`. The cloud does not know this key, so it cannot renew it. Kept while it is valid for another day, so
 * restarts reuse the same key.
 */
async function mintDeviceFiles(id, issuer, caFile, deviceIdToMint, dir) {
  id.ensurePrivateDir(dir);
  const credsFile = join(dir, 'device.creds');
  let reuse = false;
  if (existsSync(credsFile)) {
    try {
      const { jwt } = id.parseCredsFile(readFileSync(credsFile, 'utf8'), credsFile);
      const claims = id.decodeUserJwt(jwt);
      reuse =
        claims.name === deviceIdToMint &&
        claims.nats.issuer_account === issuer.accountPublicKey &&
        (claims.exp ?? 0) - id.nowSecs() > 24 * 3600;
    } catch {
      reuse = false;
    }
  }
  if (!reuse) {
    const key = id.createUserKey();
    const jwt = await id.mintDeviceJwt({ issuer, deviceId: deviceIdToMint, publicKey: key.publicKey });
    id.writePrivateFile(credsFile, id.formatCredsFile(jwt, key.seed));
  }
  if (!caFile) return { credsFile };
  const pinned = join(dir, 'ca.pem');
  copyFileSync(caFile, pinned);
  return { credsFile, caFile: pinned };
}

main().catch((err) => fail(err.message));
