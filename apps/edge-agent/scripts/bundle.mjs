#!/usr/bin/env node
// Bundles the agent (src/cli.ts, every @outpost/* package and every npm dependency) into ONE executable file,
// dist/outpost-agent.mjs, so a device needs only Node (and nats-server for its hub): no node_modules, no pnpm.
//   node scripts/bundle.mjs            (run by `pnpm build` after tsc)
// Prints the bundle's path and size.
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agentDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(agentDir, 'dist', 'outpost-agent.mjs');
const metaFile = join(agentDir, 'dist', 'outpost-agent.meta.json');
const { version } = JSON.parse(readFileSync(join(agentDir, 'package.json'), 'utf8'));

/*
 * Left out on purpose, because their users load them inside try/catch and do without:
 * - native addons of dockerode's SSH transport (docker-modem → ssh2): `cpu-features` and ssh2's own
 *   `sshcrypto.node`; ssh2 falls back to pure-JS crypto. A native addon cannot live inside a JS bundle anyway.
 * - `supports-color`, which `debug` (docker-modem's logger) tries for coloured output.
 * On a device they are absent and the require throws, which those packages catch. test/bundle.test.ts runs the
 * bundle with no node_modules anywhere above it and checks nothing else is external.
 */
const OPTIONAL_AT_RUNTIME = ['cpu-features', 'supports-color', '*.node'];

/**
 * src/version.ts reads ../package.json at run time (tsc keeps it outside dist); the bundle has no package.json next
 * to it, so the version is compiled in instead.
 */
const versionInline = {
  name: 'outpost-version-inline',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({
      contents: `export const AGENT_VERSION = ${JSON.stringify(version)};\n`,
      loader: 'ts',
    }));
  },
};

/**
 * dockerode requires @grpc/grpc-js and @grpc/proto-loader when it loads (lib/session.js), and protobufjs from
 * lib/buildkit.js, for BuildKit sessions and build-progress decoding only: `buildImage` with BuildKit and
 * `Docker#followProgress`. The agent pulls, creates, starts and removes containers and never builds images, so the
 * bundle carries a stand-in that fails with a clear error if either were ever used, instead of ~1 MB of gRPC and
 * protobuf code that Node would otherwise hold in memory on every device (≈ 8 MB RSS measured).
 */
const DOCKERODE_BUILD_ONLY = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];
const dockerodeBuildOnly = {
  name: 'outpost-dockerode-build-only',
  setup(pluginBuild) {
    const filter = new RegExp(`^(${DOCKERODE_BUILD_ONLY.map((name) => name.replace(/[/.]/g, '\\$&')).join('|')})$`);
    pluginBuild.onResolve({ filter }, (args) =>
      /[\\/]dockerode[\\/]lib[\\/]/.test(args.importer)
        ? { path: args.path, namespace: 'dockerode-build-only' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'dockerode-build-only' }, (args) => ({
      loader: 'js',
      contents: `module.exports = new Proxy({}, {
  get(_, key) {
    if (typeof key === 'symbol' || key === '__esModule' || key === 'then') return undefined;
    throw new Error(${JSON.stringify(`${args.path} is not in the outpost-agent bundle: the agent does not build images (dockerode BuildKit)`)});
  },
});
`,
    }));
  },
};

/**
 * zod re-exports every translation of its error messages (z.locales, ~290 KB of source); zod uses English unless
 * told otherwise and nothing in the agent (or any Outpost package it bundles) selects another locale, so z.locales
 * carries English only here. Those modules were never run, but V8 keeps the whole bundle source resident: -1.2 MiB of
 * idle RSS measured (bench/run.mjs).
 */
const zodEnglishOnly = {
  name: 'outpost-zod-english-only',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/]/.test(args.importer)
        ? { path: join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-english-only' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      loader: 'js',
      resolveDir: dirname(args.path),
      contents: `export { default as en } from './en.js';\n`,
    }));
  },
};

const result = await build({
  entryPoints: [join(agentDir, 'src', 'cli.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Workspace packages export their tsc output (dist); source files would be the same code.
  mainFields: ['module', 'main'],
  conditions: ['node', 'import'],
  external: OPTIONAL_AT_RUNTIME,
  plugins: [versionInline, dockerodeBuildOnly, zodEnglishOnly],
  legalComments: 'none',
  // Whitespace and comments out, names kept (stack traces still say which function): V8 holds the whole source in
  // memory for the agent's lifetime, so every byte here is resident on the device (-1 MB of RSS measured).
  minifySyntax: true,
  minifyWhitespace: true,
  logLevel: 'warning',
  metafile: true,
  banner: {
    // src/cli.ts starts with a shebang that esbuild keeps first; CommonJS dependencies (pino, nats' deps, dockerode)
    // call require/__dirname, which an ES module does not have.
    js: [
      "import { createRequire as __outpostCreateRequire } from 'node:module';",
      "import { fileURLToPath as __outpostFileURLToPath } from 'node:url';",
      "import { dirname as __outpostDirname } from 'node:path';",
      'const require = __outpostCreateRequire(import.meta.url);',
      'const __filename = __outpostFileURLToPath(import.meta.url);',
      'const __dirname = __outpostDirname(__filename);',
    ].join('\n'),
  },
});

const text = readFileSync(outfile, 'utf8');
// One non-ASCII character anywhere makes V8 keep the whole source as two-byte characters: twice the memory (+2.5 MB
// RSS measured). esbuild escapes strings and templates (charset ascii), not regular expression literals: say where.
const nonAscii = [...text.matchAll(/[^\t\n\r\x20-\x7e]/g)].map((match) =>
  text.slice(Math.max(0, match.index - 40), match.index + 10),
);
if (nonAscii.length > 0) {
  process.stderr.write(
    `warning: ${outfile} is not ASCII-only, so Node keeps its source as two-byte characters (twice the memory); ` +
      `write these as \\u escapes in the sources:\n${nonAscii.map((context) => `  …${context}…`).join('\n')}\n`,
  );
}
if (!text.startsWith('#!/usr/bin/env node\n')) {
  throw new Error(`${outfile} does not start with the node shebang`);
}
chmodSync(outfile, 0o755);

const externals = new Set();
const packages = new Set();
for (const [path, input] of Object.entries(result.metafile.inputs)) {
  for (const imported of input.imports) {
    if (imported.external && !isBuiltin(imported.path) && !imported.path.startsWith('<')) externals.add(imported.path);
  }
  const name = packageOf(path);
  if (name) packages.add(name);
}
const bytes = statSync(outfile).size;
// What went in, for test/bundle.test.ts and for whoever wonders why the file is the size it is.
writeFileSync(
  metaFile,
  `${JSON.stringify({ version, bytes, packages: [...packages].sort(), external: [...externals].sort() }, null, 2)}\n`,
);
process.stdout.write(
  `bundled outpost-agent ${version}: ${outfile} (${(bytes / 1024).toFixed(0)} KiB, ${packages.size} packages)${externals.size > 0 ? `; optional, not bundled: ${[...externals].sort().join(', ')}` : ''}\n`,
);

/** The npm or workspace package a bundled input belongs to (`…/node_modules/<name>/…`, or `packages/<dir>` → @outpost). */
function packageOf(inputPath) {
  const inModules = inputPath.split('node_modules/').at(-1);
  if (inModules !== inputPath && inModules) {
    const parts = inModules.split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const workspace = inputPath.match(/(?:^|\/)packages\/([^/]+)\//);
  return workspace ? `@outpost/${workspace[1]}` : null;
}
