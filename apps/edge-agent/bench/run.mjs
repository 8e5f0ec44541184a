#!/usr/bin/env node
// Runtime figures of the agent (issue 6), measured on the bundled agent a device runs (dist/outpost-agent.mjs; turbo
// builds it before `pnpm bench`), with real process modules and a private nats-server:
//   a. RSS (VmRSS and RssAnon from /proc/<pid>/status) of the agent idle with 5 process modules deployed, as a ratio to
//      a bare Node process holding one NATS connection, measured here in the same run, both right after start and
//      once idle (IDLE_SETTLE_MS later);
//   b. offline boot: time from starting the agent to all 5 modules running, with no NATS reachable and the
//      last-known-good deployment on disk (after a simulated power cut: agent and modules SIGKILLed);
//   c. reconcile time for a 20-module deployment on a fresh agent (deploy call → all 20 running), and re-applying it
//      unchanged.
//   node bench/run.mjs [--quick]
// Prints a markdown table. Timings are wall clock on a shared machine: expect noise, compare ratios across runs.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect as connectSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getFreePort, startNatsServer, waitFor } from '@outpost/testing';

const quick = process.argv.includes('--quick');
/** RSS samples per process, taken every SAMPLE_INTERVAL_MS once it is idle; the median is reported. */
const SAMPLES = quick ? 4 : 10;
const SAMPLE_INTERVAL_MS = 500;
/**
 * "Idle" means after startup: V8 keeps the garbage of evaluating the bundle and a grown young generation for a while
 * after start, then collects and shrinks them. Both processes are measured right away and again after this long.
 */
const IDLE_SETTLE_MS = quick ? 5_000 : 30_000;
/** Offline boots measured (the median is reported). */
const BOOTS = quick ? 1 : 3;

const agentDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = join(agentDir, 'dist', 'outpost-agent.mjs');
const BASELINE = join(agentDir, 'bench', 'baseline-nats-client.mjs');
if (!existsSync(BUNDLE)) {
  process.stderr.write(`${BUNDLE} is missing: run \`pnpm --filter @outpost/edge-agent build\` first\n`);
  process.exit(2);
}

const workDir = mkdtempSync(join(tmpdir(), 'outpost-agent-bench-'));
// Modules run as an unprivileged user when the bench runs as root: they must be able to write their pid files.
const pidDir = join(workDir, 'module-pids');
mkdirSync(pidDir);
chmodSync(workDir, 0o755);
chmodSync(pidDir, 0o777);

/** Every child this bench started, killed by pid on the way out. */
const children = new Set();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  killModules();
  rmSync(workDir, { recursive: true, force: true });
});

function start(args, readyPattern, what) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  exited.then(() => children.delete(child));
  const onData = (chunk) => {
    output += chunk.toString('utf8');
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const ready = () =>
    waitFor(() => readyPattern.test(output) || null, { timeoutMs: 60_000, what }).catch((err) => {
      throw new Error(`${err.message}\n--- output ---\n${output.slice(-3000)}`);
    });
  return { child, exited, ready, output: () => output };
}

async function stop(proc, signal = 'SIGTERM') {
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

/** VmRSS and RssAnon of a live process, in MiB. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, anon: kib('RssAnon') / 1024 };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** Median VmRSS / RssAnon over SAMPLES samples: a single sample catches GC at its best or worst. */
async function idleMemory(pid) {
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    await delay(SAMPLE_INTERVAL_MS);
    samples.push(memoryOf(pid));
  }
  return { rss: median(samples.map((s) => s.rss)), anon: median(samples.map((s) => s.anon)) };
}

/** One request over the agent's control socket (newline-delimited JSON, protocol v1); resolves to its data. */
function control(socketPath, request) {
  return new Promise((resolve, reject) => {
    const socket = connectSocket(socketPath);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('connect', () => socket.write(`${JSON.stringify({ v: 1, ...request })}\n`));
    socket.on('data', (chunk) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      socket.destroy();
      const response = JSON.parse(buffer.slice(0, newline));
      if (response.ok) resolve(response.data);
      else reject(new Error(`control ${request.op}: ${response.error?.code}: ${response.error?.message}`));
    });
  });
}

/** Resolves once `count` modules are listed as running (the socket may not be up yet: keep asking). */
function allRunning(socketPath, count, what) {
  return waitFor(
    async () => {
      const list = await control(socketPath, { op: 'list' }).catch(() => null);
      if (!list) return null;
      return list.modules.filter((module) => module.status === 'running').length >= count ? list : null;
    },
    { timeoutMs: 120_000, intervalMs: 20, what },
  );
}

/** `count` process modules that idle (sleep), each writing its pid where the bench can kill it. */
function manifest(count, prefix) {
  const modules = {};
  for (let i = 1; i <= count; i++) {
    const name = `${prefix}${String(i).padStart(2, '0')}`;
    modules[name] = {
      type: 'process',
      version: '1',
      process: { command: '/bin/sh', args: ['-c', `echo $$ > ${join(pidDir, name)}; exec sleep 100000`] },
    };
  }
  return { schemaVersion: '1.0', modules };
}

/** SIGKILLs every module process the bench's deployments started (pids they wrote), as a power cut would. */
function killModules() {
  let killed = 0;
  for (const name of existsSync(pidDir) ? readdirSync(pidDir) : []) {
    const pid = Number(readFileSync(join(pidDir, name), 'utf8').trim());
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Already gone.
    }
    rmSync(join(pidDir, name), { force: true });
  }
  return killed;
}

function agentConfig(name, natsUrl) {
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'agent.json');
  const config = {
    deviceId: `bench-${name}`,
    natsUrl,
    stateDir: join(dir, 'state'),
    controlSocket: join(dir, 'agent.sock'),
    allowUnsignedLocal: true,
    // As root the agent runs modules as an unprivileged user; the bench does not create one on this machine.
    ...(process.getuid?.() === 0 ? { moduleUser: 'nobody' } : {}),
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { configPath, config };
}

function startAgent(configPath) {
  // With logLevel warn the agent prints nothing when all is well: readiness is its control socket answering.
  return start([BUNDLE, 'run', '--config', configPath], /"msg":"agent started"/, 'the agent');
}

async function deploy(socketPath, body) {
  const outcome = await control(socketPath, { op: 'deploy', input: body });
  if (outcome.code !== 200) throw new Error(`deployment refused: ${outcome.code} ${outcome.description}`);
  return outcome;
}

function waitForSocket(socketPath) {
  return waitFor(async () => (await control(socketPath, { op: 'status' }).catch(() => null)) ?? null, {
    timeoutMs: 60_000,
    intervalMs: 20,
    what: `the control socket ${socketPath}`,
  });
}

const fmt = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

const nats = await startNatsServer();
const rows = [];
try {
  // --- a. memory ---------------------------------------------------------------------------------------------------
  const baseline = start([BASELINE, nats.url], /connected/, 'the baseline NATS client');
  await baseline.ready();
  const baselineStartup = await idleMemory(baseline.child.pid);
  await delay(IDLE_SETTLE_MS);
  const baselineMemory = await idleMemory(baseline.child.pid);
  await stop(baseline);

  const five = agentConfig('five', nats.url);
  let agent = startAgent(five.configPath);
  await waitForSocket(five.config.controlSocket);
  await waitFor(async () => (await control(five.config.controlSocket, { op: 'status' })).connected || null, {
    timeoutMs: 60_000,
    what: 'the agent connected to NATS',
  });
  await deploy(five.config.controlSocket, manifest(5, 'm'));
  await allRunning(five.config.controlSocket, 5, '5 modules running');
  const agentStartup = await idleMemory(agent.child.pid);
  await delay(IDLE_SETTLE_MS);
  const agentMemory = await idleMemory(agent.child.pid);
  const settled = `${IDLE_SETTLE_MS / 1000} s`;
  rows.push(
    [
      `Bare Node + 1 NATS connection, idle (${settled} after start): VmRSS / RssAnon`,
      `${fmt(baselineMemory.rss)} MiB / ${fmt(baselineMemory.anon)} MiB`,
      'baseline',
    ],
    [
      `Agent with 5 process modules, idle (${settled} after they run): VmRSS / RssAnon`,
      `${fmt(agentMemory.rss)} MiB / ${fmt(agentMemory.anon)} MiB`,
      '',
    ],
    ['Agent / baseline VmRSS, idle', `${fmt(agentMemory.rss / baselineMemory.rss, 2)}×`, '≤ 1.3×'],
    ['Agent / baseline RssAnon, idle', `${fmt(agentMemory.anon / baselineMemory.anon, 2)}×`, ''],
    [
      'Agent / baseline VmRSS, right after start (startup garbage not yet collected)',
      `${fmt(agentStartup.rss / baselineStartup.rss, 2)}× (${fmt(agentStartup.rss)} / ${fmt(baselineStartup.rss)} MiB)`,
      '',
    ],
  );

  // --- b. offline boot ---------------------------------------------------------------------------------------------
  // No NATS: the config points at a port nothing listens on. The last-known-good deployment is on disk from above.
  const unreachable = `nats://127.0.0.1:${await getFreePort()}`;
  writeFileSync(five.configPath, JSON.stringify({ ...five.config, natsUrl: unreachable }, null, 2));
  const boots = [];
  for (let boot = 0; boot < BOOTS; boot++) {
    // A power cut: the agent and every module die at once.
    await stop(agent, 'SIGKILL');
    const killed = killModules();
    if (killed !== 5) throw new Error(`expected 5 module processes to kill, found ${killed}`);
    const startedAt = performance.now();
    agent = startAgent(five.configPath);
    await allRunning(five.config.controlSocket, 5, '5 modules running after an offline boot');
    boots.push(performance.now() - startedAt);
  }
  await stop(agent, 'SIGKILL');
  killModules();
  rows.push([`Offline boot → 5 modules running (median of ${BOOTS})`, `${fmt(median(boots) / 1000, 2)} s`, '≤ 5 s']);

  // --- c. reconcile 20 modules -------------------------------------------------------------------------------------
  const twenty = agentConfig('twenty', nats.url);
  agent = startAgent(twenty.configPath);
  await waitForSocket(twenty.config.controlSocket);
  const body = manifest(20, 'r');
  const deployStart = performance.now();
  await deploy(twenty.config.controlSocket, body);
  const deployAnswered = performance.now() - deployStart;
  await allRunning(twenty.config.controlSocket, 20, '20 modules running');
  const reconciled = performance.now() - deployStart;
  const againStart = performance.now();
  // The same modules with a new deployment id/version: nothing to change, every module is kept.
  await deploy(twenty.config.controlSocket, { ...body, agent: { healthyResetSecs: 601 } });
  const unchanged = performance.now() - againStart;
  await stop(agent, 'SIGKILL');
  killModules();
  rows.push(
    ['Reconcile 20-module deployment: deploy answered', `${fmt(deployAnswered / 1000, 2)} s`, ''],
    ['Reconcile 20-module deployment: all 20 running', `${fmt(reconciled / 1000, 2)} s`, ''],
    ['Re-apply with 20 modules unchanged', `${fmt(unchanged / 1000, 2)} s`, ''],
  );
} finally {
  for (const child of children) child.kill('SIGKILL');
  killModules();
  await nats.stop();
}

const bundleKiB = readFileSync(BUNDLE).length / 1024;
process.stdout.write(
  `\n### outpost-agent runtime (bundle ${fmt(bundleKiB, 0)} KiB, Node ${process.versions.node}${quick ? ', --quick' : ''})\n\n` +
    '| Figure | Measured | Goal |\n|---|---|---|\n' +
    rows.map((row) => `| ${row.join(' | ')} |`).join('\n') +
    '\n',
);
