/**
 * The deployment manifest (schema 1.x) as zod schemas. Everything else in the package — validation, the JSON Schema
 * that editors use, Azure import, layer merging and diffs — is derived from these definitions.
 */
import { z } from 'zod';

/** The schema version this package writes. Any `1.<minor>` is read; other majors are rejected by name. */
export const MANIFEST_SCHEMA_VERSION = '1.0';
/** The minor version of MANIFEST_SCHEMA_VERSION, used to explain unknown keys in manifests from newer minors. */
export const MANIFEST_SCHEMA_MINOR = 0;

/** Defaults that apply when a manifest leaves them out (kept here so docs, tests and the agent agree). */
export const DEFAULTS = {
  status: 'running',
  restartPolicy: 'always',
  pullPolicy: 'on-create',
  healthIntervalSecs: 10,
  healthTimeoutSecs: 5,
  healthFailureThreshold: 3,
  httpProbePath: '/',
  storeAndForwardTimeToLiveSecs: 7200,
  storeAndForwardWhenFull: 'drop-oldest',
  restartBackoffUnitSecs: 10,
  restartBackoffCapSecs: 300,
  maxRestarts: 20,
  healthyResetSecs: 600,
  healthyWithinSecs: 300,
} as const;

/** Azure's `startupOrder` range (a uint32); modules without one start after every module that has one. */
export const MAX_STARTUP_ORDER = 4_294_967_295;
export const MAX_MODULE_NAME_LENGTH = 64;

const UINT32_MAX = 4_294_967_295;

// --- names ---------------------------------------------------------------------------------------------------------

/**
 * Module names become NATS subject tokens (`…modules.<name>.inputs.<input>`), container names and directory names,
 * so they are restricted to what is safe in all three: letters, digits, `-` and `_`, starting with a letter or digit.
 */
export const MODULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Explains why a module name is not acceptable, or returns undefined when it is. */
export function moduleNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'module name cannot be empty';
  if (MODULE_NAME_PATTERN.test(name)) return undefined;
  const first = name[0] ?? '';
  if (first === '-' || first === '_') return `module name must start with a letter or digit, not '${first}'`;
  const bad = [...name].find((char) => !/[A-Za-z0-9_-]/.test(char)) ?? '';
  const subjectBreaking = bad === '.' || bad === '*' || bad === '>' || /\s/.test(bad);
  return (
    `module name contains ${describeCharacter(bad)}` +
    `${subjectBreaking ? ', which cannot appear in a NATS subject token' : ''}; use letters, digits, '-' and '_'`
  );
}

function describeCharacter(char: string): string {
  if (/\s/.test(char)) return 'whitespace';
  const code = char.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f)
    return `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `'${char}'`;
}

export const ModuleName = z
  .string()
  .max(MAX_MODULE_NAME_LENGTH, `module name can be at most ${MAX_MODULE_NAME_LENGTH} characters long`)
  .regex(MODULE_NAME_PATTERN, { error: (issue) => moduleNameProblem(String(issue.input)) ?? 'invalid module name' })
  .meta({
    id: 'ManifestModuleName',
    description: "Letters, digits, '-' and '_', starting with a letter or digit; at most 64 characters.",
  });

const RouteName = z.string().min(1, 'route name cannot be empty').meta({ id: 'ManifestRouteName' });

/** Environment variable names: anything a process environment can hold (no `=`, no NUL). */
const EnvName = z
  .string()
  .min(1, 'environment variable name cannot be empty')
  .regex(/^[^=\0]+$/, "environment variable names cannot contain '=' or NUL");

// --- shared pieces -------------------------------------------------------------------------------------------------

export const JsonValue = z.json().meta({ id: 'ManifestJsonValue' });
export type JsonValue = z.infer<typeof JsonValue>;
export const JsonObject = z.record(z.string(), JsonValue);
export type JsonObject = z.infer<typeof JsonObject>;

const seconds = (description: string) => z.number().int().nonnegative().max(UINT32_MAX).describe(description);
const positiveSeconds = (description: string) => z.number().int().positive().max(UINT32_MAX).describe(description);
/**
 * Agent timings (backoff, health, rollback windows): seconds with millisecond fractions allowed (0.05 = 50 ms), so a
 * test or a fast control loop can shorten them.
 */
const timingSeconds = (description: string) =>
  z.number().nonnegative().max(UINT32_MAX).multipleOf(0.001, 'at most millisecond precision').describe(description);
const positiveTimingSeconds = (description: string) =>
  z.number().positive().max(UINT32_MAX).multipleOf(0.001, 'at most millisecond precision').describe(description);

// --- modules -------------------------------------------------------------------------------------------------------

export const ModuleStatus = z.enum(['running', 'stopped']).meta({
  id: 'ManifestModuleStatus',
  description: 'Whether the agent should keep the module running.',
});
export type ModuleStatus = z.infer<typeof ModuleStatus>;

export const RestartPolicy = z.enum(['never', 'on-failure', 'on-unhealthy', 'always']).meta({
  id: 'ManifestRestartPolicy',
  description:
    'never: leave it stopped; on-failure: restart after a non-zero exit; on-unhealthy: also when its health probe ' +
    'fails; always: restart whenever it is not running. Restarts back off exponentially (see agent).',
});
export type RestartPolicy = z.infer<typeof RestartPolicy>;

/**
 * An environment variable. Secret values are stored like any other (the manifest is signed and the agent needs the
 * value), but `secret: true` makes every Outpost component redact them from logs, errors and the portal.
 */
export const EnvVariable = z
  .strictObject({
    value: z.string(),
    secret: z.boolean().optional().describe('Redact the value wherever the manifest is logged or shown.'),
  })
  .meta({ id: 'ManifestEnvVariable' });
export type EnvVariable = z.infer<typeof EnvVariable>;

const healthTiming = {
  intervalSecs: positiveTimingSeconds('Seconds between probes.').default(DEFAULTS.healthIntervalSecs),
  timeoutSecs: positiveTimingSeconds('Seconds a probe may take before it counts as failed.').default(
    DEFAULTS.healthTimeoutSecs,
  ),
  failureThreshold: z
    .number()
    .int()
    .positive()
    .max(1000)
    .default(DEFAULTS.healthFailureThreshold)
    .describe('Consecutive failed probes that make the module unhealthy.'),
};

const port = z.number().int().min(1).max(65535);

export const HealthProbe = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('exec'),
      command: z.array(z.string()).min(1).describe('argv run inside the module; exit code 0 means healthy.'),
      ...healthTiming,
    }),
    z.strictObject({
      type: z.literal('http'),
      port: port.describe('Port the module listens on.'),
      path: z
        .string()
        .regex(/^\//, "path must start with '/'")
        .default(DEFAULTS.httpProbePath)
        .describe('A 2xx or 3xx answer means healthy.'),
      ...healthTiming,
    }),
    z.strictObject({
      type: z.literal('tcp'),
      port: port.describe('Healthy when a TCP connection to this port opens.'),
      ...healthTiming,
    }),
    z.strictObject({
      type: z.literal('heartbeat'),
      ...healthTiming,
    }),
  ])
  .meta({
    id: 'ManifestHealthProbe',
    description:
      'How the agent decides a running module is healthy. heartbeat: the module (through @outpost/module-sdk) must ' +
      'report at least once per interval.',
  });
export type HealthProbe = z.infer<typeof HealthProbe>;

export const ResourceLimits = z
  .strictObject({
    memoryBytes: z.number().int().positive().describe('Memory limit in bytes.').optional(),
    cpus: z.number().positive().max(1024).describe('CPU limit in cores; fractions allowed (0.5).').optional(),
    pids: z.number().int().positive().describe('Maximum number of processes and threads.').optional(),
  })
  .meta({ id: 'ManifestResourceLimits' });
export type ResourceLimits = z.infer<typeof ResourceLimits>;

export const ProcessSettings = z
  .strictObject({
    artifact: z
      .strictObject({
        ref: z.string().min(1).describe('Where the agent downloads the artifact from.'),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hexadecimal digits')
          .describe('The artifact is refused unless its SHA-256 matches.'),
      })
      .optional()
      .describe('An archive the agent downloads, verifies and unpacks into the working directory before starting.'),
    command: z.string().min(1).describe('The executable, absolute or relative to the working directory.'),
    args: z.array(z.string()).optional(),
    workingDir: z.string().min(1).optional(),
    user: z.string().min(1).optional().describe('The user the process runs as.'),
  })
  .meta({ id: 'ManifestProcessSettings' });
export type ProcessSettings = z.infer<typeof ProcessSettings>;

export const ContainerSettings = z
  .strictObject({
    image: z
      .string()
      .min(1)
      .regex(/^\S+$/, 'image cannot contain whitespace')
      .describe('Image reference, e.g. registry.example.com/sensor:1.2.'),
    createOptions: JsonObject.optional().describe(
      'Passed to the container engine when the container is created (Docker Engine API create body).',
    ),
    pullPolicy: z
      .enum(['on-create', 'never'])
      .default(DEFAULTS.pullPolicy)
      .describe('on-create: pull when the container is (re)created; never: the image must already be present.'),
    registryCredentialsRef: z
      .string()
      .min(1)
      .optional()
      .describe('Name of registry credentials stored in Outpost; the credentials themselves never appear here.'),
  })
  .meta({ id: 'ManifestContainerSettings' });
export type ContainerSettings = z.infer<typeof ContainerSettings>;

const moduleCommon = {
  version: z.string().min(1).max(128).optional().describe('Free-form; changing it recreates the module.'),
  status: ModuleStatus.default(DEFAULTS.status),
  restartPolicy: RestartPolicy.default(DEFAULTS.restartPolicy),
  startupOrder: z
    .number()
    .int()
    .min(0)
    .max(MAX_STARTUP_ORDER)
    .optional()
    .describe('Lower starts first; modules without one start last. Equal values start in no defined order.'),
  env: z.record(EnvName, EnvVariable).optional(),
  health: HealthProbe.optional(),
  limits: ResourceLimits.optional(),
  desiredProperties: JsonObject.optional().describe("The module twin's desired properties when it is deployed."),
};

export const ProcessModule = z
  .strictObject({ type: z.literal('process'), ...moduleCommon, process: ProcessSettings })
  .meta({ id: 'ManifestProcessModule' });
export type ProcessModule = z.infer<typeof ProcessModule>;

export const ContainerModule = z
  .strictObject({ type: z.literal('container'), ...moduleCommon, container: ContainerSettings })
  .meta({ id: 'ManifestContainerModule' });
export type ContainerModule = z.infer<typeof ContainerModule>;

export const Module = z.discriminatedUnion('type', [ProcessModule, ContainerModule]).meta({ id: 'ManifestModule' });
export type Module = z.infer<typeof Module>;
export type ModuleInput = z.input<typeof Module>;

// --- routes --------------------------------------------------------------------------------------------------------

/** Route text is checked with @outpost/routing by validateManifest (JSON Schema cannot express the grammar). */
const RouteText = z.string().min(1, 'route cannot be empty').describe('FROM <source> [WHERE <condition>] INTO <sink>');

export const RouteObject = z
  .strictObject({
    route: RouteText,
    priority: z.number().int().min(0).max(9).optional().describe('0 is the highest; unset is below 9.'),
    timeToLiveSecs: seconds(
      'How long a message may wait for this sink; 0 or unset: the store-and-forward TTL.',
    ).optional(),
  })
  .meta({ id: 'ManifestRouteObject' });

export const Route = z.union([RouteText, RouteObject]).meta({ id: 'ManifestRoute' });
export type Route = z.infer<typeof Route>;

// --- device-wide settings ------------------------------------------------------------------------------------------

export const StoreAndForward = z
  .strictObject({
    timeToLiveSecs: positiveSeconds('How long upstream messages are kept while the cloud is unreachable.').default(
      DEFAULTS.storeAndForwardTimeToLiveSecs,
    ),
    maxBytes: z.number().int().positive().optional().describe('Disk quota for stored messages; unset: no quota.'),
    whenFull: z
      .enum(['reject-new', 'drop-oldest'])
      .default(DEFAULTS.storeAndForwardWhenFull)
      .describe('What happens when maxBytes is reached.'),
  })
  .meta({ id: 'ManifestStoreAndForward' });
export type StoreAndForward = z.infer<typeof StoreAndForward>;

export const AgentSettings = z
  .strictObject({
    restartBackoffUnitSecs: timingSeconds(
      'A module restarted n times waits min(unit * 2^n, cap) seconds before the next restart.',
    ).default(DEFAULTS.restartBackoffUnitSecs),
    restartBackoffCapSecs: timingSeconds('The longest wait between restarts.').default(DEFAULTS.restartBackoffCapSecs),
    maxRestarts: z
      .number()
      .int()
      .positive()
      .max(UINT32_MAX)
      .default(DEFAULTS.maxRestarts)
      .describe('After this many restarts without recovering, the module is failed and left stopped.'),
    healthyResetSecs: positiveTimingSeconds('A module healthy for this long has its restart count reset.').default(
      DEFAULTS.healthyResetSecs,
    ),
    healthyWithinSecs: positiveTimingSeconds(
      'After a deployment is applied, every running module must be healthy within this time or the update failed.',
    ).default(DEFAULTS.healthyWithinSecs),
  })
  .superRefine((agent, ctx) => {
    if (agent.restartBackoffCapSecs < agent.restartBackoffUnitSecs) {
      ctx.addIssue({
        code: 'custom',
        path: ['restartBackoffCapSecs'],
        message: `must be at least restartBackoffUnitSecs (${agent.restartBackoffUnitSecs})`,
      });
    }
  })
  .meta({ id: 'ManifestAgentSettings' });
export type AgentSettings = z.infer<typeof AgentSettings>;

// --- manifest and layer --------------------------------------------------------------------------------------------

export const SchemaVersion = z
  .string()
  .regex(/^1\.(0|[1-9][0-9]*)$/, 'schemaVersion must look like "1.0" (major.minor)')
  .meta({ id: 'ManifestSchemaVersion', description: 'Any 1.x is accepted; this package writes 1.0.' });

/** `$schema` lets editors find the JSON Schema; it has no meaning to Outpost. */
const JsonSchemaRef = z.string().optional().describe('JSON Schema location, for editors.');

export const Manifest = z
  .strictObject({
    $schema: JsonSchemaRef,
    schemaVersion: SchemaVersion,
    modules: z.record(ModuleName, Module).default({}),
    routes: z.record(RouteName, Route).default({}),
    storeAndForward: StoreAndForward.prefault({}),
    agent: AgentSettings.prefault({}),
  })
  .meta({
    id: 'OutpostManifest',
    title: 'Outpost deployment manifest',
    description: 'What one device runs: modules, the routes between them and the cloud, and agent settings.',
  });
export type Manifest = z.infer<typeof Manifest>;
export type ManifestInput = z.input<typeof Manifest>;

export const Layer = z
  .strictObject({
    $schema: JsonSchemaRef,
    schemaVersion: SchemaVersion,
    modules: z.record(ModuleName, Module).optional().describe('Added, or replacing a module of the same name.'),
    routes: z.record(RouteName, Route).optional().describe('Added, or replacing a route of the same name.'),
    moduleDesiredProperties: z
      .record(ModuleName, JsonObject)
      .optional()
      .describe(
        "JSON merge patches (RFC 7386) applied to modules' desired properties; the module may come from the base " +
          'deployment or another layer.',
      ),
  })
  .meta({
    id: 'OutpostManifestLayer',
    title: 'Outpost deployment layer',
    description: 'A partial manifest that adds or overrides modules and routes of a base deployment.',
  });
export type Layer = z.infer<typeof Layer>;
export type LayerInput = z.input<typeof Layer>;
